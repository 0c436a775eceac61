#include "storage/knowledge_index.hpp"

#include "actors/local_embedder.hpp"
#include "actors/text_terms.hpp"

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
