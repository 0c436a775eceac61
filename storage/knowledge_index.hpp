#pragma once

// The search index of one knowledge base: its chunks' vectors and terms (BM25), queried
// together. FAISS stays behind this header.

#include <cstdint>
#include <functional>
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

/// When the vector search stops being exhaustive.
struct index_options {
  /// From this many chunks on, vectors are also grouped into clusters (an inverted file:
  /// FAISS k-means centroids, built in the background) and a search scans only the
  /// clusters nearest to the query. 0: always exhaustive.
  size_t approximate_from = 50000;
  /// Clusters a search scans; 0 picks enough for a recall@10 ≥ 0.95 on typical text.
  size_t probes = 0;
  /// Build the clusters on a thread of the index's own (false: only `build_clusters()`
  /// builds them, for benchmarks and tests).
  bool background = true;
};

/// Inner-product search over normalized vectors plus an inverted index of terms.
///
/// Vectors are scored with a kernel of our own (vectorized for the CPU at run time):
/// every vector while the base is small; past `approximate_from` chunks, the chunks of the
/// clusters nearest to the query (a FAISS k-means quantizer assigns chunks to clusters).
/// The clusters are built on a background thread from a sample and rebuilt each time the
/// base has doubled; chunks added meanwhile are assigned to the current clusters as they
/// come. Candidates of the term index always get their exact vector score.
///
/// Thread-safe: searches share a lock; additions take it alone in batches of 512 chunks
/// (callers embed before they add), so searches never wait for an embedding and only
/// briefly for an addition; the cluster build holds it shared, then alone for a moment.
/// A removal marks chunks dead; once a quarter of the slots are dead they are compacted
/// away under the lock in one pass.
class knowledge_index {
 public:
  explicit knowledge_index(size_t dimension, index_options options = {});
  ~knowledge_index();
  knowledge_index(const knowledge_index&) = delete;
  knowledge_index& operator=(const knowledge_index&) = delete;

  size_t dimension() const noexcept;
  /// The number of chunks indexed.
  size_t size() const;
  /// Whether searches use clusters (else they are exhaustive).
  bool clustered() const;

  /// Adds chunks (each vector of `dimension()` floats; ids not yet in the index), visible
  /// to searches batch by batch.
  void add(std::vector<indexed_chunk> chunks);
  /// Removes chunks; unknown ids are ignored.
  void remove(const std::vector<int64_t>& ids);

  /// Builds (or rebuilds) the clusters now, on the calling thread, whatever the size.
  void build_clusters();
  /// Allows builds on the index's thread from now on (an index made with `background`
  /// false, e.g. while it is filled at start, so that it is clustered once, when full),
  /// and starts one if the index is large enough.
  void start_background_builds();

  /// The best `k` chunks for a query, best first: candidates from both the vector search
  /// and the term index, scored as `index_hit` says. `candidates` of each kind are looked
  /// at (at least `k`). Term candidates come from the rarest query terms, up to 100,000
  /// postings; the other terms add to the candidates' scores. `exhaustive` scores every
  /// vector even when clustered and takes candidates from every term. `accept`, when set,
  /// keeps only the chunks (by id) it accepts; the vector side then scores exactly the
  /// accepted chunks (clusters could miss a small filtered set).
  std::vector<index_hit> search(const std::vector<float>& query,
                                const std::vector<std::string>& query_terms, size_t k,
                                size_t candidates = 0, bool exhaustive = false,
                                const std::function<bool(int64_t)>& accept = {}) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace chatagent::storage
