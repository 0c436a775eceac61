#include "actors/local_embedder.hpp"
#include "actors/text_terms.hpp"

#include <cmath>

#include <gtest/gtest.h>

using namespace chatagent::actors;

namespace {

float cosine(const std::vector<float>& a, const std::vector<float>& b) {
  float s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += a[i] * b[i];
  return s;
}

std::vector<std::string> texts(const std::vector<text_term>& terms) {
  std::vector<std::string> out;
  for (auto& t : terms)
    out.push_back(t.text);
  return out;
}

} // namespace

TEST(text_terms, words_are_lower_cased_and_cjk_gives_characters_and_pairs) {
  EXPECT_EQ(texts(text_terms("Hello, World! X-200 ＡＢＣ１２")),
            (std::vector<std::string>{"hello", "world", "x", "200", "abc12"}));
  EXPECT_EQ(
      texts(text_terms("配置机器人")),
      (std::vector<std::string>{"配", "配置", "置", "置机", "机", "机器", "器", "器人", "人"}));
  EXPECT_EQ(texts(text_terms("用API。Café")), (std::vector<std::string>{"用", "api", "café"}));
  EXPECT_TRUE(text_terms("，。！ ... --").empty());
  // Function words say nothing about the topic.
  EXPECT_EQ(texts(text_terms("How do I configure the bot?")),
            (std::vector<std::string>{"configure", "bot"}));
  EXPECT_EQ(texts(text_terms("如何配置")),
            (std::vector<std::string>{"如", "何", "何配", "配", "配置", "置"}));
}

TEST(local_embedder, vectors_are_normalized_and_deterministic) {
  auto v = local_embed("How do I configure the bot?");
  ASSERT_EQ(v.size(), local_embedding_dimension);
  EXPECT_NEAR(cosine(v, v), 1.0f, 1e-5);
  EXPECT_EQ(v, local_embed("How do I configure the bot?"));
  auto empty = local_embed("，。");
  EXPECT_EQ(cosine(empty, empty), 0.0f);
}

TEST(local_embedder, related_texts_are_closer_than_unrelated_ones) {
  auto query = local_embed("如何配置机器人？");
  auto related = local_embed("机器人配置步骤：1. 创建机器人 2. 填写模型参数");
  auto unrelated = local_embed("今天的天气晴朗，适合出去散步。");
  EXPECT_GT(cosine(query, related), cosine(query, unrelated) + 0.2f);

  auto en_query = local_embed("configuration of the webhook");
  auto en_related = local_embed("To configure a webhook, set its URL and secret.");
  auto en_unrelated = local_embed("Our office is closed on public holidays.");
  EXPECT_GT(cosine(en_query, en_related), cosine(en_query, en_unrelated) + 0.1f);
}
