#include "storage/knowledge_index.hpp"

#include <algorithm>
#include <cmath>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/IDSelector.h>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

namespace chatagent::storage {

namespace {

// BM25 parameters (the usual ones).
constexpr double k1 = 1.2;
constexpr double b = 0.75;

struct posting {
  int64_t id;
  uint32_t tf;
};

} // namespace

struct knowledge_index::impl {
  explicit impl(size_t d)
      : dimension(d), flat(static_cast<faiss::Index::idx_t>(d)), vectors(&flat) {}

  size_t dimension;
  faiss::IndexFlatIP flat;
  faiss::IndexIDMap2 vectors; // ids are the chunks'
  std::unordered_map<std::string, std::vector<posting>> postings;
  std::unordered_map<int64_t, uint32_t> lengths; // terms per chunk
  uint64_t total_length = 0;
  mutable std::shared_mutex lock;

  double idf(size_t df) const {
    auto n = static_cast<double>(lengths.size());
    return std::log(1.0 + (n - static_cast<double>(df) + 0.5) / (static_cast<double>(df) + 0.5));
  }
};

knowledge_index::knowledge_index(size_t dimension) : impl_(std::make_unique<impl>(dimension)) {}

knowledge_index::~knowledge_index() = default;

size_t knowledge_index::dimension() const noexcept {
  return impl_->dimension;
}

size_t knowledge_index::size() const {
  std::shared_lock guard{impl_->lock};
  return impl_->lengths.size();
}

void knowledge_index::add(std::vector<indexed_chunk> chunks) {
  if (chunks.empty())
    return;
  std::vector<float> data;
  std::vector<faiss::Index::idx_t> ids;
  data.reserve(chunks.size() * impl_->dimension);
  for (auto& c : chunks) {
    c.vector.resize(impl_->dimension, 0.0f);
    data.insert(data.end(), c.vector.begin(), c.vector.end());
    ids.push_back(c.id);
  }
  std::unique_lock guard{impl_->lock};
  impl_->vectors.add_with_ids(static_cast<faiss::Index::idx_t>(chunks.size()), data.data(),
                              ids.data());
  for (auto& c : chunks) {
    std::unordered_map<std::string_view, uint32_t> tf;
    for (auto& t : c.terms)
      ++tf[t];
    for (auto& [term, n] : tf)
      impl_->postings[std::string{term}].push_back({c.id, n});
    impl_->lengths[c.id] = static_cast<uint32_t>(c.terms.size());
    impl_->total_length += c.terms.size();
  }
}

void knowledge_index::remove(const std::vector<int64_t>& ids) {
  if (ids.empty())
    return;
  std::unordered_set<int64_t> gone(ids.begin(), ids.end());
  std::vector<faiss::Index::idx_t> faiss_ids(ids.begin(), ids.end());
  faiss::IDSelectorArray selector{faiss_ids.size(), faiss_ids.data()};
  std::unique_lock guard{impl_->lock};
  impl_->vectors.remove_ids(selector);
  for (auto id : ids)
    if (auto i = impl_->lengths.find(id); i != impl_->lengths.end()) {
      impl_->total_length -= i->second;
      impl_->lengths.erase(i);
    }
  for (auto i = impl_->postings.begin(); i != impl_->postings.end();) {
    std::erase_if(i->second, [&](const posting& p) { return gone.count(p.id) != 0; });
    if (i->second.empty())
      i = impl_->postings.erase(i);
    else
      ++i;
  }
}

std::vector<index_hit> knowledge_index::search(const std::vector<float>& query,
                                               const std::vector<std::string>& query_terms,
                                               size_t k, size_t candidates) const {
  candidates = std::max({candidates, k, size_t{1}});
  std::shared_lock guard{impl_->lock};
  auto& in = *impl_;
  std::unordered_map<int64_t, index_hit> hits;
  // Vector candidates.
  auto n = std::min<size_t>(candidates, static_cast<size_t>(in.vectors.ntotal));
  if (n > 0) {
    std::vector<float> q = query;
    q.resize(in.dimension, 0.0f);
    std::vector<float> distances(n);
    std::vector<faiss::Index::idx_t> labels(n);
    in.vectors.search(1, q.data(), static_cast<faiss::Index::idx_t>(n), distances.data(),
                      labels.data());
    for (size_t i = 0; i < n; ++i)
      if (labels[i] >= 0) {
        auto& h = hits[labels[i]];
        h.id = labels[i];
        h.vector_score = std::clamp(distances[i], 0.0f, 1.0f);
      }
  }
  // Term candidates: BM25 over the distinct query terms.
  if (!in.lengths.empty()) {
    std::vector<std::string> terms = query_terms;
    std::sort(terms.begin(), terms.end());
    terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
    double average = static_cast<double>(in.total_length) / static_cast<double>(in.lengths.size());
    double best_possible = 0;
    std::unordered_map<int64_t, double> bm25;
    for (auto& t : terms) {
      auto p = in.postings.find(t);
      // A term no chunk has would still be in a perfect match: it counts as the rarest.
      auto idf = in.idf(p == in.postings.end() ? 0 : p->second.size());
      best_possible += idf;
      if (p == in.postings.end())
        continue;
      for (auto& post : p->second) {
        auto len = static_cast<double>(in.lengths.at(post.id));
        auto tf = static_cast<double>(post.tf);
        bm25[post.id] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / average));
      }
    }
    if (best_possible > 0 && !bm25.empty()) {
      std::vector<std::pair<double, int64_t>> ranked;
      ranked.reserve(bm25.size());
      for (auto& [id, s] : bm25)
        ranked.emplace_back(s, id);
      auto top = std::min(candidates, ranked.size());
      std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(top),
                        ranked.end(), std::greater<>{});
      for (size_t i = 0; i < top; ++i) {
        auto& h = hits[ranked[i].second];
        h.id = ranked[i].second;
        h.lexical_score = static_cast<float>(std::min(1.0, ranked[i].first / best_possible));
      }
      // Vector candidates that also hold query terms get their lexical score too.
      for (auto& [id, h] : hits)
        if (h.lexical_score == 0)
          if (auto i = bm25.find(id); i != bm25.end())
            h.lexical_score = static_cast<float>(std::min(1.0, i->second / best_possible));
    }
  }
  std::vector<index_hit> out;
  out.reserve(hits.size());
  for (auto& [id, h] : hits) {
    h.score = std::max(h.vector_score, 0.4f * h.vector_score + 0.6f * h.lexical_score);
    out.push_back(h);
  }
  std::sort(out.begin(), out.end(), [](const index_hit& x, const index_hit& y) {
    return x.score != y.score ? x.score > y.score : x.id < y.id;
  });
  if (out.size() > k)
    out.resize(k);
  return out;
}

} // namespace chatagent::storage
