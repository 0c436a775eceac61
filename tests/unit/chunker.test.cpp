#include "actors/text_chunker.hpp"
#include "protocol/validation.hpp"

#include <gtest/gtest.h>

using chatagent::actors::chunk_text;
using chatagent::actors::text_chunk;
using chatagent::protocol::utf8_length;

namespace {

void expect_well_formed(std::string_view text, const std::vector<text_chunk>& chunks, size_t size) {
  for (auto& c : chunks) {
    auto n = utf8_length(c.text);
    ASSERT_NE(n, std::string_view::npos) << "split inside a character: " << c.text;
    EXPECT_LE(n, size) << c.text;
    EXPECT_FALSE(c.text.empty());
    EXPECT_EQ(text.substr(c.offset, c.text.size()), c.text);
  }
}

} // namespace

TEST(chunker, chinese_sentences_stay_whole) {
  std::string text = "机器人配置步骤：第一步创建机器人。第二步填写模型参数。第三步绑定知识库！"
                     "最后启动机器人？完成以后即可在网页上对话。";
  auto chunks = chunk_text(text, 20, 0);
  ASSERT_GE(chunks.size(), 3u);
  expect_well_formed(text, chunks, 20);
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    auto& t = chunks[i].text;
    auto last = t.substr(t.size() - 3); // one CJK punctuation mark: 3 bytes
    EXPECT_TRUE(last == "。" || last == "！" || last == "？") << t;
  }
  std::string joined;
  for (auto& c : chunks)
    joined += c.text;
  EXPECT_EQ(joined, text); // no overlap asked: nothing lost, nothing repeated
}

TEST(chunker, cuts_at_paragraphs_before_sentences) {
  std::string text = "First paragraph, sentence one. Sentence two is here.\n\n"
                     "Second paragraph starts. It goes on for a while longer than that.";
  auto chunks = chunk_text(text, 70, 0);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].text, "First paragraph, sentence one. Sentence two is here.");
  EXPECT_EQ(chunks[1].text, "Second paragraph starts. It goes on for a while longer than that.");
  expect_well_formed(text, chunks, 70);
}

TEST(chunker, neighbours_share_the_overlap) {
  std::string text = "Alpha one two. Beta three four. Gamma five six. Delta seven eight. "
                     "Epsilon nine ten.";
  auto chunks = chunk_text(text, 40, 20);
  ASSERT_EQ(chunks.size(), 4u);
  expect_well_formed(text, chunks, 40);
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    // The next chunk begins with the last sentence of this one.
    auto& a = chunks[i].text;
    auto last_sentence = a.substr(a.rfind(". ", a.size() - 2) + 2);
    EXPECT_EQ(chunks[i + 1].text.rfind(last_sentence, 0), 0u) << a << " | " << chunks[i + 1].text;
  }
  EXPECT_NE(chunks.back().text.find("Epsilon nine ten."), std::string::npos);
}

TEST(chunker, long_words_and_runs_without_punctuation_are_cut_at_characters) {
  std::string text =
      "短" + std::string{"的"} + "这是一段没有任何标点符号而且非常长的中文文本用来测试切分";
  auto chunks = chunk_text(text, 8, 0);
  expect_well_formed(text, chunks, 8);
  std::string joined;
  for (auto& c : chunks)
    joined += c.text;
  EXPECT_EQ(joined, text);

  std::string words = "supercalifragilisticexpialidocious is long";
  chunks = chunk_text(words, 10, 0);
  expect_well_formed(words, chunks, 10);
  ASSERT_EQ(chunks.size(), 5u);
  EXPECT_EQ(chunks[0].text, "supercalif");
  EXPECT_EQ(chunks[3].text, "ious is"); // the rest is cut at white space again
  EXPECT_EQ(chunks[4].text, "long");
}

TEST(chunker, long_sentences_are_cut_at_white_space) {
  std::string text = "one two three four five six seven eight nine ten eleven twelve";
  auto chunks = chunk_text(text, 15, 0);
  expect_well_formed(text, chunks, 15);
  std::string joined;
  for (auto& c : chunks)
    joined += (joined.empty() ? "" : " ") + c.text;
  EXPECT_EQ(joined, text);
}

TEST(chunker, nothing_to_index_gives_no_chunks) {
  EXPECT_TRUE(chunk_text("", 100, 10).empty());
  EXPECT_TRUE(chunk_text(" \n\n\t\u3000 ", 100, 10).empty());
}

TEST(chunker, invalid_utf8_does_not_break_it) {
  std::string text = "abc\xff\xfe def. \xe4\xb8 ghi.";
  auto chunks = chunk_text(text, 4, 1);
  EXPECT_FALSE(chunks.empty());
  for (auto& c : chunks)
    EXPECT_EQ(text.substr(c.offset, c.text.size()), c.text);
}
