#include "adapters/live_reply.hpp"

#include <gtest/gtest.h>

using chatagent::adapters::split_message;

TEST(split_message, short_texts_stay_whole_and_trimmed) {
  EXPECT_EQ(split_message("  hello  \n", 100), std::vector<std::string>{"hello"});
  EXPECT_TRUE(split_message(" \n ", 100).empty());
}

TEST(split_message, long_texts_break_at_the_best_boundary) {
  std::string para1(60, 'a');
  std::string para2 = "second line. and more words here";
  auto parts = split_message(para1 + "\n\n" + para2, 80);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0], para1);
  EXPECT_EQ(parts[1], para2);

  // No paragraph: the last sentence end, then the last space.
  parts = split_message("One sentence here. Another one follows it closely and goes on", 40);
  ASSERT_GE(parts.size(), 2u);
  EXPECT_EQ(parts[0], "One sentence here.");
  parts = split_message("words without any sentence end keep going and going", 20);
  for (auto& p : parts)
    EXPECT_LE(p.size(), 20u);
  // Cut at spaces: joined with one, the words come back whole.
  std::string joined;
  for (auto& p : parts)
    joined += (joined.empty() ? "" : " ") + p;
  EXPECT_EQ(joined, "words without any sentence end keep going and going");
}

TEST(split_message, chinese_is_cut_at_punctuation_or_between_characters) {
  // "你好。" is 9 bytes; 20 of them make 180 bytes.
  std::string text;
  for (int i = 0; i < 20; ++i)
    text += "你好。";
  auto parts = split_message(text, 50);
  std::string joined;
  for (auto& p : parts) {
    EXPECT_LE(p.size(), 50u);
    EXPECT_TRUE(p.ends_with("。")) << p;
    joined += p;
  }
  EXPECT_EQ(joined, text);
  // No punctuation at all: never inside a character.
  std::string han;
  for (int i = 0; i < 40; ++i)
    han += "字";
  parts = split_message(han, 50);
  joined.clear();
  for (auto& p : parts) {
    EXPECT_LE(p.size(), 50u);
    EXPECT_EQ(p.size() % 3, 0u);
    joined += p;
  }
  EXPECT_EQ(joined, han);
}
