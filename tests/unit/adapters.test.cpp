#include "adapters/live_reply.hpp"
#include "adapters/onebot/onebot_adapter.hpp"
#include "protocol/json.hpp"

#include <gtest/gtest.h>

using chatagent::adapters::retry_delay;
using chatagent::adapters::split_message;

TEST(retry_delay, follows_what_the_platform_asked_else_backs_off) {
  using std::chrono::milliseconds;
  chatagent::protocol::outbound_response res;
  res.status = 429;
  res.retry_after_ms = 3000; // the Retry-After header (Slack)
  EXPECT_EQ(retry_delay(res, 0), milliseconds(3000));
  res.retry_after_ms = 0;
  res.body = R"({"message":"You are being rate limited.","retry_after":0.25,"global":false})";
  EXPECT_EQ(retry_delay(res, 0), milliseconds(250)); // Discord
  res.body = R"({"ok":false,"error_code":429,"parameters":{"retry_after":7}})";
  EXPECT_EQ(retry_delay(res, 3), milliseconds(7000)); // Telegram
  res.body = "Too Many Requests";
  EXPECT_EQ(retry_delay(res, 0), milliseconds(1000));
  EXPECT_EQ(retry_delay(res, 2), milliseconds(4000));
  EXPECT_EQ(retry_delay(res, 30), milliseconds(32000));
  res.retry_after_ms = 3600 * 1000; // never longer than a minute
  EXPECT_EQ(retry_delay(res, 0), milliseconds(60000));
}

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

TEST(onebot_segments, cq_codes_are_parsed_and_unescaped) {
  using chatagent::adapters::parse_cq_message;
  auto segs = parse_cq_message("[CQ:reply,id=42][CQ:at,qq=10001] 1 &#91;a&#93; &amp; "
                               "[CQ:image,file=x.jpg,url=https://q/1&#44;2]tail");
  ASSERT_EQ(segs.size(), 5u);
  EXPECT_EQ(segs[0].type, "reply");
  EXPECT_EQ(segs[0].get("id"), "42");
  EXPECT_EQ(segs[1].type, "at");
  EXPECT_EQ(segs[1].get("qq"), "10001");
  EXPECT_EQ(segs[2].type, "text");
  EXPECT_EQ(segs[2].get("text"), " 1 [a] & ");
  EXPECT_EQ(segs[3].type, "image");
  EXPECT_EQ(segs[3].get("url"), "https://q/1,2");
  EXPECT_EQ(segs[4].get("text"), "tail");
  // Not a code: kept as text.
  segs = parse_cq_message("[CQ:broken");
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].get("text"), "[CQ:broken");
}

TEST(onebot_segments, arrays_of_segments_are_read) {
  auto doc = chatagent::protocol::parse_json(
      R"([{"type":"at","data":{"qq":10001}},{"type":"text","data":{"text":" hi"}}])");
  ASSERT_TRUE(doc);
  auto segs = chatagent::adapters::onebot_segments(*doc);
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].get("qq"), "10001"); // numbers as text
  EXPECT_EQ(segs[1].get("text"), " hi");
}
