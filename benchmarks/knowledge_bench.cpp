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

/// A document's subject: words it uses far more than text in general does.
using topic = std::vector<std::string>;

std::vector<topic> make_topics(std::mt19937_64& rng, const std::vector<std::string>& vocab,
                               size_t count) {
  std::vector<topic> out(count);
  for (auto& t : out)
    for (int i = 0; i < 150; ++i)
      t.push_back(vocab[rng() % vocab.size()]);
  return out;
}

/// About `chars` bytes of text: words drawn with a Zipf-like skew (common words often, rare
/// words rarely, as in real text) and, when there is a topic, 35% of them from its words.
std::string make_text(std::mt19937_64& rng, const std::vector<std::string>& vocab, size_t chars,
                      const topic* subject = nullptr) {
  std::string t;
  std::uniform_real_distribution<double> u(0, 1);
  while (t.size() < chars) {
    if (subject != nullptr && u(rng) < 0.35) {
      t += (*subject)[rng() % subject->size()];
    } else {
      auto i = static_cast<size_t>(std::pow(u(rng), 2.5) * static_cast<double>(vocab.size()));
      t += vocab[std::min(i, vocab.size() - 1)];
    }
    t += rng() % 12 == 0 ? ". " : " ";
  }
  return t;
}

double ms(clk::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

std::vector<std::string> terms_of(const std::string& text) {
  std::vector<std::string> t;
  for (auto& term : actors::text_terms(text))
    t.push_back(std::move(term.text));
  return t;
}

/// Three to eight consecutive words of a chunk.
std::string make_query(std::mt19937_64& rng, const std::string& text) {
  auto start = text.find(' ', static_cast<size_t>(rng() % std::max<size_t>(1, text.size() / 2)));
  std::string query;
  size_t words = 3 + rng() % 6;
  for (size_t w = 0, p = start == std::string::npos ? 0 : start + 1; w < words && p < text.size();
       ++w) {
    auto e = text.find(' ', p);
    query += text.substr(p, e == std::string::npos ? std::string::npos : e - p + 1);
    if (e == std::string::npos)
      break;
    p = e + 1;
  }
  return query;
}

/// The share of `exact`'s ids that `approximate` found too.
double recall(const std::vector<storage::index_hit>& approximate,
              const std::vector<storage::index_hit>& exact) {
  if (exact.empty())
    return 1.0;
  size_t found = 0;
  for (auto& e : exact)
    found +=
        std::any_of(approximate.begin(), approximate.end(), [&](auto& a) { return a.id == e.id; })
            ? 1
            : 0;
  return static_cast<double>(found) / static_cast<double>(exact.size());
}

struct latencies {
  std::vector<double> ms;
  double pct(double p) {
    std::sort(ms.begin(), ms.end());
    return ms[static_cast<size_t>(p * static_cast<double>(ms.size() - 1))];
  }
};

std::vector<float> random_direction(std::mt19937_64& rng, size_t d) {
  std::normal_distribution<float> g(0, 1);
  std::vector<float> v(d);
  double norm = 0;
  for (auto& x : v) {
    x = g(rng);
    norm += static_cast<double>(x) * x;
  }
  for (auto& x : v)
    x /= static_cast<float>(std::sqrt(norm));
  return v;
}

/// normalize(a·topic + b·document + c·noise): an embedding with the neighbourhoods of a
/// semantic model's (topics, documents within them, chunks within documents).
std::vector<float> mix(std::mt19937_64& rng, const std::vector<float>& topic,
                       const std::vector<float>& document) {
  auto noise = random_direction(rng, topic.size());
  std::vector<float> v(topic.size());
  double norm = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = 0.5f * topic[i] + 0.45f * document[i] + 0.75f * noise[i];
    norm += static_cast<double>(v[i]) * v[i];
  }
  for (auto& x : v)
    x /= static_cast<float>(std::sqrt(norm));
  return v;
}

/// The vector index alone over structured embeddings (256 dimensions): one topic per 2,000
/// chunks, documents of 20 chunks; queries are fresh points of random documents.
void run_vectors(size_t n, size_t probes) {
  const size_t d = 256;
  std::mt19937_64 rng{n};
  storage::index_options options;
  options.background = false;
  options.probes = probes;
  storage::knowledge_index index{d, options};
  std::vector<std::vector<float>> topics;
  for (size_t t = 0; t < std::max<size_t>(20, n / 2000); ++t)
    topics.push_back(random_direction(rng, d));
  std::vector<std::pair<size_t, std::vector<float>>> documents; // (topic, direction)
  auto a0 = clk::now();
  for (size_t id = 0; id < n;) {
    auto topic = rng() % topics.size();
    documents.emplace_back(topic, random_direction(rng, d));
    std::vector<storage::indexed_chunk> chunks;
    for (size_t c = 0; c < 20 && id < n; ++c, ++id)
      chunks.push_back(
          {static_cast<int64_t>(id), mix(rng, topics[topic], documents.back().second), {}});
    index.add(std::move(chunks));
  }
  auto add_ms = ms(clk::now() - a0);
  auto b0 = clk::now();
  index.build_clusters();
  auto build_ms = ms(clk::now() - b0);
  latencies exact_lat;
  latencies approx_lat;
  double total = 0;
  const int queries = 300;
  for (int q = 0; q < queries; ++q) {
    auto& doc = documents[rng() % documents.size()];
    auto query = mix(rng, topics[doc.first], doc.second);
    auto s0 = clk::now();
    auto approx = index.search(query, {}, 10, 10);
    approx_lat.ms.push_back(ms(clk::now() - s0));
    auto s1 = clk::now();
    auto exact = index.search(query, {}, 10, 10, true);
    exact_lat.ms.push_back(ms(clk::now() - s1));
    total += recall(approx, exact);
  }
  auto approx_max = approx_lat.pct(1.0);
  std::printf("| %zu | %.0f ms | %.0f ms | %.2f / %.2f ms | %.2f / %.2f / %.2f ms | %.3f |\n", n,
              add_ms, build_ms, exact_lat.pct(0.5), exact_lat.pct(0.99), approx_lat.pct(0.5),
              approx_lat.pct(0.99), approx_max, total / queries);
  std::fflush(stdout);
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
  size_t probes = 0;
  bool uniform = false;
  bool vectors = false;
  bool profile = false; // only clustered searches, 3,000 of them (for perf record)
  std::vector<size_t> sizes;
  for (int i = 1; i < argc; ++i) {
    if (std::string{argv[i]} == "--probes" && i + 1 < argc)
      probes = static_cast<size_t>(std::atoll(argv[++i]));
    else if (std::string{argv[i]} == "--uniform")
      uniform = true;
    else if (std::string{argv[i]} == "--vectors")
      vectors = true;
    else if (std::string{argv[i]} == "--profile")
      profile = true;
    else
      sizes.push_back(static_cast<size_t>(std::atoll(argv[i])));
  }
  if (sizes.empty())
    sizes = {10000, 100000};
  if (vectors) {
    std::printf("| vectors | index add | clusters built | exhaustive p50 / p99 | "
                "clustered p50 / p99 / max | recall@10 |\n|---|---|---|---|---|---|\n");
    for (auto n : sizes)
      run_vectors(n, probes);
    return 0;
  }
  std::mt19937_64 rng{42};
  auto vocab = make_vocabulary(rng);
  std::printf("| chunks | ingestion (chunk + embed + terms) | index add | clusters built | "
              "exhaustive p50 / p99 | clustered p50 / p99 / max | recall@10 hybrid | "
              "recall@10 vector only | source in top 10 |\n"
              "|---|---|---|---|---|---|---|---|---|\n");
  for (auto n : sizes) {
    // Documents of ~20 chunks each, chunked as a base with chunk_size 600 would, added to
    // the index a document at a time (as ingestion does).
    storage::index_options options;
    options.background = false;
    options.probes = probes;
    storage::knowledge_index index{actors::local_embedding_dimension, options};
    std::vector<std::string> texts;
    texts.reserve(n + 32);
    double ingest_ms = 0;
    double add_ms = 0;
    // One topic per 2,000 chunks (100 documents), at least 20.
    auto topics = make_topics(rng, vocab, std::max<size_t>(20, n / 2000));
    while (texts.size() < n) {
      auto doc =
          make_text(rng, vocab, 20 * 560, uniform ? nullptr : &topics[rng() % topics.size()]);
      auto t0 = clk::now();
      std::vector<storage::indexed_chunk> chunks;
      for (auto& c : actors::chunk_text(doc, 600, 60)) {
        if (texts.size() >= n)
          break;
        storage::indexed_chunk x;
        x.id = static_cast<int64_t>(texts.size());
        x.vector = actors::local_embed(c.text);
        x.terms = terms_of(c.text);
        chunks.push_back(std::move(x));
        texts.push_back(std::move(c.text));
      }
      auto t1 = clk::now();
      index.add(std::move(chunks));
      ingest_ms += ms(t1 - t0);
      add_ms += ms(clk::now() - t1);
    }
    auto count = texts.size();
    auto b0 = clk::now();
    index.build_clusters();
    auto build_ms = ms(clk::now() - b0);

    latencies exact_lat;
    latencies approx_lat;
    double hybrid_recall = 0;
    double vector_recall = 0;
    int found = 0;
    const int queries = profile ? 3000 : 300;
    for (int q = 0; q < queries; ++q) {
      auto src = static_cast<size_t>(rng() % count);
      auto query = make_query(rng, texts[src]);
      // End to end as a search worker runs it: embed, terms, search.
      auto s0 = clk::now();
      auto approx = index.search(actors::local_embed(query), terms_of(query), 10, 50);
      approx_lat.ms.push_back(ms(clk::now() - s0));
      if (profile)
        continue;
      auto s1 = clk::now();
      auto exact = index.search(actors::local_embed(query), terms_of(query), 10, 50, true);
      exact_lat.ms.push_back(ms(clk::now() - s1));
      hybrid_recall += recall(approx, exact);
      auto vector = actors::local_embed(query);
      vector_recall +=
          recall(index.search(vector, {}, 10, 10), index.search(vector, {}, 10, 10, true));
      found += std::any_of(approx.begin(), approx.end(),
                           [&](auto& h) { return h.id == static_cast<int64_t>(src); })
                   ? 1
                   : 0;
    }
    auto approx_max = approx_lat.pct(1.0);
    if (profile) {
      std::printf("%zu chunks: clustered p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", count,
                  approx_lat.pct(0.5), approx_lat.pct(0.99), approx_max);
      continue;
    }
    std::printf(
        "| %zu | %.0f chunks/s | %.0f ms | %.0f ms | %.2f / %.2f ms | %.2f / %.2f / %.2f ms | "
        "%.3f | %.3f | %.0f%% |\n",
        count, static_cast<double>(count) / (ingest_ms / 1000.0), add_ms, build_ms,
        exact_lat.pct(0.5), exact_lat.pct(0.99), approx_lat.pct(0.5), approx_lat.pct(0.99),
        approx_max, hybrid_recall / queries, vector_recall / queries, 100.0 * found / queries);
    std::fflush(stdout);
  }
}
