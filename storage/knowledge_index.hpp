#pragma once

// The search index of one knowledge base: its chunks' vectors (FAISS) and terms (BM25),
// queried together. FAISS stays behind this header.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace chatagent::storage {

/// A chunk as the index sees it: its id, its embedding (L2-normalized) and its terms.
struct indexed_chunk {
  int64_t id = 0;
  std::vector<float> vector;
  std::vector<std::string> terms;
};

/// One match: `vector_score` is the cosine similarity clamped to [0, 1]; `lexical_score`
/// the BM25 score as a share of what a chunk holding every query term would get, in
/// [0, 1]; `score` = max(vector, 0.4 · vector + 0.6 · lexical), so exact words lift a
/// match and a paraphrase still counts on its meaning alone.
struct index_hit {
  int64_t id = 0;
  float vector_score = 0;
  float lexical_score = 0;
  float score = 0;
};

/// Exact inner-product search over normalized vectors plus an inverted index of terms.
/// Thread-safe: searches share a lock; additions take it alone in batches of 512 chunks
/// (callers embed before they add), so searches never wait for an embedding and only
/// briefly for an addition. A removal takes it alone for one pass over the term index.
class knowledge_index {
 public:
  explicit knowledge_index(size_t dimension);
  ~knowledge_index();
  knowledge_index(const knowledge_index&) = delete;
  knowledge_index& operator=(const knowledge_index&) = delete;

  size_t dimension() const noexcept;
  /// The number of chunks indexed.
  size_t size() const;

  /// Adds chunks (each vector of `dimension()` floats; ids not yet in the index), visible
  /// to searches batch by batch.
  void add(std::vector<indexed_chunk> chunks);
  /// Removes chunks; unknown ids are ignored.
  void remove(const std::vector<int64_t>& ids);

  /// The best `k` chunks for a query, best first: candidates from both the vector search
  /// and the term index, scored as `index_hit` says. `candidates` of each kind are looked
  /// at (at least `k`).
  std::vector<index_hit> search(const std::vector<float>& query,
                                const std::vector<std::string>& query_terms, size_t k,
                                size_t candidates = 0) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace chatagent::storage
