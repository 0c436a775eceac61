#include "storage/knowledge_index.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <dlfcn.h>
#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <mutex>
#include <numeric>
#include <omp.h>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

namespace chatagent::storage {

namespace {

// BM25 parameters (the usual ones).
constexpr double k1 = 1.2;
constexpr double b = 0.75;

// Vectors live in blocks of this many, which never move: a block is filled, then the next
// one is allocated, so growing never copies the vectors already stored.
constexpr size_t block_slots = 4096;
// Chunks added under the exclusive lock at once.
constexpr size_t add_batch = 512;

using faiss_id = faiss::Index::idx_t;

// The scoring kernels are compiled twice, for the baseline x86-64 CPU and for AVX2/FMA
// (x86-64-v3), and the loader picks one for the machine: Debian builds everything for
// the baseline, where a 256-dimension inner product is several times slower.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CHATAGENT_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CHATAGENT_KERNEL
#endif

/// The inner product of `d` floats with `d` floats or 8-bit integers, in sixteen independent
/// lanes so that it vectorizes without reassociating a single sum.
template <class T>
[[gnu::always_inline]] inline float dot(const float* a, const T* b, size_t d) {
  float acc[16] = {};
  size_t i = 0;
  for (; i + 16 <= d; i += 16)
    for (size_t j = 0; j < 16; ++j)
      acc[j] += a[i + j] * static_cast<float>(b[i + j]);
  float sum = 0;
  for (; i < d; ++i)
    sum += a[i] * static_cast<float>(b[i]);
  for (size_t j = 0; j < 8; ++j)
    sum += acc[j] + acc[j + 8];
  return sum;
}

/// `out[i]` = q · x_i for `n` vectors stored one after the other.
CHATAGENT_KERNEL void dot_many(const float* q, const float* x, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i)
    out[i] = dot(q, x + i * d, d);
}

/// `out[i]` ≈ q · x_i for `n` vectors quantized to 8 bits (`codes`, one after the other,
/// x_i ≈ codes_i × scales[i]).
CHATAGENT_KERNEL void dot_codes(const float* q, const int8_t* codes, const float* scales, size_t n,
                                size_t d, float* out) {
  for (size_t i = 0; i < n; ++i)
    out[i] = dot(q, codes + i * d, d) * scales[i];
}

/// `out[i]` = q · (the vector of slot `slots[i]`), the vectors in blocks.
CHATAGENT_KERNEL void dot_slots(const float* q, const std::unique_ptr<float[]>* blocks,
                                const uint32_t* slots, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 < n) {
      auto next = slots[i + 1];
      const float* p = blocks[next / block_slots].get() + (next % block_slots) * d;
      for (size_t line = 0; line < d; line += 16)
        __builtin_prefetch(p + line);
    }
    auto s = slots[i];
    out[i] = dot(q, blocks[s / block_slots].get() + (s % block_slots) * d, d);
  }
}

/// The best `k` (score, slot) pairs offered, in a min-heap.
class top_scores {
 public:
  explicit top_scores(size_t k) : k_(k) { heap_.reserve(k + 1); }
  void offer(float score, uint32_t slot) {
    if (heap_.size() < k_) {
      heap_.emplace_back(score, slot);
      std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
    } else if (k_ > 0 && score > heap_.front().first) {
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
      heap_.back() = {score, slot};
      std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
    }
  }
  const std::vector<std::pair<float, uint32_t>>& items() const { return heap_; }

 private:
  size_t k_;
  std::vector<std::pair<float, uint32_t>> heap_;
};

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

/// A term in a chunk. The chunk's length is here too (not only in `impl::lengths`), so
/// that adding up a posting list reads nothing else.
struct posting {
  uint32_t slot;   // the chunk's place in `impl::ids`
  uint16_t tf;     // times the term is in the chunk (at most 65,535)
  uint16_t length; // terms in the chunk (at most 65,535)
};

uint16_t saturate16(size_t n) {
  return static_cast<uint16_t>(std::min<size_t>(n, UINT16_MAX));
}

/// One cluster's chunks: their slots, and their vectors quantized to 8 bits, one after the
/// other, for the scan (a quarter of the bytes of the vectors, read in order instead of
/// scattered over the blocks); the best are scored again from the vectors themselves.
struct cluster_list {
  std::vector<uint32_t> slots;
  std::vector<int8_t> codes; // `dimension` per slot
  std::vector<float> scales; // per slot: vector ≈ codes × scale

  void push(uint32_t slot, const float* v, size_t d) {
    float top = 0;
    for (size_t j = 0; j < d; ++j)
      top = std::max(top, std::abs(v[j]));
    auto scale = top / 127.0f;
    slots.push_back(slot);
    scales.push_back(scale);
    auto at = codes.size();
    codes.resize(at + d);
    for (size_t j = 0; j < d; ++j)
      codes[at + j] = scale > 0 ? static_cast<int8_t>(std::lround(v[j] / scale)) : int8_t{0};
  }

  /// Keeps the slots `keep` maps to a new number (renumbered), drops the others.
  template <class Keep>
  void filter(size_t d, Keep keep) {
    size_t out = 0;
    for (size_t i = 0; i < slots.size(); ++i) {
      auto next = keep(slots[i]);
      if (next == UINT32_MAX)
        continue;
      slots[out] = next;
      scales[out] = scales[i];
      if (out != i)
        std::memmove(codes.data() + out * d, codes.data() + i * d, d);
      ++out;
    }
    slots.resize(out);
    scales.resize(out);
    codes.resize(out * d);
  }
};

/// The clusters' centroids (normalized), in a FAISS flat index that assigns vectors to
/// their nearest centroid. Immutable once built.
struct centroid_set {
  explicit centroid_set(size_t d) : quantizer(static_cast<faiss_id>(d)) {}
  faiss::IndexFlatIP quantizer;
  size_t built_for = 0; // live chunks when built
};

/// FAISS's k-means and batch assignment multiply matrices with BLAS and gather results
/// with OpenMP; in the server both stay on the calling thread: the actors are the
/// parallelism, and idle OpenBLAS threads would spin in sched_yield after every call.
void single_threaded_math() {
  static std::once_flag once;
  std::call_once(once, [] {
    using setter = void (*)(int);
    if (auto set = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
      set(1);
  });
  omp_set_num_threads(1);
}

/// The nearest centroid of each of `n` vectors.
std::vector<uint32_t> assign(const centroid_set& c, const float* x, size_t n, size_t d) {
  std::vector<uint32_t> out(n);
  auto nlist = static_cast<size_t>(c.quantizer.ntotal);
  if (n >= 32) {
    // FAISS multiplies the matrices with BLAS.
    single_threaded_math();
    std::vector<float> score(n);
    std::vector<faiss_id> label(n);
    c.quantizer.search(static_cast<faiss_id>(n), x, 1, score.data(), label.data());
    for (size_t i = 0; i < n; ++i)
      out[i] = static_cast<uint32_t>(std::max<faiss_id>(0, label[i]));
    return out;
  }
  std::vector<float> score(nlist);
  for (size_t i = 0; i < n; ++i) {
    dot_many(x + i * d, c.quantizer.get_xb(), nlist, d, score.data());
    out[i] = static_cast<uint32_t>(std::max_element(score.begin(), score.end()) - score.begin());
  }
  return out;
}

/// How many clusters for `live` chunks: about 2·√n (a few hundred chunks each at a
/// million), with at least 40 sample points per cluster.
size_t cluster_count(size_t live) {
  auto n = static_cast<size_t>(2.0 * std::sqrt(static_cast<double>(live)));
  return std::clamp<size_t>(n, 1, std::max<size_t>(1, live / 40));
}

} // namespace

struct knowledge_index::impl {
  impl(size_t d, index_options o) : dimension(d), options(o), background(o.background) {}

  size_t dimension;
  index_options options;

  // Vectors by slot, in blocks; terms by slot, as postings.
  std::vector<std::unique_ptr<float[]>> blocks;
  size_t slots = 0;
  std::vector<int64_t> ids; // slot -> chunk id, -1 once removed
  // Bit `s` set: slot `s` was removed. What searches test for every slot they score: a
  // bit per slot stays in the cache where `ids` (8 bytes per slot) would not.
  std::vector<uint64_t> removed;
  std::vector<uint32_t> lengths; // slot -> terms in the chunk
  std::unordered_map<int64_t, uint32_t> slot_of;
  std::unordered_map<std::string, std::vector<posting>> postings; // sorted by slot
  uint64_t total_length = 0;
  size_t dead = 0;         // removed slots still taking room
  uint64_t generation = 0; // bumped when slots are renumbered

  // The clusters, once built: each centroid's chunks (slots and 8-bit vectors).
  std::shared_ptr<const centroid_set> centroids;
  std::vector<cluster_list> lists;

  mutable std::shared_mutex lock;

  // The background build: one at a time.
  std::mutex build_lock;
  std::mutex thread_lock;
  std::thread builder;
  std::atomic<bool> background{false}; // builds on the index's thread allowed
  std::atomic<bool> building{false};
  std::atomic<bool> stopping{false};

  size_t live() const { return slot_of.size(); }

  bool is_removed(uint32_t slot) const { return (removed[slot / 64] >> (slot % 64)) & 1U; }

  const float* vec(size_t slot) const {
    return blocks[slot / block_slots].get() + (slot % block_slots) * dimension;
  }

  double idf(size_t df) const {
    auto n = static_cast<double>(live());
    return std::log(1.0 + (n - static_cast<double>(df) + 0.5) / (static_cast<double>(df) + 0.5));
  }

  /// Stores a vector in the next slot (exclusive lock held).
  uint32_t push_vector(const float* v) {
    if (slots / block_slots == blocks.size())
      blocks.push_back(std::make_unique_for_overwrite<float[]>(block_slots * dimension));
    auto slot = static_cast<uint32_t>(slots++);
    if (slot % 64 == 0)
      removed.push_back(0);
    std::memcpy(blocks[slot / block_slots].get() + (slot % block_slots) * dimension, v,
                dimension * sizeof(float));
    return slot;
  }

  /// Assigns slots [from, to) to `c`'s clusters (a lock held), skipping removed ones.
  void assign_slots(const centroid_set& c, size_t from, size_t to,
                    std::vector<cluster_list>& into) const {
    while (from < to) {
      auto end = std::min(to, (from / block_slots + 1) * block_slots);
      auto labels = assign(c, vec(from), end - from, dimension);
      for (size_t i = 0; i < labels.size(); ++i)
        if (ids[from + i] >= 0)
          into[labels[i]].push(static_cast<uint32_t>(from + i), vec(from + i), dimension);
      from = end;
    }
  }

  /// Drops removed slots and renumbers the others (exclusive lock held). Numbers only go
  /// down and keep their order, so posting lists stay sorted.
  void compact() {
    std::vector<uint32_t> renumber(slots, UINT32_MAX);
    uint32_t next = 0;
    for (size_t s = 0; s < slots; ++s) {
      if (ids[s] < 0)
        continue;
      renumber[s] = next;
      if (next != s) {
        std::memcpy(blocks[next / block_slots].get() + (next % block_slots) * dimension, vec(s),
                    dimension * sizeof(float));
        ids[next] = ids[s];
        lengths[next] = lengths[s];
      }
      slot_of[ids[next]] = next;
      ++next;
    }
    slots = next;
    ids.resize(next);
    removed.assign((next + 63) / 64, 0);
    lengths.resize(next);
    blocks.resize((next + block_slots - 1) / block_slots);
    for (auto i = postings.begin(); i != postings.end();) {
      auto& list = i->second;
      size_t out = 0;
      for (auto& p : list)
        if (renumber[p.slot] != UINT32_MAX)
          list[out++] = {renumber[p.slot], p.tf, p.length};
      list.resize(out);
      if (list.empty())
        i = postings.erase(i);
      else
        ++i;
    }
    for (auto& list : lists)
      list.filter(dimension, [&](uint32_t s) { return renumber[s]; });
    dead = 0;
    ++generation;
    if (options.approximate_from > 0 && live() < options.approximate_from / 2) {
      centroids.reset();
      lists.clear();
    }
  }

  /// Trains clusters on a sample, assigns every chunk, then swaps them in. Returns false
  /// when there were too few chunks, or slots were renumbered meanwhile (try again).
  bool build();

  /// Starts a background build when the base has grown past the threshold, or has doubled
  /// since the last build.
  void maybe_build() {
    if (!background || options.approximate_from == 0 || building.load())
      return;
    {
      std::shared_lock guard{lock};
      if (live() < options.approximate_from || (centroids && live() < 2 * centroids->built_for))
        return;
    }
    bool expected = false;
    if (!building.compare_exchange_strong(expected, true))
      return;
    std::lock_guard guard{thread_lock};
    if (builder.joinable())
      builder.join(); // the previous build, which has finished
    builder = std::thread{[this] {
      try {
        build();
      } catch (const std::exception& e) {
        spdlog::error("knowledge index: building the clusters failed: {}", e.what());
      }
      building = false;
    }};
  }
};

bool knowledge_index::impl::build() {
  std::lock_guard one{build_lock};
  single_threaded_math();
  auto started = std::chrono::steady_clock::now();
  size_t nlist = 0;
  size_t live_then = 0;
  uint64_t gen = 0;
  std::vector<float> sample;
  size_t samples = 0;
  {
    std::shared_lock guard{lock};
    live_then = live();
    nlist = cluster_count(live_then);
    if (live_then < 80 || nlist < 2)
      return false;
    gen = generation;
    std::vector<uint32_t> alive;
    alive.reserve(live_then);
    for (size_t s = 0; s < slots; ++s)
      if (ids[s] >= 0)
        alive.push_back(static_cast<uint32_t>(s));
    // A sample of 64 chunks per cluster (k-means gains little from more).
    samples = std::min(alive.size(), nlist * 64);
    std::mt19937_64 rng{alive.size()};
    for (size_t i = 0; i < samples; ++i)
      std::swap(alive[i], alive[i + rng() % (alive.size() - i)]);
    sample.resize(samples * dimension);
    for (size_t i = 0; i < samples; ++i)
      std::memcpy(sample.data() + i * dimension, vec(alive[i]), dimension * sizeof(float));
  }
  auto next = std::make_shared<centroid_set>(dimension);
  faiss::ClusteringParameters params;
  params.niter = 1;
  params.spherical = true;
  params.seed = 1234;
  params.max_points_per_centroid = 64;
  faiss::Clustering kmeans{static_cast<int>(dimension), static_cast<int>(nlist), params};
  // Twelve iterations, one call each (a call starts from the centroids the last one left):
  // an index being destroyed waits for one iteration at most, not for the whole k-means.
  for (int iteration = 0; iteration < 12; ++iteration) {
    if (stopping)
      return false;
    kmeans.train(static_cast<faiss_id>(samples), sample.data(), next->quantizer);
  }
  sample = {};
  next->built_for = live_then;
  auto trained = std::chrono::steady_clock::now();

  // Every chunk to its cluster, a block at a time under the shared lock; then, with the
  // lock alone, the few added meanwhile, and the swap.
  std::vector<cluster_list> into(nlist);
  size_t done = 0;
  for (;;) {
    if (stopping)
      return false;
    std::shared_lock guard{lock};
    if (generation != gen)
      return false;
    if (slots - done <= 256)
      break;
    auto end = std::min(slots, done + block_slots);
    assign_slots(*next, done, end, into);
    done = end;
  }
  for (auto& list : into) { // grown by doubling: up to twice the room
    list.codes.shrink_to_fit();
    list.scales.shrink_to_fit();
    list.slots.shrink_to_fit();
  }
  std::unique_lock guard{lock};
  if (generation != gen)
    return false;
  assign_slots(*next, done, slots, into);
  centroids = std::move(next);
  lists = std::move(into);
  guard.unlock();
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  spdlog::info("knowledge index: {} chunks in {} clusters (k-means on {} in {:.0f} ms, "
               "assignment {:.0f} ms)",
               live_then, nlist, samples, ms(trained - started),
               ms(std::chrono::steady_clock::now() - trained));
  return true;
}

knowledge_index::knowledge_index(size_t dimension, index_options options)
    : impl_(std::make_unique<impl>(dimension, options)) {}

knowledge_index::~knowledge_index() {
  impl_->stopping = true;
  std::lock_guard guard{impl_->thread_lock};
  if (impl_->builder.joinable())
    impl_->builder.join();
}

size_t knowledge_index::dimension() const noexcept {
  return impl_->dimension;
}

size_t knowledge_index::size() const {
  std::shared_lock guard{impl_->lock};
  return impl_->live();
}

bool knowledge_index::clustered() const {
  std::shared_lock guard{impl_->lock};
  return impl_->centroids != nullptr;
}

void knowledge_index::build_clusters() {
  impl_->build();
}

void knowledge_index::start_background_builds() {
  impl_->background = true;
  impl_->maybe_build();
}

void knowledge_index::add(std::vector<indexed_chunk> chunks) {
  // In batches, each under the lock alone, with everything that can be prepared outside
  // it (terms counted, clusters chosen): a large document never holds searches up for
  // long (its chunks become visible batch by batch, within a fraction of a second).
  auto& in = *impl_;
  auto d = in.dimension;
  for (size_t first = 0; first < chunks.size(); first += add_batch) {
    auto last = std::min(chunks.size(), first + add_batch);
    auto n = last - first;
    std::vector<float> data(n * d, 0.0f);
    std::vector<std::vector<std::pair<std::string, uint32_t>>> tfs(n);
    for (size_t i = 0; i < n; ++i) {
      auto& c = chunks[first + i];
      std::copy_n(c.vector.begin(), std::min(d, c.vector.size()), data.begin() + i * d);
      std::unordered_map<std::string_view, uint32_t> tf;
      for (auto& t : c.terms)
        ++tf[t];
      auto& out = tfs[i];
      out.reserve(tf.size());
      for (auto& [term, count] : tf)
        out.emplace_back(std::string{term}, count);
    }
    std::shared_ptr<const centroid_set> clusters;
    {
      std::shared_lock guard{in.lock};
      clusters = in.centroids;
    }
    std::vector<uint32_t> labels;
    if (clusters)
      labels = assign(*clusters, data.data(), n, d);
    std::unique_lock guard{in.lock};
    if (in.centroids && in.centroids != clusters) // rebuilt meanwhile
      labels = assign(*in.centroids, data.data(), n, d);
    for (size_t i = 0; i < n; ++i) {
      auto& c = chunks[first + i];
      auto slot = in.push_vector(data.data() + i * d);
      in.ids.push_back(c.id);
      in.lengths.push_back(static_cast<uint32_t>(c.terms.size()));
      in.slot_of[c.id] = slot;
      in.total_length += c.terms.size();
      for (auto& [term, count] : tfs[i])
        in.postings[term].push_back({slot, saturate16(count), saturate16(c.terms.size())});
      if (in.centroids)
        in.lists[labels[i]].push(slot, data.data() + i * d, d);
    }
  }
  in.maybe_build();
}

void knowledge_index::remove(const std::vector<int64_t>& ids) {
  if (ids.empty())
    return;
  std::unique_lock guard{impl_->lock};
  auto& in = *impl_;
  for (auto id : ids)
    if (auto i = in.slot_of.find(id); i != in.slot_of.end()) {
      in.total_length -= in.lengths[i->second];
      in.ids[i->second] = -1;
      in.removed[i->second / 64] |= uint64_t{1} << (i->second % 64);
      in.slot_of.erase(i);
      ++in.dead;
    }
  if (in.dead >= std::max<size_t>(1024, in.slots / 4))
    in.compact();
}

std::vector<index_hit> knowledge_index::search(const std::vector<float>& query,
                                               const std::vector<std::string>& query_terms,
                                               size_t k, size_t candidates, bool exhaustive,
                                               const std::function<bool(int64_t)>& accept) const {
  candidates = std::max({candidates, k, size_t{1}});
  std::shared_lock guard{impl_->lock};
  auto& in = *impl_;
  if (in.live() == 0)
    return {};
  auto d = in.dimension;
  std::vector<float> q = query;
  q.resize(d, 0.0f);
  // slot -> hit; vector scores below are exact inner products.
  std::unordered_map<uint32_t, index_hit> hits;
  std::vector<float> scores;

  // Vector candidates: every vector, or those of the clusters nearest to the query.
  top_scores best{candidates};
  if (accept) {
    for (size_t slot = 0; slot < in.slots; ++slot) {
      if (in.ids[slot] < 0 || !accept(in.ids[slot]))
        continue;
      float v = 0;
      dot_many(q.data(), in.vec(slot), 1, d, &v);
      best.offer(v, static_cast<uint32_t>(slot));
    }
  } else if (in.centroids && !exhaustive) {
    auto& quantizer = in.centroids->quantizer;
    auto nlist = static_cast<size_t>(quantizer.ntotal);
    scores.resize(nlist);
    dot_many(q.data(), quantizer.get_xb(), nlist, d, scores.data());
    // By default 1 cluster in 128, at least 16: 1.6% of a million chunks.
    auto probes =
        in.options.probes > 0 ? in.options.probes : std::max<size_t>(16, (nlist + 127) / 128);
    probes = std::min(probes, nlist);
    std::vector<uint32_t> order(nlist);
    std::iota(order.begin(), order.end(), 0u);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(probes),
                      order.end(), [&](uint32_t x, uint32_t y) { return scores[x] > scores[y]; });
    // The quantized vectors of the probed clusters pick twice the candidates, which are
    // then scored from the vectors themselves (the quantized scores are off by ~0.001).
    top_scores rough{2 * candidates};
    std::vector<float> list_scores;
    for (size_t p = 0; p < probes; ++p) {
      auto& list = in.lists[order[p]];
      list_scores.resize(list.slots.size());
      dot_codes(q.data(), list.codes.data(), list.scales.data(), list.slots.size(), d,
                list_scores.data());
      for (size_t i = 0; i < list.slots.size(); ++i)
        if (!in.is_removed(list.slots[i]))
          rough.offer(list_scores[i], list.slots[i]);
    }
    std::vector<uint32_t> picked;
    for (auto& [score, slot] : rough.items())
      picked.push_back(slot);
    list_scores.resize(picked.size());
    dot_slots(q.data(), in.blocks.data(), picked.data(), picked.size(), d, list_scores.data());
    for (size_t i = 0; i < picked.size(); ++i)
      best.offer(list_scores[i], picked[i]);
  } else {
    scores.resize(block_slots);
    for (size_t first = 0; first < in.slots; first += block_slots) {
      auto n = std::min(block_slots, in.slots - first);
      dot_many(q.data(), in.vec(first), n, d, scores.data());
      for (size_t i = 0; i < n; ++i)
        if (in.ids[first + i] >= 0)
          best.offer(scores[i], static_cast<uint32_t>(first + i));
    }
  }
  for (auto& [score, slot] : best.items())
    hits[slot].vector_score = std::clamp(score, 0.0f, 1.0f);

  // Term candidates: BM25 over the distinct query terms. Rare terms are added up for
  // every chunk that has them (their lists merged); common ones (in more than 1 chunk of
  // 20, low weight, long lists) only for the candidates, by binary search in their lists.
  std::vector<std::string> terms = query_terms;
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  double average = static_cast<double>(in.total_length) / static_cast<double>(in.live());
  auto weight = [&](double idf, const posting& post) {
    auto len = static_cast<double>(post.length);
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
  // The rarest terms first; past a budget of postings (unless exhaustive), the rest only
  // score candidates, as common terms do: candidates come from the most telling terms.
  std::sort(rare.begin(), rare.end(),
            [](auto& x, auto& y) { return x.first->size() < y.first->size(); });
  if (!exhaustive) {
    constexpr size_t budget = 100000;
    size_t used = 0;
    size_t kept = 0;
    for (; kept < rare.size(); ++kept) {
      if (kept > 0 && used + rare[kept].first->size() > budget)
        break;
      used += rare[kept].first->size();
    }
    common.insert(common.end(), rare.begin() + static_cast<std::ptrdiff_t>(kept), rare.end());
    rare.resize(kept);
  }
  if (best_possible > 0) {
    // The rare terms' lists (each sorted by slot) merged in slot order: a chunk's sum is
    // whole once the merge is past its slot, so the best sums are kept as they come. Each
    // list is read once, in order; a sum per chunk added up in a dense array instead
    // touches it at random, a cache miss per posting at a million chunks.
    struct cursor {
      const posting* at;
      const posting* end;
      double idf;
    };
    std::vector<cursor> cursors;
    for (auto& [list, idf] : rare)
      if (!list->empty())
        cursors.push_back({list->data(), list->data() + list->size(), idf});
    std::vector<std::pair<uint32_t, uint32_t>> heap; // (slot, cursor), the lowest slot first
    for (uint32_t i = 0; i < cursors.size(); ++i)
      heap.emplace_back(cursors[i].at->slot, i);
    std::make_heap(heap.begin(), heap.end(), std::greater<>{});
    top_scores lexical{candidates};
    auto offer = [&](uint32_t slot, double sum) {
      if (!in.is_removed(slot) && (!accept || accept(in.ids[slot])))
        lexical.offer(static_cast<float>(sum), slot);
    };
    while (heap.size() > 1) {
      auto slot = heap.front().first;
      double sum = 0;
      while (!heap.empty() && heap.front().first == slot) {
        std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
        auto& c = cursors[heap.back().second];
        sum += weight(c.idf, *c.at);
        if (++c.at != c.end) {
          heap.back().first = c.at->slot;
          std::push_heap(heap.begin(), heap.end(), std::greater<>{});
        } else {
          heap.pop_back();
        }
      }
      offer(slot, sum);
    }
    if (!heap.empty()) // the last list alone
      for (auto& c = cursors[heap.front().second]; c.at != c.end; ++c.at)
        offer(c.at->slot, weight(c.idf, *c.at));
    // Lexical candidates the vector search did not bring get their exact vector score.
    std::unordered_map<uint32_t, float> rare_sum;
    for (auto& [sum, slot] : lexical.items()) {
      rare_sum.emplace(slot, sum);
      if (auto [h, fresh] = hits.try_emplace(slot); fresh) {
        float v = 0;
        dot_many(q.data(), in.vec(slot), 1, d, &v);
        h->second.vector_score = std::clamp(v, 0.0f, 1.0f);
      }
    }
    // The whole score of a chunk: its rare terms plus its common terms; the rare ones
    // looked up like the common ones for a chunk that only the vectors brought.
    auto term_weight = [&](const std::vector<posting>& list, double idf, uint32_t slot) {
      auto i = std::lower_bound(list.begin(), list.end(), slot,
                                [](const posting& p, uint32_t s) { return p.slot < s; });
      return i != list.end() && i->slot == slot ? weight(idf, *i) : 0.0;
    };
    for (auto& [slot, h] : hits) {
      double sum = 0;
      if (auto i = rare_sum.find(slot); i != rare_sum.end())
        sum = i->second;
      else
        for (auto& [list, idf] : rare)
          sum += term_weight(*list, idf, slot);
      for (auto& [list, idf] : common)
        sum += term_weight(*list, idf, slot);
      h.lexical_score = static_cast<float>(std::min(1.0, sum / best_possible));
    }
  }
  std::vector<index_hit> out;
  out.reserve(hits.size());
  for (auto& [slot, h] : hits) {
    h.id = in.ids[slot];
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
