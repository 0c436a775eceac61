#include "actors/local_embedder.hpp"

#include "actors/text_terms.hpp"

#include <cmath>
#include <cstdint>
#include <unordered_map>

namespace chatagent::actors {

namespace {

uint64_t fnv1a(std::string_view s, uint64_t seed) {
  uint64_t h = 14695981039346656037ULL ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  // Final mix (splitmix64): FNV's low bits alone spread short keys poorly.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

constexpr float word_weight = 1.0f;
constexpr float trigram_weight = 0.3f;
constexpr float cjk_char_weight = 0.5f;
constexpr float cjk_pair_weight = 1.0f;

} // namespace

std::vector<float> local_embed(std::string_view text) {
  // Feature hash -> (weight, count).
  std::unordered_map<uint64_t, std::pair<float, int>> features;
  auto add = [&](std::string_view key, uint64_t seed, float weight) {
    auto& f = features[fnv1a(key, seed)];
    f.first = weight;
    ++f.second;
  };
  for (auto& t : text_terms(text)) {
    switch (t.kind) {
    case text_term::word:
      add(t.text, 1, word_weight);
      if (t.text.size() >= 4) {
        std::string padded = "<" + t.text + ">";
        for (size_t i = 0; i + 3 <= padded.size(); ++i)
          add(std::string_view{padded}.substr(i, 3), 2, trigram_weight);
      }
      break;
    case text_term::cjk_char:
      add(t.text, 3, cjk_char_weight);
      break;
    case text_term::cjk_pair:
      add(t.text, 4, cjk_pair_weight);
      break;
    }
  }
  std::vector<float> v(local_embedding_dimension, 0.0f);
  for (auto& [h, f] : features) {
    auto w = f.first * (1.0f + std::log(static_cast<float>(f.second)));
    auto bucket = static_cast<size_t>(h % local_embedding_dimension);
    v[bucket] += (h >> 63) != 0U ? -w : w;
  }
  double norm = 0;
  for (auto x : v)
    norm += static_cast<double>(x) * x;
  if (norm > 0) {
    auto inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (auto& x : v)
      x *= inv;
  }
  return v;
}

} // namespace chatagent::actors
