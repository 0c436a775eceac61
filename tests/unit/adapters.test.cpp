#include "adapters/inbound.hpp"
#include "adapters/live_reply.hpp"
#include "adapters/onebot/onebot_adapter.hpp"
#include "adapters/slack/slack_adapter.hpp"
#include "http/close_reason.hpp"
#include "protocol/form.hpp"
#include "protocol/json.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
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

namespace {

using namespace chatagent::adapters;
using chatagent::protocol::inbound_message;
using chatagent::protocol::segment_kind;

inbound_message group_message(std::vector<chatagent::protocol::message_segment> segments) {
  inbound_message m;
  m.platform = "test";
  m.message_id = "m1";
  m.chat_id = "c1";
  m.group = true;
  m.user_id = "u1";
  m.segments = std::move(segments);
  return m;
}

} // namespace

TEST(read_message, groups_need_a_mention_a_reply_or_the_prefix) {
  addressing a{"B", "!", false};
  auto plain = read_message(group_message({text_segment("lunch?")}), a);
  EXPECT_FALSE(plain.addressed);
  EXPECT_EQ(plain.text, "lunch?");
  auto everyone = read_message(
      group_message({segment(segment_kind::mention_all, {}), text_segment(" meeting")}), a);
  EXPECT_FALSE(everyone.addressed);
  EXPECT_EQ(everyone.text, "@all meeting");
  // The bot's mention is left out, others' are kept by name.
  auto mentioned = read_message(
      group_message({segment(segment_kind::mention, "B", "bot"), text_segment(" ask "),
                     segment(segment_kind::mention, "U2", "Wang"), text_segment(" please ")}),
      a);
  EXPECT_TRUE(mentioned.addressed);
  EXPECT_EQ(mentioned.text, "ask @Wang please");
  auto replied = read_message(
      group_message({segment(segment_kind::quote, "B", "m0"), text_segment("why")}), a);
  EXPECT_TRUE(replied.addressed);
  auto to_someone_else = read_message(
      group_message({segment(segment_kind::quote, "U2", "m0"), text_segment("ok")}), a);
  EXPECT_FALSE(to_someone_else.addressed);
  auto prefixed = read_message(group_message({text_segment("  !what now")}), a);
  EXPECT_TRUE(prefixed.addressed);
  EXPECT_EQ(prefixed.text, "what now");
  auto in_private = group_message({text_segment("hi"), segment(segment_kind::image, "f1"),
                                   segment(segment_kind::file, "f2", "a.pdf"),
                                   segment(segment_kind::unknown, {}, "sticker")});
  in_private.group = false;
  auto r = read_message(in_private, a);
  EXPECT_TRUE(r.addressed);
  EXPECT_EQ(r.attachments, (std::vector<std::string>{"image:f1", "file:f2"}));
  auto meta = chatagent::protocol::parse_json(message_metadata(in_private, r, "e1"));
  ASSERT_TRUE(meta && meta->is_object());
  EXPECT_EQ(meta->find("chat_type")->as_string(), "private");
  EXPECT_EQ(meta->find("event_id")->as_string(), "e1");
  EXPECT_EQ(meta->find("platform_message_id")->as_string(), "m1");
}

TEST(read_message, mention_markup_and_tokens_become_segments) {
  auto s = markup_segments("<@U1> hi <@!42> and <@U3|li> <@ nope> <@");
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s[0].kind, segment_kind::mention);
  EXPECT_EQ(s[0].ref, "U1");
  EXPECT_EQ(s[1].text, " hi ");
  EXPECT_EQ(s[2].ref, "42");
  EXPECT_EQ(s[4].ref, "U3");
  EXPECT_EQ(s[4].text, "li");
  EXPECT_EQ(s[5].kind, segment_kind::text);
  EXPECT_EQ(s[5].text, " <@ nope> <@");
  auto t = token_segments({text_segment("/help@fake_bot"), segment(segment_kind::image, "x")},
                          "@fake_bot", "777", "fake_bot");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].text, "/help");
  EXPECT_EQ(t[1].kind, segment_kind::mention);
  EXPECT_EQ(t[1].ref, "777");
  EXPECT_EQ(t[2].kind, segment_kind::image);
  // The common message travels between actors (and nodes) as it is.
  EXPECT_NE(caf::deep_to_string(group_message(t)).find("777"), std::string::npos);
}

namespace {

/// Platform calls of a live reply, as a fake platform answers them at once.
struct call_log {
  std::mutex mtx;
  std::vector<std::pair<std::string, std::string>> calls; // "post"/"edit", text
};

chatagent::protocol::http_client_actor::behavior_type
fake_platform(chatagent::protocol::http_client_actor::pointer, std::shared_ptr<call_log> log) {
  return {
      [log](chatagent::protocol::fetch_atom, chatagent::protocol::outbound_request& r) {
        std::lock_guard<std::mutex> guard{log->mtx};
        log->calls.emplace_back(r.url, r.body);
        return chatagent::protocol::outbound_response{200, "m1", {}};
      },
  };
}

} // namespace

TEST(live_reply, edits_within_the_platforms_limit_and_keeps_the_last_for_the_final_text) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto log = std::make_shared<call_log>();
  reply_surface s;
  s.post = [](const std::string& text, size_t) {
    chatagent::protocol::outbound_request r;
    r.url = "post";
    r.body = text;
    return r;
  };
  s.posted_id = [](const chatagent::protocol::outbound_response& res) { return res.body; };
  s.edit = [](const std::string&, const std::string& text) {
    chatagent::protocol::outbound_request r;
    r.url = "edit";
    r.body = text;
    return r;
  };
  s.edit_interval = std::chrono::milliseconds(0);
  s.max_edits = 3;
  auto reply = spawn_live_reply(sys, sys.spawn(fake_platform, log), s);
  std::string whole;
  for (int i = 0; i < 20; ++i) {
    std::string piece = "w";
    piece += std::to_string(i);
    piece += ' ';
    whole += piece;
    caf::anon_send(reply, grow_atom::value, piece);
    // Paced, so that each piece could be an edit of its own without the limit.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  caf::anon_send(reply, finish_atom::value, whole + "end");
  caf::scoped_actor self{sys};
  self->monitor(reply);
  bool ended = false;
  self->receive([&](caf::down_msg&) { ended = true; },
                caf::after(std::chrono::seconds(10)) >> [] {});
  ASSERT_TRUE(ended);
  std::lock_guard<std::mutex> guard{log->mtx};
  ASSERT_GE(log->calls.size(), 2u);
  EXPECT_EQ(log->calls.front().first, "post");
  auto edits = std::count_if(log->calls.begin(), log->calls.end(),
                             [](auto& c) { return c.first == "edit"; });
  EXPECT_LE(edits, 3);
  EXPECT_EQ(log->calls.back().first, "edit");
  EXPECT_EQ(log->calls.back().second, whole + "end");
}

TEST(split_close_reason, a_leading_code_sets_the_close_code) {
  using chatagent::http::split_close_reason;
  EXPECT_EQ(split_close_reason("4000 reconnecting"),
            (std::pair<uint16_t, std::string>{4000, "reconnecting"}));
  EXPECT_EQ(split_close_reason("the bot stopped"),
            (std::pair<uint16_t, std::string>{1000, "the bot stopped"}));
  EXPECT_EQ(split_close_reason("2024 was a year"),
            (std::pair<uint16_t, std::string>{2024, "was a year"}));
  EXPECT_EQ(split_close_reason("9000 nope"), (std::pair<uint16_t, std::string>{1000, "9000 nope"}));
  EXPECT_EQ(split_close_reason("4000"), (std::pair<uint16_t, std::string>{1000, "4000"}));
}

TEST(slack_segments, markup_is_read_and_escapes_undone) {
  auto s = chatagent::adapters::slack_segments(
      "<@UBOT> is 1 &lt; 2 in <#C1|general>? see <https://x.io|docs>, <https://y.io> <!here> "
      "&lt;@UBOT&gt;");
  using chatagent::adapters::addressing;
  auto m = group_message(s);
  auto r = read_message(m, addressing{"UBOT", {}, false});
  EXPECT_TRUE(r.addressed);
  // A user typing the markup literally (escaped) does not mention anyone.
  EXPECT_EQ(r.text, "is 1 < 2 in #general? see docs (https://x.io), https://y.io @all <@UBOT>");
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s[0].kind, segment_kind::mention);
  EXPECT_EQ(s[0].ref, "UBOT");
}

TEST(form_escape, round_trips_through_parse_form) {
  std::string value = "a b&c=d/é~_.-";
  EXPECT_EQ(chatagent::protocol::form_escape(value), "a%20b%26c%3Dd%2F%C3%A9~_.-");
  auto pairs = chatagent::protocol::parse_form("v=" + chatagent::protocol::form_escape(value));
  EXPECT_EQ(chatagent::protocol::form_value(pairs, "v"), value);
}
