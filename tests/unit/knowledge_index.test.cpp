#include "storage/knowledge_index.hpp"

#include "actors/local_embedder.hpp"
#include "actors/text_terms.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

using namespace chatagent;

namespace {

std::vector<std::string> terms_of(std::string_view text) {
  std::vector<std::string> out;
  for (auto& t : actors::text_terms(text))
    out.push_back(t.text);
  return out;
}

storage::indexed_chunk chunk(int64_t id, std::string_view text) {
  return {id, actors::local_embed(text), terms_of(text)};
}

std::vector<storage::index_hit> ask(const storage::knowledge_index& index, std::string_view q,
                                    size_t k) {
  return index.search(actors::local_embed(q), terms_of(q), k);
}

} // namespace

TEST(knowledge_index, finds_the_relevant_chunk_first_in_chinese_and_english) {
  storage::knowledge_index index{actors::local_embedding_dimension};
  index.add({chunk(1, "机器人配置步骤：1. 创建机器人 2. 选择平台 3. 填写模型参数"),
             chunk(2, "退款政策：购买后七天内可以申请全额退款。"),
             chunk(3, "To configure a webhook, set its URL and the signing secret."),
             chunk(4, "Our office hours are Monday to Friday, nine to five."),
             chunk(5, "Error code E-4012 means the API key has expired.")});
  EXPECT_EQ(index.size(), 5u);
  auto zh = ask(index, "如何配置机器人？", 3);
  ASSERT_FALSE(zh.empty());
  EXPECT_EQ(zh[0].id, 1);
  auto en = ask(index, "webhook configuration", 3);
  ASSERT_FALSE(en.empty());
  EXPECT_EQ(en[0].id, 3);
  // Exact codes are found by their terms, with a high score.
  auto code = ask(index, "E-4012", 2);
  ASSERT_FALSE(code.empty());
  EXPECT_EQ(code[0].id, 5);
  EXPECT_GT(code[0].lexical_score, 0.9f);
  EXPECT_GT(code[0].score, 0.6f);
  for (auto& h : zh) {
    EXPECT_GE(h.score, 0.0f);
    EXPECT_LE(h.score, 1.0f);
  }
  for (size_t i = 1; i < zh.size(); ++i)
    EXPECT_GE(zh[i - 1].score, zh[i].score);
}

TEST(knowledge_index, removed_chunks_are_never_found) {
  storage::knowledge_index index{actors::local_embedding_dimension};
  index.add({chunk(10, "alpha beta gamma"), chunk(11, "alpha delta"), chunk(12, "epsilon")});
  index.remove({10, 99});
  EXPECT_EQ(index.size(), 2u);
  for (auto& h : ask(index, "alpha beta gamma", 5))
    EXPECT_NE(h.id, 10);
  EXPECT_EQ(ask(index, "alpha", 1).at(0).id, 11);
}

TEST(knowledge_index, empty_index_and_short_lists) {
  storage::knowledge_index index{actors::local_embedding_dimension};
  EXPECT_TRUE(ask(index, "anything", 5).empty());
  index.add({chunk(1, "only one chunk")});
  auto hits = ask(index, "chunk", 10);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 1);
}

namespace {

std::vector<float> unit_vector(std::mt19937_64& rng, size_t d) {
  std::normal_distribution<float> g(0, 1);
  std::vector<float> v(d);
  float norm = 0;
  for (auto& x : v) {
    x = g(rng);
    norm += x * x;
  }
  for (auto& x : v)
    x /= std::sqrt(norm);
  return v;
}

/// A point near `center`: normalize(center + 0.8 · a random direction).
std::vector<float> near(std::mt19937_64& rng, const std::vector<float>& center) {
  auto v = unit_vector(rng, center.size());
  float norm = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = center[i] + 0.8f * v[i];
    norm += v[i] * v[i];
  }
  for (auto& x : v)
    x /= std::sqrt(norm);
  return v;
}

constexpr size_t dims = 64;

/// `n` chunks (ids from `first`) around 50 centers, without terms.
std::vector<storage::indexed_chunk> clustered_chunks(std::mt19937_64& rng,
                                                     const std::vector<std::vector<float>>& centers,
                                                     int64_t first, size_t n) {
  std::vector<storage::indexed_chunk> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back({first + static_cast<int64_t>(i), near(rng, centers[i % centers.size()]), {}});
  return out;
}

std::vector<std::vector<float>> make_centers(std::mt19937_64& rng) {
  std::vector<std::vector<float>> centers;
  for (int i = 0; i < 50; ++i)
    centers.push_back(unit_vector(rng, dims));
  return centers;
}

std::set<int64_t> ids_of(const std::vector<storage::index_hit>& hits) {
  std::set<int64_t> out;
  for (auto& h : hits)
    out.insert(h.id);
  return out;
}

/// An index of `n` chunks around `centers`, clustered now (no background thread).
std::unique_ptr<storage::knowledge_index>
clustered_index(std::mt19937_64& rng, const std::vector<std::vector<float>>& centers, size_t n) {
  storage::index_options options;
  options.background = false;
  auto index = std::make_unique<storage::knowledge_index>(dims, options);
  index->add(clustered_chunks(rng, centers, 0, n));
  EXPECT_FALSE(index->clustered());
  index->build_clusters();
  EXPECT_TRUE(index->clustered());
  return index;
}

} // namespace

TEST(knowledge_index, clusters_find_what_the_exhaustive_search_finds) {
  std::mt19937_64 rng{5};
  auto centers = make_centers(rng);
  auto built = clustered_index(rng, centers, 6000);
  auto& index = *built;
  // Chunks added after the build go to their clusters at once.
  index.add(clustered_chunks(rng, centers, 6000, 1000));
  EXPECT_EQ(index.size(), 7000u);
  size_t same = 0;
  const int queries = 100;
  for (int q = 0; q < queries; ++q) {
    auto query = near(rng, centers[rng() % centers.size()]);
    auto approximate = index.search(query, {}, 10, 10);
    auto exact = index.search(query, {}, 10, 10, true);
    ASSERT_EQ(approximate.size(), 10u);
    ASSERT_EQ(exact.size(), 10u);
    for (auto id : ids_of(exact))
      same += ids_of(approximate).count(id);
    // The clusters are scanned in 8 bits, but the scores given are the vectors' own.
    for (auto& a : approximate)
      for (auto& e : exact)
        if (a.id == e.id) {
          EXPECT_FLOAT_EQ(a.vector_score, e.vector_score);
        }
  }
  EXPECT_GE(static_cast<double>(same) / (10.0 * queries), 0.95);
}

TEST(knowledge_index, removals_and_compaction_keep_clustered_searches_right) {
  std::mt19937_64 rng{9};
  auto centers = make_centers(rng);
  storage::index_options options;
  options.approximate_from = 0; // clusters stay however small the base gets
  options.background = false;
  storage::knowledge_index index{dims, options};
  auto chunks = clustered_chunks(rng, centers, 0, 4000);
  auto probe = chunks[3999].vector; // a chunk that stays
  auto gone = chunks[10].vector;    // one that goes
  index.add(std::move(chunks));
  index.build_clusters();
  ASSERT_TRUE(index.clustered());
  // Removing 2,000 chunks (past a quarter of the slots) compacts them away.
  std::vector<int64_t> remove;
  for (int64_t id = 0; id < 2000; ++id)
    remove.push_back(id);
  index.remove(remove);
  EXPECT_EQ(index.size(), 2000u);
  ASSERT_TRUE(index.clustered());
  for (bool exhaustive : {false, true}) {
    auto hits = index.search(probe, {}, 5, 5, exhaustive);
    ASSERT_FALSE(hits.empty());
    EXPECT_EQ(hits[0].id, 3999);
    EXPECT_NEAR(hits[0].vector_score, 1.0f, 1e-4);
    for (auto& h : index.search(gone, {}, 20, 20, exhaustive))
      EXPECT_GE(h.id, 2000);
  }
  // Ids keep working after the renumbering: more removals, more additions.
  index.remove({3999});
  EXPECT_NE(index.search(probe, {}, 1, 1).at(0).id, 3999);
  index.add({{99999, probe, {}}});
  EXPECT_EQ(index.search(probe, {}, 1, 1).at(0).id, 99999);
  EXPECT_EQ(index.search(probe, {}, 1, 1, true).at(0).id, 99999);
}

TEST(knowledge_index, clusters_are_built_in_the_background_past_the_threshold) {
  std::mt19937_64 rng{13};
  auto centers = make_centers(rng);
  storage::index_options options;
  options.approximate_from = 3000;
  storage::knowledge_index index{dims, options};
  index.add(clustered_chunks(rng, centers, 0, 2000));
  EXPECT_FALSE(index.clustered());
  auto chunks = clustered_chunks(rng, centers, 2000, 2000);
  auto probe = chunks[0].vector;
  index.add(std::move(chunks));
  // The build runs on the index's thread; searches go on meanwhile.
  for (int i = 0; i < 3000 && !index.clustered(); ++i) {
    EXPECT_EQ(index.search(probe, {}, 1, 1).at(0).id, 2000);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(index.clustered());
  EXPECT_EQ(index.search(probe, {}, 1, 1).at(0).id, 2000);
}

TEST(knowledge_index, lexical_candidates_get_their_exact_vector_score) {
  storage::knowledge_index index{actors::local_embedding_dimension};
  std::vector<storage::indexed_chunk> chunks;
  // Many chunks closer to the query's vector than the one with its rare code.
  for (int64_t i = 0; i < 60; ++i)
    chunks.push_back(chunk(i, "how do I configure the webhook signing secret for my bot"));
  chunks.push_back(chunk(100, "Reference ZX-9917: the webhook secret rotates monthly."));
  index.add(std::move(chunks));
  // Five candidates of each kind: the vector search brings five of the sixty.
  auto hits = index.search(actors::local_embed("configure webhook secret ZX-9917"),
                           terms_of("configure webhook secret ZX-9917"), 5, 5);
  auto code = std::find_if(hits.begin(), hits.end(), [](auto& h) { return h.id == 100; });
  ASSERT_NE(code, hits.end());
  EXPECT_GT(code->vector_score, 0.0f);
  EXPECT_NEAR(
      code->vector_score,
      [&] {
        auto q = actors::local_embed("configure webhook secret ZX-9917");
        auto c = actors::local_embed("Reference ZX-9917: the webhook secret rotates monthly.");
        float s = 0;
        for (size_t i = 0; i < q.size(); ++i)
          s += q[i] * c[i];
        return std::clamp(s, 0.0f, 1.0f);
      }(),
      1e-4);
}

TEST(knowledge_index, an_index_destroyed_during_a_build_stops_it) {
  std::mt19937_64 rng{17};
  auto centers = make_centers(rng);
  storage::index_options options;
  options.approximate_from = 3000;
  for (int round = 0; round < 3; ++round) {
    storage::knowledge_index index{dims, options};
    index.add(clustered_chunks(rng, centers, 0, 20000)); // starts a build
    EXPECT_EQ(index.size(), 20000u);
  } // destroyed while its build may still run: it stops at its next check, nothing leaks
}

TEST(knowledge_index, an_accept_filter_keeps_its_chunks_even_outside_the_probed_clusters) {
  std::mt19937_64 rng{21};
  auto centers = make_centers(rng);
  auto built = clustered_index(rng, centers, 6000);
  auto& index = *built;
  // Six chunks spread over the centers; a query near one center still gets all six.
  auto accept = [](int64_t id) { return id % 1000 == 7; };
  auto hits = index.search(near(rng, centers[0]), {}, 10, 10, false, accept);
  ASSERT_EQ(hits.size(), 6u);
  for (auto& h : hits)
    EXPECT_TRUE(accept(h.id)) << h.id;
  EXPECT_TRUE(index.search(near(rng, centers[0]), {}, 10, 10, false, [](int64_t) { return false; })
                  .empty());
}
