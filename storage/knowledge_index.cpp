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

/// The inner product of two vectors of `d` floats, in eight independent lanes so that it
/// vectorizes without reassociating a single sum.
float dot(const float* a, const float* b, size_t d) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= d; i += 8)
    for (size_t j = 0; j < 8; ++j)
      acc[j] += a[i + j] * b[i + j];
  float sum = 0;
  for (; i < d; ++i)
    sum += a[i] * b[i];
  return sum + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/// Two characters of the CJK blocks (three-byte UTF-8 sequences led by E3..E9, or EA..ED
/// for Hangul).
bool is_cjk_pair(std::string_view t) {
  if (t.size() != 6)
    return false;
  for (size_t i : {size_t{0}, size_t{3}}) {
    auto lead = static_cast<unsigned char>(t[i]);
    if (lead < 0xE3 || lead > 0xED)
      return false;
  }
  return true;
}

struct posting {
  uint32_t slot; // the chunk's place in `impl::ids`
  uint32_t tf;
};

} // namespace

struct knowledge_index::impl {
  explicit impl(size_t d)
      : dimension(d), flat(static_cast<faiss::Index::idx_t>(d)), vectors(&flat) {}

  size_t dimension;
  faiss::IndexFlatIP flat;
  faiss::IndexIDMap2 vectors; // ids are the chunks'
  // The term index works on dense slots, so that scoring adds into an array.
  std::vector<int64_t> ids;      // slot -> chunk id, -1 once removed
  std::vector<uint32_t> lengths; // slot -> terms in the chunk
  std::unordered_map<int64_t, uint32_t> slot_of;
  std::unordered_map<std::string, std::vector<posting>> postings;
  uint64_t total_length = 0;
  mutable std::shared_mutex lock;

  size_t live() const { return slot_of.size(); }

  double idf(size_t df) const {
    auto n = static_cast<double>(live());
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
  return impl_->live();
}

void knowledge_index::add(std::vector<indexed_chunk> chunks) {
  // In batches, each under the lock alone, with everything that can be prepared outside
  // it: a large document never holds searches up for long (its chunks become visible
  // batch by batch, within a fraction of a second).
  constexpr size_t batch = 512;
  auto& in = *impl_;
  for (size_t first = 0; first < chunks.size(); first += batch) {
    auto last = std::min(chunks.size(), first + batch);
    std::vector<float> data;
    std::vector<faiss::Index::idx_t> ids;
    data.reserve((last - first) * in.dimension);
    std::vector<std::vector<std::pair<std::string, uint32_t>>> tfs(last - first);
    for (size_t i = first; i < last; ++i) {
      auto& c = chunks[i];
      c.vector.resize(in.dimension, 0.0f);
      data.insert(data.end(), c.vector.begin(), c.vector.end());
      ids.push_back(c.id);
      std::unordered_map<std::string_view, uint32_t> tf;
      for (auto& t : c.terms)
        ++tf[t];
      auto& out = tfs[i - first];
      out.reserve(tf.size());
      for (auto& [term, n] : tf)
        out.emplace_back(std::string{term}, n);
    }
    std::unique_lock guard{in.lock};
    in.vectors.add_with_ids(static_cast<faiss::Index::idx_t>(last - first), data.data(),
                            ids.data());
    for (size_t i = first; i < last; ++i) {
      auto& c = chunks[i];
      auto slot = static_cast<uint32_t>(in.ids.size());
      in.ids.push_back(c.id);
      in.lengths.push_back(static_cast<uint32_t>(c.terms.size()));
      in.slot_of[c.id] = slot;
      in.total_length += c.terms.size();
      for (auto& [term, n] : tfs[i - first])
        in.postings[term].push_back({slot, n});
    }
  }
}

void knowledge_index::remove(const std::vector<int64_t>& ids) {
  if (ids.empty())
    return;
  std::unordered_set<int64_t> gone(ids.begin(), ids.end());
  std::vector<faiss::Index::idx_t> faiss_ids(ids.begin(), ids.end());
  faiss::IDSelectorArray selector{faiss_ids.size(), faiss_ids.data()};
  std::unique_lock guard{impl_->lock};
  auto& in = *impl_;
  in.vectors.remove_ids(selector);
  std::unordered_set<uint32_t> slots;
  for (auto id : ids)
    if (auto i = in.slot_of.find(id); i != in.slot_of.end()) {
      slots.insert(i->second);
      in.total_length -= in.lengths[i->second];
      in.ids[i->second] = -1;
      in.slot_of.erase(i);
    }
  if (slots.empty())
    return;
  for (auto i = in.postings.begin(); i != in.postings.end();) {
    std::erase_if(i->second, [&](const posting& p) { return slots.count(p.slot) != 0; });
    if (i->second.empty())
      i = in.postings.erase(i);
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
  // Vector candidates: exact inner products over the flat index's vectors, with a kernel
  // the compiler vectorizes (Debian's FAISS is built for the baseline CPU, where its
  // inner product is a scalar loop).
  auto total = static_cast<size_t>(in.vectors.ntotal);
  auto n = std::min<size_t>(candidates, total);
  if (n > 0) {
    std::vector<float> q = query;
    q.resize(in.dimension, 0.0f);
    const float* xb = in.flat.get_xb();
    std::vector<std::pair<float, size_t>> scored(total);
    for (size_t i = 0; i < total; ++i)
      scored[i] = {dot(q.data(), xb + i * in.dimension, in.dimension), i};
    std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(n), scored.end(),
                      std::greater<>{});
    for (size_t i = 0; i < n; ++i) {
      auto id = in.vectors.id_map[scored[i].second];
      auto& h = hits[id];
      h.id = id;
      h.vector_score = std::clamp(scored[i].first, 0.0f, 1.0f);
    }
  }
  // Term candidates: BM25 over the distinct query terms. Rare terms are added up for
  // every chunk that has them, in a dense array; common ones (in more than 1 chunk of 20,
  // low weight, long lists) only for the candidates, by binary search in their lists.
  if (in.live() > 0) {
    std::vector<std::string> terms = query_terms;
    std::sort(terms.begin(), terms.end());
    terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
    double average = static_cast<double>(in.total_length) / static_cast<double>(in.live());
    auto weight = [&](double idf, const posting& post) {
      auto len = static_cast<double>(in.lengths[post.slot]);
      auto tf = static_cast<double>(post.tf);
      return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / average));
    };
    double best_possible = 0;
    std::vector<std::pair<const std::vector<posting>*, double>> rare;
    std::vector<std::pair<const std::vector<posting>*, double>> common;
    auto common_df = std::max<size_t>(1000, in.live() / 20);
    for (auto& t : terms) {
      auto p = in.postings.find(t);
      // A term no chunk has would still be in a perfect match: it counts as the rarest,
      // except a pair of CJK characters, which is as often two words' seam ("何配" of
      // "如何配置") as a word.
      if (p == in.postings.end()) {
        if (!is_cjk_pair(t))
          best_possible += in.idf(0);
        continue;
      }
      auto idf = in.idf(p->second.size());
      best_possible += idf;
      (p->second.size() > common_df ? common : rare).emplace_back(&p->second, idf);
    }
    if (rare.empty())
      rare.swap(common);
    thread_local std::vector<float> bm25;
    bm25.assign(in.ids.size(), 0.0f);
    std::vector<uint32_t> touched;
    for (auto& [list, idf] : rare)
      for (auto& post : *list) {
        if (bm25[post.slot] == 0.0f)
          touched.push_back(post.slot);
        bm25[post.slot] += static_cast<float>(weight(idf, post));
      }
    // The whole score of a chunk: its rare terms' sum plus its common terms.
    auto lexical = [&](uint32_t slot) {
      double sum = bm25[slot];
      for (auto& [list, idf] : common) {
        auto i = std::lower_bound(list->begin(), list->end(), slot,
                                  [](const posting& p, uint32_t s) { return p.slot < s; });
        if (i != list->end() && i->slot == slot)
          sum += weight(idf, *i);
      }
      return static_cast<float>(std::min(1.0, sum / best_possible));
    };
    if (best_possible > 0) {
      auto top = std::min(candidates, touched.size());
      std::partial_sort(touched.begin(), touched.begin() + static_cast<std::ptrdiff_t>(top),
                        touched.end(), [&](uint32_t x, uint32_t y) { return bm25[x] > bm25[y]; });
      for (size_t i = 0; i < top; ++i)
        hits[in.ids[touched[i]]].id = in.ids[touched[i]];
      for (auto& [id, h] : hits)
        if (auto i = in.slot_of.find(id); i != in.slot_of.end())
          h.lexical_score = lexical(i->second);
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
