// Knowledge base figures (issue 4): ingestion chunks/s with the built-in local embedder,
// and search latency over generated bases, end to end in the process (embed the query,
// vector search, BM25, merge) as a search worker runs it.
//
//   knowledge_bench [chunks...]          e.g. knowledge_bench 10000 100000
//   knowledge_bench --text CHUNKS        prints a document of about CHUNKS chunks of 600
//                                        characters (for benchmarks/run-ingest.sh)
//
// For each size: generates that many chunks of ~600 characters (English words and
// Chinese characters drawn from fixed vocabularies with a Zipf-like skew, seeded, so runs
// compare), measures chunking+embedding+terms (ingestion, without RocksDB), adding to the
// index, then 300 queries (three to eight words taken from random chunks): p50, p99 and
// max latency, and how often the chunk a query came from is in its top 10.
// Output: Markdown for docs/benchmarks.md.

#include "actors/local_embedder.hpp"
#include "actors/text_chunker.hpp"
#include "actors/text_terms.hpp"
#include "storage/knowledge_index.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace chatagent;
using clk = std::chrono::steady_clock;

namespace {

std::vector<std::string> make_vocabulary(std::mt19937_64& rng) {
  static const char* syllables[] = {"ka",  "lo", "mi",  "ren", "sto", "va",  "qui", "tor", "bel",
                                    "dan", "fu", "gri", "hel", "jun", "mar", "nex", "pol", "ser"};
  static const char* han[] = {"机", "器", "人", "配", "置", "知", "识", "库", "模", "型",
                              "平", "台", "用", "户", "消", "息", "退", "款", "订", "单",
                              "系", "统", "安", "装", "网", "页", "服", "务", "数", "据"};
  std::vector<std::string> words;
  for (int i = 0; i < 6000; ++i) {
    std::string w;
    auto n = 2 + rng() % 3;
    for (size_t k = 0; k < n; ++k)
      w += syllables[rng() % std::size(syllables)];
    words.push_back(w);
  }
  for (int i = 0; i < 1500; ++i)
    words.push_back(std::string{han[rng() % std::size(han)]} + han[rng() % std::size(han)]);
  return words;
}

std::string make_text(std::mt19937_64& rng, const std::vector<std::string>& vocab, size_t chars) {
  std::string t;
  // Skewed: common words often, rare words rarely, as in real text.
  std::uniform_real_distribution<double> u(0, 1);
  while (t.size() < chars) {
    auto i = static_cast<size_t>(std::pow(u(rng), 2.5) * static_cast<double>(vocab.size()));
    t += vocab[std::min(i, vocab.size() - 1)];
    t += rng() % 12 == 0 ? ". " : " ";
  }
  return t;
}

double ms(clk::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string{argv[1]} == "--text") {
    std::mt19937_64 rng{7};
    auto vocab = make_vocabulary(rng);
    auto chunks = static_cast<size_t>(std::atoll(argv[2]));
    for (size_t i = 0; i < chunks; i += 20)
      std::printf("%s\n\n", make_text(rng, vocab, 20 * 560).c_str());
    return 0;
  }
  std::vector<size_t> sizes;
  for (int i = 1; i < argc; ++i)
    sizes.push_back(static_cast<size_t>(std::atoll(argv[i])));
  if (sizes.empty())
    sizes = {10000, 100000};
  std::mt19937_64 rng{42};
  auto vocab = make_vocabulary(rng);
  std::printf("| chunks | ingestion (chunk + embed + terms) | index add | search p50 | p99 | max | "
              "source in top 10 |\n|---|---|---|---|---|---|---|\n");
  for (auto n : sizes) {
    // Documents of ~20 chunks each, chunked as a base with chunk_size 600 would.
    std::vector<std::string> docs;
    for (size_t made = 0; made < n; made += 20)
      docs.push_back(make_text(rng, vocab, 20 * 560));
    std::vector<storage::indexed_chunk> chunks;
    std::vector<std::string> texts;
    chunks.reserve(n + 32);
    auto t0 = clk::now();
    for (auto& d : docs) {
      for (auto& c : actors::chunk_text(d, 600, 60)) {
        if (chunks.size() >= n)
          break;
        storage::indexed_chunk x;
        x.id = static_cast<int64_t>(chunks.size());
        x.vector = actors::local_embed(c.text);
        for (auto& term : actors::text_terms(c.text))
          x.terms.push_back(std::move(term.text));
        texts.push_back(std::move(c.text));
        chunks.push_back(std::move(x));
      }
    }
    auto t1 = clk::now();
    auto count = chunks.size();
    storage::knowledge_index index{actors::local_embedding_dimension};
    index.add(std::move(chunks));
    auto t2 = clk::now();

    std::vector<double> lat;
    int found = 0;
    const int queries = 300;
    for (int q = 0; q < queries; ++q) {
      auto src = static_cast<size_t>(rng() % count);
      // A few consecutive words of the source chunk.
      auto& text = texts[src];
      auto start =
          text.find(' ', static_cast<size_t>(rng() % std::max<size_t>(1, text.size() / 2)));
      std::string query;
      size_t words = 3 + rng() % 6;
      for (size_t w = 0, p = start == std::string::npos ? 0 : start + 1;
           w < words && p < text.size(); ++w) {
        auto e = text.find(' ', p);
        query += text.substr(p, e == std::string::npos ? std::string::npos : e - p + 1);
        if (e == std::string::npos)
          break;
        p = e + 1;
      }
      auto s0 = clk::now();
      auto hits = index.search(
          actors::local_embed(query),
          [&] {
            std::vector<std::string> t;
            for (auto& term : actors::text_terms(query))
              t.push_back(std::move(term.text));
            return t;
          }(),
          10, 50);
      lat.push_back(ms(clk::now() - s0));
      found += std::any_of(hits.begin(), hits.end(),
                           [&](auto& h) { return h.id == static_cast<int64_t>(src); })
                   ? 1
                   : 0;
    }
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) { return lat[static_cast<size_t>(p * (lat.size() - 1))]; };
    std::printf("| %zu | %.0f chunks/s | %.0f ms | %.2f ms | %.2f ms | %.2f ms | %.0f%% |\n", count,
                static_cast<double>(count) / (ms(t1 - t0) / 1000.0), ms(t2 - t1), pct(0.5),
                pct(0.99), lat.back(), 100.0 * found / queries);
    std::fflush(stdout);
  }
}
