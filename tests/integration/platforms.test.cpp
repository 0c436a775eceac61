#include "adapters/dingtalk/dingtalk_adapter.hpp"
#include "adapters/slack/slack_adapter.hpp"
#include "adapters/webhook/webhook_adapter.hpp"
#include "adapters/wecom/wecom_adapter.hpp"
#include "integration/fixture.hpp"
#include "protocol/form.hpp"
#include "protocol/json.hpp"
#include "support/fake_llm_server.hpp"
#include "support/fake_ws_server.hpp"
#include "support/ws_client.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>

#include <openssl/evp.h>
#include <openssl/sha.h>

using namespace chatagent::test;
using chatagent::adapters::dingtalk_signature;
using chatagent::adapters::slack_signature;
using chatagent::adapters::webhook_signature;

namespace {

constexpr const char* secret = "a-shared-secret-of-some-length";

class webhook_platform_test : public server_test {
 protected:
  /// A started webhook bot on the fake provider whose answers go to the fake's `/hook/...`.
  std::string webhook_bot(const std::string& token, const std::string& extra = "") {
    auto bot = create_bot(token, R"({"name":"Hooked","platform_type":"webhook",
        "platform_config":{"webhook_url":")" +
                                     fake.url("/hook/receive") + R"(","secret":")" + secret + "\"" +
                                     extra + R"(},
        "llm_config":{"provider":"openai_compatible","base_url":")" +
                                     fake.url("/v1") + R"(","model":"m"}})");
    auto res = post("/api/v1/bots/" + bot + "/start", "", token);
    EXPECT_EQ(res.status, 200) << res.body;
    return bot;
  }

  /// POSTs `event` to the bot's callback, signed with `key` at `ts` (now by default).
  http_result deliver(const std::string& bot, const std::string& event,
                      const std::string& key = secret, int64_t ts = 0) {
    if (ts == 0)
      ts = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
    auto stamp = std::to_string(ts);
    return http_request("POST", url("/api/v1/webhooks/" + bot), event,
                        {"Content-Type: application/json", "X-ChatAgent-Timestamp: " + stamp,
                         "X-ChatAgent-Signature: " + webhook_signature(key, stamp, event)});
  }

  /// POSTs `body` to the bot's callback as it is (platforms that sign in their own way).
  http_result deliver_raw(const std::string& bot, const std::string& body) {
    return http_request("POST", url("/api/v1/webhooks/" + bot), body,
                        {"Content-Type: application/json"});
  }

  /// The requests the fake received whose path starts with `prefix`, once there are `n`
  /// of them (or after 5 s).
  std::vector<fake_llm_server::request> requests_to(const std::string& prefix, size_t n = 0) {
    std::vector<fake_llm_server::request> out;
    for (int i = 0; i < 200; ++i) {
      out.clear();
      for (auto& r : fake.requests())
        if (r.path.rfind(prefix, 0) == 0)
          out.push_back(r);
      if (out.size() >= n)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return out;
  }

  /// Their bodies, as JSON.
  std::vector<chatagent::protocol::json_value> bodies_to(const std::string& prefix, size_t n) {
    std::vector<chatagent::protocol::json_value> out;
    for (auto& r : requests_to(prefix, n)) {
      auto doc = chatagent::protocol::parse_json(r.body);
      out.push_back(doc ? std::move(*doc) : chatagent::protocol::json_value{});
    }
    return out;
  }

  /// What `current` says once it says `expected` (or after 5 s).
  static std::string eventually(const std::function<std::string()>& current,
                                const std::string& expected) {
    std::string now;
    for (int i = 0; i < 200 && (now = current()) != expected; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    return now;
  }

  /// The bot's `is_online`, once it is `expected` (or after 5 s).
  bool online(const std::string& bot, const std::string& token, bool expected = true) {
    bool now = !expected;
    for (int i = 0; i < 200 && now != expected; ++i) {
      auto status = get("/api/v1/bots/" + bot + "/status", token).json();
      auto v = json_at(status, "is_online");
      EXPECT_NE(v, nullptr) << "no status";
      if (v == nullptr)
        return now;
      now = v->as_bool();
      if (now != expected)
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return now;
  }

  /// The answers the fake webhook platform received so far.
  std::vector<fake_llm_server::request> received() { return requests_to("/hook/receive"); }

  /// Waits until the fake webhook platform has `n` answers.
  std::vector<fake_llm_server::request> wait_for(size_t n) {
    return requests_to("/hook/receive", n);
  }

  /// Platform fakes listen on loopback: the server must be allowed to call them. (Tests
  /// poll the API while they wait: more than a user's 100 requests a minute.)
  env_list environment() override {
    return {{"CHATAGENT_PLATFORMS_ALLOW_PRIVATE_NETWORK", "1"},
            {"CHATAGENT_RATE_LIMIT_USER", "100000"}};
  }

  fake_llm_server fake;
};

chatagent::protocol::json_value body_of(const fake_llm_server::request& r) {
  auto doc = chatagent::protocol::parse_json(r.body);
  return doc ? std::move(*doc) : chatagent::protocol::json_value{};
}

} // namespace

TEST_F(webhook_platform_test, signed_events_are_answered_on_the_platform) {
  auto token = register_user("alice");
  auto bot = webhook_bot(token);
  auto status = get("/api/v1/bots/" + bot + "/status", token).json();
  EXPECT_TRUE(json_at(status, "is_online")->as_bool());

  auto res = deliver(bot, R"({"event_id":"e1","chat_id":"c42","user_id":"u7","user_name":"Li",
                              "text":"hello there"})");
  ASSERT_EQ(res.status, 202) << res.body;
  EXPECT_TRUE(json_at(res.json(), "accepted")->as_bool());
  auto got = wait_for(1);
  ASSERT_EQ(got.size(), 1u);
  auto answer = body_of(got[0]);
  EXPECT_EQ(json_string(answer, "type"), "reply");
  EXPECT_EQ(json_string(answer, "text"), "Echo: hello there");
  EXPECT_EQ(json_string(answer, "chat_id"), "c42");
  EXPECT_EQ(json_string(answer, "in_reply_to"), "e1");
  // Signed the same way.
  auto& h = got[0].headers;
  EXPECT_EQ(h.at("x-chatagent-signature"),
            webhook_signature(secret, h.at("x-chatagent-timestamp"), got[0].body));

  // One conversation per platform chat, in the user's list.
  ASSERT_EQ(deliver(bot, R"({"event_id":"e2","chat_id":"c42","text":"again"})").status, 202);
  wait_for(2);
  ASSERT_EQ(deliver(bot, R"({"event_id":"e3","chat_id":"c43","text":"other chat"})").status, 202);
  wait_for(3);
  auto list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  ASSERT_EQ(json_int(list, "total"), 2) << json_int(list, "total");
  auto conv = json_string(answer, "conversation_id");
  auto history = get("/api/v1/conversations/" + conv + "/messages", token).json();
  EXPECT_EQ(json_int(history, "total"), 4);
  EXPECT_EQ(json_string(history, "messages.0.metadata.platform_user_name"), "Li");
  auto c = get("/api/v1/conversations/" + conv, token).json();
  EXPECT_EQ(json_string(c, "platform"), "webhook");
  EXPECT_EQ(json_string(c, "platform_chat_id"), "c42");

  // A redelivered event is handled once.
  res = deliver(bot, R"({"event_id":"e1","chat_id":"c42","text":"hello there"})");
  EXPECT_EQ(res.status, 200) << res.body;
  EXPECT_FALSE(json_at(res.json(), "accepted")->as_bool());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(received().size(), 3u);
  status = get("/api/v1/bots/" + bot + "/status", token).json();
  EXPECT_EQ(json_int(status, "message_count"), 6);
}

TEST_F(webhook_platform_test, bad_signatures_stale_events_and_stopped_bots_are_refused) {
  auto token = register_user("alice");
  auto bot = webhook_bot(token);
  auto event = std::string{R"({"event_id":"x1","chat_id":"c","text":"hi"})"};
  expect_error(deliver(bot, event, "the-wrong-secret-entirely"), 401, "UNAUTHORIZED");
  expect_error(deliver(bot, event, secret, 1000000000), 401, "UNAUTHORIZED");
  expect_error(http_request("POST", url("/api/v1/webhooks/" + bot), event, {}), 401,
               "UNAUTHORIZED");
  expect_error(http_request("GET", url("/api/v1/webhooks/" + bot), "", {}), 405,
               "METHOD_NOT_ALLOWED");
  expect_error(deliver(bot, R"({"event_id":"x2","text":"hi"})"), 400, "VALIDATION_ERROR");
  expect_error(deliver("bot_missing", event), 404, "NOT_FOUND");
  // Groups: only when mentioned or addressed by the prefix.
  auto res = deliver(bot, R"({"event_id":"g1","chat_id":"g","chat_type":"group","text":"chat"})");
  EXPECT_EQ(res.status, 200) << res.body;
  EXPECT_FALSE(json_at(res.json(), "accepted")->as_bool());
  res = deliver(bot, R"({"event_id":"g2","chat_id":"g","chat_type":"group","text":"@bot hi",
                         "mentioned":true})");
  EXPECT_EQ(res.status, 202) << res.body;
  EXPECT_EQ(json_string(body_of(wait_for(1).at(0)), "text"), "Echo: @bot hi");
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/stop", "", token).status, 200);
  expect_error(deliver(bot, event), 503, "SERVICE_UNAVAILABLE");
  // A web bot has no platform callback; a webhook bot without a valid config cannot start.
  auto web = create_bot(token);
  ASSERT_EQ(post("/api/v1/bots/" + web + "/start", "", token).status, 200);
  expect_error(deliver(web, event), 503, "SERVICE_UNAVAILABLE");
  auto bad = create_bot(token, R"({"name":"b","platform_type":"webhook",
                                   "platform_config":{"webhook_url":"not a url","secret":"x"}})");
  auto start = post("/api/v1/bots/" + bad + "/start", "", token);
  expect_error(start, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(start.json(), "error.details.field"), "platform_config.webhook_url");
  EXPECT_FALSE(json_at(get("/api/v1/bots/" + bad, token).json(), "is_active")->as_bool());
}

TEST_F(webhook_platform_test, reset_starts_a_new_conversation_and_help_answers_at_once) {
  auto token = register_user("alice");
  auto bot = webhook_bot(token);
  ASSERT_EQ(deliver(bot, R"({"event_id":"h1","chat_id":"c","text":"/help"})").status, 202);
  auto got = wait_for(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(json_string(body_of(got[0]), "text").find("/reset"), std::string::npos);
  EXPECT_EQ(json_int(get("/api/v1/conversations/", token).json(), "total"), 0);

  ASSERT_EQ(deliver(bot, R"({"event_id":"h2","chat_id":"c","text":"one"})").status, 202);
  auto first = json_string(body_of(wait_for(2).at(1)), "conversation_id");
  ASSERT_EQ(deliver(bot, R"({"event_id":"h3","chat_id":"c","text":"/reset"})").status, 202);
  EXPECT_NE(json_string(body_of(wait_for(3).at(2)), "text").find("new conversation"),
            std::string::npos);
  ASSERT_EQ(deliver(bot, R"({"event_id":"h4","chat_id":"c","text":"two"})").status, 202);
  auto second = json_string(body_of(wait_for(4).at(3)), "conversation_id");
  EXPECT_NE(first, second);
  EXPECT_EQ(json_string(get("/api/v1/conversations/" + first, token).json(), "status"), "archived");
  // A deleted conversation is replaced too.
  ASSERT_EQ(del("/api/v1/conversations/" + second, token).status, 200);
  ASSERT_EQ(deliver(bot, R"({"event_id":"h5","chat_id":"c","text":"three"})").status, 202);
  auto third = json_string(body_of(wait_for(5).at(4)), "conversation_id");
  EXPECT_NE(third, second);
  EXPECT_EQ(json_string(body_of(received().at(4)), "text"), "Echo: three");
}

TEST_F(webhook_platform_test, a_running_bot_reconnects_after_a_restart) {
  auto token = register_user("alice");
  auto bot = webhook_bot(token);
  auto dir = server->data_dir();
  ASSERT_EQ(server->stop(), 0);
  server_process again(environment(), dir);
  ASSERT_TRUE(again.start()) << again.log();
  auto status =
      http_request("GET", again.base_url() + "/api/v1/bots/" + bot + "/status", {}, auth(token));
  EXPECT_TRUE(json_at(status.json(), "is_online")->as_bool()) << status.body;
  auto stamp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
  std::string event = R"({"event_id":"r1","chat_id":"c","text":"back again"})";
  auto res = http_request("POST", again.base_url() + "/api/v1/webhooks/" + bot, event,
                          {"X-ChatAgent-Timestamp: " + stamp,
                           "X-ChatAgent-Signature: " + webhook_signature(secret, stamp, event)});
  EXPECT_EQ(res.status, 202) << res.body;
  EXPECT_EQ(json_string(body_of(wait_for(1).at(0)), "text"), "Echo: back again");
}

namespace {

class telegram_platform_test : public webhook_platform_test {
 protected:
  std::string telegram_bot(const std::string& token) {
    auto bot = create_bot(token, R"({"name":"Tele","platform_type":"telegram",
        "platform_config":{"token":")" +
                                     std::string{fake_llm_server::telegram_token} +
                                     R"(","api_base_url":")" + fake.url("/tg") + R"("},
        "llm_config":{"provider":"openai_compatible","base_url":")" +
                                     fake.url("/v1") + R"(","model":"m"}})");
    auto res = post("/api/v1/bots/" + bot + "/start", "", token);
    EXPECT_EQ(res.status, 200) << res.body;
    return bot;
  }

  /// The sendMessage calls the fake Telegram received, waiting until there are `n`.
  std::vector<chatagent::protocol::json_value> sent(size_t n) {
    return bodies_to(std::string{"/tg/bot"} + fake_llm_server::telegram_token + "/sendMessage", n);
  }

  /// The texts chat `chat` was sent or edited into (sendMessage and editMessageText), in
  /// the order the fake Telegram received them.
  std::vector<std::string> texts(int64_t chat) {
    std::vector<std::string> out;
    for (auto& r : fake.requests())
      if (r.path.ends_with("/sendMessage") || r.path.ends_with("/editMessageText")) {
        auto body = body_of(r);
        if (auto c = json_at(body, "chat_id"); c && c->is_integer() && c->as_int() == chat)
          out.push_back(json_string(body, "text"));
      }
    return out;
  }

  /// What chat `chat` shows last (the text of the last sendMessage or editMessageText to
  /// it), once it is `expected` (or after 5 s).
  std::string shown(int64_t chat, const std::string& expected) {
    return eventually(
        [&] {
          auto all = texts(chat);
          return all.empty() ? std::string{} : all.back();
        },
        expected);
  }

  /// Whether chat `chat` was sent or edited into `text` at all, waiting up to 10 s. For
  /// answers that come right after another: the earlier answer's last edit may reach
  /// Telegram after the next answer's first message.
  bool ever_shown(int64_t chat, const std::string& text) {
    for (int i = 0; i < 400; ++i) {
      auto all = texts(chat);
      if (std::find(all.begin(), all.end(), text) != all.end())
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }
};

} // namespace

TEST_F(telegram_platform_test, private_and_group_messages_are_answered_through_the_bot_api) {
  auto token = register_user("alice");
  auto bot = telegram_bot(token);
  EXPECT_TRUE(
      json_at(get("/api/v1/bots/" + bot + "/status", token).json(), "is_online")->as_bool());
  fake.push_telegram_message(R"({"message_id":10,"from":{"id":5,"first_name":"Li",
      "username":"li"},"chat":{"id":42,"type":"private"},"date":0,"text":"hello bot"})");
  // Streamed: sent at the first piece, then edited into the whole answer.
  EXPECT_EQ(shown(42, "Echo: hello bot"), "Echo: hello bot");
  auto out = sent(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(json_at(out[0], "chat_id")->as_int(), 42);
  EXPECT_NE(json_string(out[0], "text"), "Echo: hello bot"); // its first piece
  size_t edits = 0;
  for (auto& r : fake.requests())
    edits += r.path.ends_with("/editMessageText") ? 1 : 0;
  EXPECT_GE(edits, 1u);

  // In a group: only when mentioned (or replied to); the answer replies to the message.
  fake.push_telegram_message(R"({"message_id":11,"from":{"id":6,"first_name":"Wang"},
      "chat":{"id":-100,"type":"supergroup","title":"team"},"date":0,"text":"lunch?"})");
  fake.push_telegram_message(R"({"message_id":12,"from":{"id":6,"first_name":"Wang"},
      "chat":{"id":-100,"type":"supergroup","title":"team"},"date":0,
      "text":"@fake_bot what is up"})");
  EXPECT_EQ(shown(-100, "Echo: what is up"), "Echo: what is up");
  out = sent(2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(json_at(out[1], "chat_id")->as_int(), -100);
  EXPECT_EQ(json_at(out[1], "reply_to_message_id")->as_int(), 12);

  fake.push_telegram_message(R"({"message_id":13,"from":{"id":5},"chat":{"id":42,
      "type":"private"},"date":0,"text":"/help"})");
  out = sent(3);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_NE(json_string(out[2], "text").find("/reset"), std::string::npos);

  auto list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  EXPECT_EQ(json_int(list, "total"), 2);
  bool found = false;
  for (auto& c : json_at(list, "conversations")->as_array())
    found = found || (json_string(c, "platform") == "telegram" &&
                      json_string(c, "platform_chat_id") == "42");
  EXPECT_TRUE(found);
  // Stopping disconnects: nothing more is answered.
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/stop", "", token).status, 200);
  EXPECT_FALSE(
      json_at(get("/api/v1/bots/" + bot + "/status", token).json(), "is_online")->as_bool());
}

TEST_F(telegram_platform_test, long_answers_are_split_into_several_messages) {
  auto token = register_user("alice");
  telegram_bot(token);
  std::string words;
  for (int i = 0; words.size() < 6000; ++i)
    words += "word" + std::to_string(i) + (i % 50 == 49 ? ".\n\n" : " ");
  while (words.back() == ' ' || words.back() == '\n')
    words.pop_back();
  chatagent::protocol::json_writer w;
  w.begin_object()
      .member("message_id", 20)
      .key("chat")
      .begin_object()
      .member("id", 77)
      .member("type", "private")
      .end_object()
      .member("date", 0)
      .member("text", words)
      .end_object();
  fake.push_telegram_message(w.take());
  auto out = sent(2);
  ASSERT_EQ(out.size(), 2u);
  // Each message within Telegram's limit, cut at a paragraph; together the whole answer.
  std::string first;
  for (int i = 0; i < 200; ++i) { // the first message is edited into its final part
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    for (auto& r : fake.requests())
      if (r.path.ends_with("/editMessageText"))
        first = json_string(body_of(r), "text");
    if (first.size() > 3000)
      break;
  }
  auto second = json_string(out[1], "text");
  EXPECT_LE(first.size(), 4096u);
  EXPECT_LE(second.size(), 4096u);
  EXPECT_TRUE(first.ends_with(".")) << first.substr(first.size() - 20);
  EXPECT_EQ(first + "\n\n" + second, "Echo: " + words);
}

TEST_F(telegram_platform_test, webhook_mode_sets_the_webhook_and_answers_posted_updates) {
  auto token = register_user("alice");
  auto tg = fake.url("/tg");
  auto bot = create_bot(token, R"({"name":"Hooked","platform_type":"telegram",
      "platform_config":{"token":")" +
                                   std::string{fake_llm_server::telegram_token} +
                                   R"(","api_base_url":")" + tg + R"(",
        "webhook_url":"https://bots.example.com/api/v1/webhooks/tg","secret_token":"s3cret-Token_1"},
      "llm_config":{"provider":"openai_compatible","base_url":")" +
                                   fake.url("/v1") + R"(","model":"m"}})");
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/start", "", token).status, 200);
  auto api = std::string{"/tg/bot"} + fake_llm_server::telegram_token;
  auto set = bodies_to(api + "/setWebhook", 1);
  ASSERT_EQ(set.size(), 1u);
  EXPECT_EQ(json_string(set[0], "url"), "https://bots.example.com/api/v1/webhooks/tg");
  EXPECT_EQ(json_string(set[0], "secret_token"), "s3cret-Token_1");
  EXPECT_TRUE(online(bot, token));

  // Telegram posts each update with the secret token; a redelivered update is answered once.
  auto post_update = [&](int64_t id, const std::string& text, const std::string& key) {
    return http_request(
        "POST", url("/api/v1/webhooks/" + bot),
        R"({"update_id":)" + std::to_string(id) + R"(,"message":{"message_id":)" +
            std::to_string(id) +
            R"(,"from":{"id":5,"first_name":"Li"},"chat":{"id":42,"type":"private"},)"
            R"("date":0,"text":")" +
            text + R"("}})",
        {"Content-Type: application/json", "X-Telegram-Bot-Api-Secret-Token: " + key});
  };
  expect_error(post_update(500, "forged", "wrong"), 401, "UNAUTHORIZED");
  EXPECT_EQ(post_update(500, "via webhook", "s3cret-Token_1").status, 200);
  EXPECT_EQ(shown(42, "Echo: via webhook"), "Echo: via webhook");
  EXPECT_EQ(post_update(500, "via webhook", "s3cret-Token_1").status, 200);
  EXPECT_EQ(post_update(501, "second", "s3cret-Token_1").status, 200);
  EXPECT_EQ(shown(42, "Echo: second"), "Echo: second");
  EXPECT_EQ(sent(2).size(), 2u);
  EXPECT_TRUE(requests_to(api + "/getUpdates").empty());

  // Back to long polling: the webhook set before is deleted so that getUpdates works.
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/stop", "", token).status, 200);
  // (platform_config merges: null removes a key)
  auto res = put("/api/v1/bots/" + bot, R"({"platform_config":{"webhook_url":null}})", token);
  ASSERT_EQ(res.status, 200) << res.body;
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/start", "", token).status, 200);
  EXPECT_EQ(requests_to(api + "/deleteWebhook", 1).size(), 1u);
  fake.push_telegram_message(R"({"message_id":30,"from":{"id":5},"chat":{"id":42,
      "type":"private"},"date":0,"text":"polled again"})");
  EXPECT_EQ(shown(42, "Echo: polled again"), "Echo: polled again");
}

TEST_F(telegram_platform_test, a_bot_without_a_token_does_not_start) {
  auto token = register_user("alice");
  auto bot = create_bot(token, R"({"name":"t","platform_type":"telegram"})");
  auto res = post("/api/v1/bots/" + bot + "/start", "", token);
  expect_error(res, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(res.json(), "error.details.field"), "platform_config.token");
}

TEST_F(telegram_platform_test, a_refused_token_shows_the_bot_offline_with_errors) {
  auto token = register_user("alice");
  auto bot = create_bot(token, R"({"name":"t","platform_type":"telegram",
      "platform_config":{"token":"999:wrong","api_base":")" +
                                   fake.url("/tg") + R"("}})");
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/start", "", token).status, 200);
  chatagent::protocol::json_value status;
  for (int i = 0; i < 200; ++i) {
    status = get("/api/v1/bots/" + bot + "/status", token).json();
    if (!json_at(status, "is_online")->as_bool())
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_FALSE(json_at(status, "is_online")->as_bool());
  EXPECT_TRUE(json_at(status, "is_running")->as_bool());
  EXPECT_GE(json_int(status, "error_count"), 1);
}

TEST_F(webhook_platform_test, failed_deliveries_are_retried_and_counted) {
  auto token = register_user("alice");
  auto bot = create_bot(token, R"({"name":"h","platform_type":"webhook",
      "platform_config":{"webhook_url":")" +
                                   fake.url("/hook/fail") + R"(","secret":")" + secret + R"("}})");
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/start", "", token).status, 200);
  ASSERT_EQ(deliver(bot, R"({"event_id":"f1","chat_id":"c","text":"hi"})").status, 202);
  int64_t errors = 0;
  for (int i = 0; i < 200 && errors < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    errors = json_int(get("/api/v1/bots/" + bot + "/status", token).json(), "error_count");
  }
  EXPECT_EQ(errors, 1);
  size_t attempts = 0;
  for (auto& r : fake.requests())
    attempts += r.path == "/hook/fail" ? 1 : 0;
  EXPECT_EQ(attempts, 3u);
}

namespace {

constexpr const char* signing_secret = "8f742231b10e8888abcd99yyyzzz85a5";

class slack_platform_test : public webhook_platform_test {
 protected:
  /// A started Slack bot on the fake Slack and the fake provider, online once auth.test
  /// answered.
  std::string slack_bot(const std::string& token, const std::string& extra = "",
                        const std::string& bot_token = fake_llm_server::slack_token) {
    auto bot = create_bot(token, R"({"name":"Slacker","platform_type":"slack",
        "platform_config":{"bot_token":")" +
                                     bot_token + R"(","signing_secret":")" + signing_secret +
                                     R"(","api_base_url":")" + fake.url("/slack/api") + "\"" +
                                     extra + R"(},
        "llm_config":{"provider":"openai_compatible","base_url":")" +
                                     fake.url("/v1") + R"(","model":"m"}})");
    auto res = post("/api/v1/bots/" + bot + "/start", "", token);
    EXPECT_EQ(res.status, 200) << res.body;
    return bot;
  }

  /// POSTs `body` to the bot's Request URL as Slack does, signed with `key` at `ts`.
  http_result slack_send(const std::string& bot, const std::string& body,
                         const std::string& content_type = "application/json",
                         const std::string& key = signing_secret, int64_t ts = 0) {
    if (ts == 0)
      ts = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
    auto stamp = std::to_string(ts);
    return http_request("POST", url("/api/v1/webhooks/" + bot), body,
                        {"Content-Type: " + content_type, "X-Slack-Request-Timestamp: " + stamp,
                         "X-Slack-Signature: " + slack_signature(key, stamp, body)});
  }

  /// An `event_callback` carrying `event`.
  http_result slack_event(const std::string& bot, const std::string& event_id,
                          const std::string& event) {
    return slack_send(bot, R"({"token":"x","team_id":"T0001","api_app_id":"A1",
        "type":"event_callback","event_id":")" +
                               event_id + R"(","event_time":1700000000,"event":)" + event + "}");
  }

  /// The chat.postMessage calls, waiting until there are `n`.
  std::vector<chatagent::protocol::json_value> posts(size_t n) {
    return bodies_to("/slack/api/chat.postMessage", n);
  }

  /// What `channel` shows last (posted or updated), once it is `expected` (or after 5 s).
  std::string shown(const std::string& channel, const std::string& expected) {
    return eventually(
        [&] {
          std::string last;
          for (auto& r : fake.requests())
            if (r.path == "/slack/api/chat.postMessage" || r.path == "/slack/api/chat.update") {
              auto body = body_of(r);
              if (json_string(body, "channel") == channel)
                last = json_string(body, "text");
            }
          return last;
        },
        expected);
  }
};

} // namespace

TEST_F(slack_platform_test, url_verification_and_request_signing) {
  auto token = register_user("alice");
  auto bot = slack_bot(token);
  auto res = slack_send(
      bot,
      R"({"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"})");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json_string(res.json(), "challenge"),
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");

  std::string event = R"({"type":"url_verification","challenge":"c"})";
  expect_error(slack_send(bot, event, "application/json", "another-secret"), 401, "UNAUTHORIZED");
  auto stale = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count() -
               600;
  expect_error(slack_send(bot, event, "application/json", signing_secret, stale), 401,
               "UNAUTHORIZED");
  expect_error(http_request("POST", url("/api/v1/webhooks/" + bot), event,
                            {"Content-Type: application/json"}),
               401, "UNAUTHORIZED");
}

TEST_F(slack_platform_test, direct_messages_mentions_and_prefixes_are_answered) {
  auto token = register_user("alice");
  auto bot = slack_bot(token, R"(,"prefix":"!")");
  ASSERT_TRUE(online(bot, token));

  // A direct message: answered in the channel, streamed (posted, then updated); Slack's
  // escapes are read and written.
  ASSERT_EQ(slack_event(bot, "Ev1", R"({"type":"message","channel":"D1","channel_type":"im",
      "user":"U1","text":"is 1 &lt; 2","ts":"1.1"})")
                .status,
            200);
  EXPECT_EQ(shown("D1", "Echo: is 1 &lt; 2"), "Echo: is 1 &lt; 2");
  auto out = posts(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(json_at(out[0], "thread_ts"), nullptr);
  size_t updates = 0;
  for (auto& r : fake.requests())
    updates += r.path == "/slack/api/chat.update" ? 1 : 0;
  EXPECT_GE(updates, 1u);

  // In a channel: a plain message is not for the bot; a mention is (answered in its
  // thread); so is the prefix. Its own messages and redeliveries are not answered.
  ASSERT_EQ(slack_event(bot, "Ev2", R"({"type":"message","channel":"C1","channel_type":"channel",
      "user":"U2","text":"lunch anyone?","ts":"2.1"})")
                .status,
            200);
  ASSERT_EQ(slack_event(bot, "Ev3", R"({"type":"app_mention","channel":"C1","user":"U2",
      "text":"<@UBOT> what is up","ts":"2.2"})")
                .status,
            200);
  EXPECT_EQ(shown("C1", "Echo: what is up"), "Echo: what is up");
  out = posts(2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(json_string(out[1], "thread_ts"), "2.2");
  ASSERT_EQ(slack_event(bot, "Ev3", R"({"type":"app_mention","channel":"C1","user":"U2",
      "text":"<@UBOT> what is up","ts":"2.2"})")
                .status,
            200);
  ASSERT_EQ(slack_event(bot, "Ev4", R"({"type":"message","channel":"C1","user":"UBOT",
      "bot_id":"BBOT","text":"!Echo: what is up","ts":"2.3"})")
                .status,
            200);
  ASSERT_EQ(slack_event(bot, "Ev5", R"({"type":"message","channel":"C1","channel_type":"channel",
      "user":"U3","text":"!ping","ts":"2.4"})")
                .status,
            200);
  EXPECT_EQ(shown("C1", "Echo: ping"), "Echo: ping");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(posts(3).size(), 3u);

  auto list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  EXPECT_EQ(json_int(list, "total"), 2);
  std::vector<std::string> chats;
  for (auto& c : json_at(list, "conversations")->as_array()) {
    EXPECT_EQ(json_string(c, "platform"), "slack");
    chats.push_back(json_string(c, "platform_chat_id"));
  }
  std::sort(chats.begin(), chats.end());
  EXPECT_EQ(chats, (std::vector<std::string>{"C1", "D1"}));
  auto status = get("/api/v1/bots/" + bot + "/status", token).json();
  EXPECT_EQ(json_int(status, "message_count"), 6);
}

TEST_F(slack_platform_test, slash_commands_and_conversations_per_user) {
  auto token = register_user("alice");
  auto bot = slack_bot(token, R"(,"conversation_scope":"user")");
  ASSERT_TRUE(online(bot, token));
  auto res = slack_send(bot, "command=%2Fhelp&text=&channel_id=C9&user_id=U1&user_name=li",
                        "application/x-www-form-urlencoded");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json_string(res.json(), "response_type"), "ephemeral");
  EXPECT_NE(json_string(res.json(), "text").find("/reset"), std::string::npos);

  // Another command's text is a question, answered in the channel.
  res = slack_send(bot, "command=%2Fask&text=what+is+new&channel_id=C9&user_id=U1",
                   "application/x-www-form-urlencoded");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(shown("C9", "Echo: what is new"), "Echo: what is new");
  // One conversation per user in a channel.
  ASSERT_EQ(slack_event(bot, "Ev9", R"({"type":"app_mention","channel":"C9","user":"U2",
      "text":"<@UBOT> me too","ts":"9.1"})")
                .status,
            200);
  EXPECT_EQ(shown("C9", "Echo: me too"), "Echo: me too");
  auto list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  std::vector<std::string> chats;
  for (auto& c : json_at(list, "conversations")->as_array())
    chats.push_back(json_string(c, "platform_chat_id"));
  std::sort(chats.begin(), chats.end());
  EXPECT_EQ(chats, (std::vector<std::string>{"C9/U1", "C9/U2"}));

  // /reset archives the user's conversation: the next question starts a new one.
  res = slack_send(bot, "command=%2Freset&text=&channel_id=C9&user_id=U1",
                   "application/x-www-form-urlencoded");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_NE(shown("C9", "Done: the next message starts a new conversation.").find("Done"),
            std::string::npos);
  list = get("/api/v1/conversations/?bot_id=" + bot + "&status=archived", token).json();
  EXPECT_EQ(json_int(list, "total"), 1);
}

TEST_F(slack_platform_test, a_refused_token_or_missing_secret_is_reported) {
  auto token = register_user("alice");
  auto bot = create_bot(token, R"({"name":"s","platform_type":"slack",
      "platform_config":{"bot_token":"xoxb-1"}})");
  auto res = post("/api/v1/bots/" + bot + "/start", "", token);
  expect_error(res, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(res.json(), "error.details.field"), "platform_config.signing_secret");
  bot = create_bot(token, R"({"name":"s","platform_type":"slack","platform_config":{
      "bot_token":"xoxb-1","signing_secret":"s","conversation_scope":"team"}})");
  res = post("/api/v1/bots/" + bot + "/start", "", token);
  expect_error(res, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(res.json(), "error.details.field"), "platform_config.conversation_scope");

  bot = slack_bot(token, "", "xoxb-revoked");
  EXPECT_FALSE(online(bot, token, false));
  auto status = get("/api/v1/bots/" + bot + "/status", token).json();
  EXPECT_TRUE(json_at(status, "is_running")->as_bool());
  EXPECT_GE(json_int(status, "error_count"), 1);
}

namespace {

constexpr const char* onebot_token = "onebot-access-token";

class onebot_platform_test : public webhook_platform_test {
 protected:
  std::string onebot_bot(const std::string& token, const std::string& extra = "") {
    auto bot = create_bot(token, R"({"name":"QQ bot","platform_type":"onebot",
        "platform_config":{"access_token":")" +
                                     std::string{onebot_token} + "\"" + extra + R"(},
        "llm_config":{"provider":"openai_compatible","base_url":")" +
                                     fake.url("/v1") + R"(","model":"m"}})");
    auto res = post("/api/v1/bots/" + bot + "/start", "", token);
    EXPECT_EQ(res.status, 200) << res.body;
    return bot;
  }

  /// The implementation (NapCat, Lagrange...) connecting as a reverse WebSocket.
  std::unique_ptr<ws_client> connect(const std::string& bot,
                                     const std::string& access = onebot_token) {
    return std::make_unique<ws_client>(server->port(), "/api/v1/webhooks/" + bot, 0,
                                       std::vector<std::string>{"Authorization: Bearer " + access,
                                                                "X-Self-ID: 10001",
                                                                "X-Client-Role: Universal"});
  }

  /// The next action the bot sends; answered as the implementation does.
  chatagent::protocol::json_value next_action(ws_client& ws, int64_t message_id = 900) {
    auto frame = ws.next_text(5000);
    if (!frame)
      return {};
    auto doc = chatagent::protocol::parse_json(*frame);
    if (!doc)
      return {};
    ws.send_text(R"({"status":"ok","retcode":0,"data":{"message_id":)" +
                 std::to_string(message_id) + R"(},"echo":")" + json_string(*doc, "echo") + "\"}");
    return std::move(*doc);
  }

  static std::string message_event(const std::string& type, int64_t id, const std::string& message,
                                   int64_t group = 0) {
    return R"({"time":1700000000,"self_id":10001,"post_type":"message","message_type":")" + type +
           R"(","sub_type":"normal","message_id":)" + std::to_string(id) + R"(,"user_id":20002,)" +
           (group != 0 ? R"("group_id":)" + std::to_string(group) + "," : std::string{}) +
           R"("message":)" + message +
           R"(,"raw_message":"","font":0,"sender":{"user_id":20002,"nickname":"Li","card":""}})";
  }
};

} // namespace

TEST_F(onebot_platform_test, a_reverse_websocket_receives_messages_and_sends_answers) {
  auto token = register_user("alice");
  auto bot = onebot_bot(token);
  EXPECT_FALSE(online(bot, token, false)); // until the implementation connects

  // A wrong access token is refused at the handshake.
  auto intruder = connect(bot, "wrong-token");
  EXPECT_EQ(intruder->status(), 401);

  auto ws = connect(bot);
  ASSERT_EQ(ws->status(), 101) << ws->refusal();
  EXPECT_TRUE(online(bot, token));
  ws->send_text(R"({"time":1700000000,"self_id":10001,"post_type":"meta_event",
      "meta_event_type":"lifecycle","sub_type":"connect"})");

  // A private message (array form) → send_private_msg with the whole answer.
  ws->send_text(message_event("private", 1, R"([{"type":"text","data":{"text":"hello qq"}}])"));
  auto action = next_action(*ws);
  EXPECT_EQ(json_string(action, "action"), "send_private_msg");
  EXPECT_EQ(json_at(action, "params.user_id")->as_int(), 20002);
  EXPECT_EQ(json_string(action, "params.message.0.type"), "text");
  EXPECT_EQ(json_string(action, "params.message.0.data.text"), "Echo: hello qq");

  // In a group (CQ-code form): only when @-mentioned; the answer replies to the message.
  ws->send_text(message_event("group", 2, R"("lunch anyone?")", 30003));
  ws->send_text(message_event("group", 3, R"("[CQ:at,qq=10001] what is up")", 30003));
  action = next_action(*ws);
  EXPECT_EQ(json_string(action, "action"), "send_group_msg");
  EXPECT_EQ(json_at(action, "params.group_id")->as_int(), 30003);
  EXPECT_EQ(json_string(action, "params.message.0.type"), "reply");
  EXPECT_EQ(json_string(action, "params.message.0.data.id"), "3");
  EXPECT_EQ(json_string(action, "params.message.1.data.text"), "Echo: what is up");

  // Delivered again (the same message id): not answered twice; /help answers at once.
  ws->send_text(message_event("group", 3, R"("[CQ:at,qq=10001] what is up")", 30003));
  ws->send_text(message_event("private", 4, R"("/help")"));
  action = next_action(*ws);
  EXPECT_EQ(json_string(action, "action"), "send_private_msg");
  EXPECT_NE(json_string(action, "params.message.0.data.text").find("/reset"), std::string::npos);

  auto list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  std::vector<std::string> chats;
  for (auto& c : json_at(list, "conversations")->as_array()) {
    EXPECT_EQ(json_string(c, "platform"), "onebot");
    chats.push_back(json_string(c, "platform_chat_id"));
  }
  std::sort(chats.begin(), chats.end());
  EXPECT_EQ(chats, (std::vector<std::string>{"group:30003", "private:20002"}));

  // The connection drops: offline, counted; the implementation reconnects.
  ws.reset();
  EXPECT_FALSE(online(bot, token, false));
  EXPECT_GE(json_int(get("/api/v1/bots/" + bot + "/status", token).json(), "error_count"), 1);
  ws = connect(bot);
  ASSERT_EQ(ws->status(), 101);
  ws->send_text(message_event("private", 5, R"("back")"));
  EXPECT_EQ(json_string(next_action(*ws), "params.message.0.data.text"), "Echo: back");
}

TEST_F(onebot_platform_test, configuration_is_checked_at_start) {
  auto token = register_user("alice");
  auto bot = create_bot(token, R"({"name":"q","platform_type":"onebot"})");
  auto res = post("/api/v1/bots/" + bot + "/start", "", token);
  expect_error(res, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(res.json(), "error.details.field"), "platform_config.access_token");
  // A stopped bot refuses the connection.
  bot = create_bot(token, R"({"name":"q","platform_type":"onebot",
      "platform_config":{"access_token":"onebot-access-token"}})");
  auto ws = connect(bot);
  EXPECT_EQ(ws->status(), 503) << ws->refusal();
}

TEST_F(onebot_platform_test, a_forward_websocket_connects_reconnects_and_disconnects_at_stop) {
  fake_ws_server impl{std::string{"Bearer "} + onebot_token};
  auto token = register_user("alice");
  auto bot = onebot_bot(token, R"(,"ws_url":")" + impl.url("/") + "\"");
  ASSERT_TRUE(impl.wait_connections(1));
  EXPECT_TRUE(online(bot, token));
  // The server connects to the implementation: the reverse path is refused.
  EXPECT_EQ(connect(bot)->status(), 400);

  auto answer = [&](const std::string& event) {
    impl.send_text(event);
    auto frame = impl.next_text(5000);
    if (!frame)
      return chatagent::protocol::json_value{};
    auto doc = chatagent::protocol::parse_json(*frame);
    impl.send_text(R"({"status":"ok","retcode":0,"data":{"message_id":1},"echo":")" +
                   json_string(*doc, "echo") + "\"}");
    return std::move(*doc);
  };
  auto action = answer(message_event("private", 1, R"("hello forward")"));
  EXPECT_EQ(json_string(action, "action"), "send_private_msg");
  EXPECT_EQ(json_string(action, "params.message.0.data.text"), "Echo: hello forward");

  // The implementation goes away: offline and counted, then connected again.
  impl.drop();
  ASSERT_TRUE(impl.wait_connections(2));
  EXPECT_TRUE(online(bot, token));
  EXPECT_GE(json_int(get("/api/v1/bots/" + bot + "/status", token).json(), "error_count"), 1);
  action = answer(message_event("private", 2, R"("again")"));
  EXPECT_EQ(json_string(action, "params.message.0.data.text"), "Echo: again");

  // Stopping the bot closes the connection.
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/stop", "", token).status, 200);
  EXPECT_TRUE(impl.wait_closed());
}

TEST_F(onebot_platform_test, a_forward_websocket_that_refuses_is_retried_and_counted) {
  fake_ws_server impl{"Bearer another-token"};
  auto token = register_user("alice");
  auto bot = onebot_bot(token, R"(,"ws_url":")" + impl.url("/") + "\"");
  int64_t errors = 0;
  for (int i = 0; i < 200 && errors < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    errors = json_int(get("/api/v1/bots/" + bot + "/status", token).json(), "error_count");
  }
  EXPECT_GE(errors, 2); // refused, then refused again after the backoff
  auto status = get("/api/v1/bots/" + bot + "/status", token).json();
  EXPECT_FALSE(json_at(status, "is_online")->as_bool());
  EXPECT_TRUE(json_at(status, "is_running")->as_bool());
}

namespace {

class discord_platform_test : public webhook_platform_test {
 protected:
  std::string discord_bot(const std::string& token) {
    fake.set_discord_gateway(gateway.url(""));
    auto bot = create_bot(token, R"({"name":"Disco","platform_type":"discord",
        "platform_config":{"token":")" +
                                     std::string{fake_llm_server::discord_token} +
                                     R"(","api_base_url":")" + fake.url("/discord/api") + R"("},
        "llm_config":{"provider":"openai_compatible","base_url":")" +
                                     fake.url("/v1") + R"(","model":"m"}})");
    auto res = post("/api/v1/bots/" + bot + "/start", "", token);
    EXPECT_EQ(res.status, 200) << res.body;
    return bot;
  }

  /// The bot's next gateway frame other than a heartbeat (heartbeats are counted, and
  /// acknowledged when `ack`).
  chatagent::protocol::json_value next_op(bool ack = true) {
    for (;;) {
      auto frame = gateway.next_text(5000);
      if (!frame)
        return {};
      auto doc = chatagent::protocol::parse_json(*frame);
      if (!doc)
        return {};
      if (json_int(*doc, "op") == 1) {
        ++heartbeats;
        if (ack)
          gateway.send_text(R"({"op":11,"d":null})");
        continue;
      }
      return std::move(*doc);
    }
  }

  void hello(int interval_ms = 45000) {
    gateway.send_text(R"({"op":10,"d":{"heartbeat_interval":)" + std::to_string(interval_ms) +
                      "}}");
  }

  void dispatch(const std::string& type, const std::string& data) {
    gateway.send_text(R"({"op":0,"t":")" + type + R"(","s":)" + std::to_string(++seq) + R"(,"d":)" +
                      data + "}");
  }

  void ready() {
    dispatch("READY", R"({"v":10,"session_id":"sess-1","resume_gateway_url":")" + gateway.url("") +
                          R"(","user":{"id":"999","username":"disco","bot":true},"guilds":[]})");
  }

  /// What channel `channel` shows last (posted or edited), once it is `expected`.
  std::string shown(const std::string& channel, const std::string& expected) {
    auto prefix = "/discord/api/channels/" + channel + "/messages";
    return eventually(
        [&] {
          std::string last;
          for (auto& r : requests_to(prefix))
            last = json_string(body_of(r), "content");
          return last;
        },
        expected);
  }

  fake_ws_server gateway;
  int64_t seq = 0;
  int heartbeats = 0;
};

} // namespace

TEST_F(discord_platform_test, identifies_and_answers_direct_messages_and_mentions) {
  auto token = register_user("alice");
  auto bot = discord_bot(token);
  ASSERT_TRUE(gateway.wait_connections(1));
  hello();
  auto identify = next_op();
  EXPECT_EQ(json_int(identify, "op"), 2);
  EXPECT_EQ(json_string(identify, "d.token"), fake_llm_server::discord_token);
  EXPECT_EQ(json_int(identify, "d.intents"), (1 << 9) | (1 << 12) | (1 << 15));
  ready();
  ASSERT_TRUE(online(bot, token));

  // A direct message: streamed (posted, then edited).
  dispatch("MESSAGE_CREATE", R"({"id":"m1","channel_id":"dm1","author":{"id":"u1",
      "username":"li"},"content":"hello discord","mentions":[]})");
  EXPECT_EQ(shown("dm1", "Echo: hello discord"), "Echo: hello discord");
  size_t posts = 0;
  size_t edits = 0;
  for (auto& r : fake.requests()) {
    posts += r.method == "POST" && r.path == "/discord/api/channels/dm1/messages" ? 1 : 0;
    edits += r.method == "PATCH" ? 1 : 0;
  }
  EXPECT_EQ(posts, 1u);
  EXPECT_GE(edits, 1u);

  // In a server: only mentions (answered as a reply); bots are ignored.
  dispatch("MESSAGE_CREATE", R"({"id":"m2","guild_id":"g1","channel_id":"c1","author":{
      "id":"u2","username":"wang"},"content":"lunch?","mentions":[]})");
  dispatch("MESSAGE_CREATE", R"({"id":"m3","guild_id":"g1","channel_id":"c1","author":{
      "id":"u3","username":"bot2","bot":true},"content":"<@999> hi","mentions":[{"id":"999"}]})");
  dispatch("MESSAGE_CREATE", R"({"id":"m4","guild_id":"g1","channel_id":"c1","author":{
      "id":"u2","username":"wang"},"content":"<@999> what is up","mentions":[{"id":"999"}]})");
  EXPECT_EQ(shown("c1", "Echo: what is up"), "Echo: what is up");
  std::vector<chatagent::protocol::json_value> to_c1;
  for (auto& r : fake.requests())
    if (r.method == "POST" && r.path == "/discord/api/channels/c1/messages")
      to_c1.push_back(body_of(r));
  ASSERT_EQ(to_c1.size(), 1u);
  EXPECT_EQ(json_string(to_c1[0], "message_reference.message_id"), "m4");

  auto list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  EXPECT_EQ(json_int(list, "total"), 2);
  // Stopping closes the gateway connection.
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/stop", "", token).status, 200);
  EXPECT_TRUE(gateway.wait_closed());
}

TEST_F(discord_platform_test, heartbeats_and_resumes_after_a_lost_connection) {
  auto token = register_user("alice");
  auto bot = discord_bot(token);
  ASSERT_TRUE(gateway.wait_connections(1));
  hello(600); // fast heartbeats
  EXPECT_EQ(json_int(next_op(), "op"), 2);
  ready();
  // Heartbeats come at the interval and carry the last sequence number.
  for (int i = 0; i < 40 && heartbeats < 3; ++i) {
    auto frame = gateway.next_text(250);
    if (!frame)
      continue;
    auto doc = chatagent::protocol::parse_json(*frame);
    if (doc && json_int(*doc, "op") == 1) {
      ++heartbeats;
      EXPECT_EQ(json_int(*doc, "d"), seq);
      gateway.send_text(R"({"op":11,"d":null})");
    }
  }
  EXPECT_GE(heartbeats, 3);
  EXPECT_EQ(gateway.wait_connections(2, 100), false); // acknowledged: the same connection

  // Heartbeats stop being acknowledged (a zombie connection): the bot reconnects and
  // resumes its session with the last sequence number.
  ASSERT_TRUE(gateway.wait_connections(2));
  hello(45000);
  auto resume = next_op();
  EXPECT_EQ(json_int(resume, "op"), 6);
  EXPECT_EQ(json_string(resume, "d.session_id"), "sess-1");
  EXPECT_EQ(json_int(resume, "d.seq"), seq);
  dispatch("RESUMED", "{}");
  EXPECT_TRUE(online(bot, token));
  dispatch("MESSAGE_CREATE", R"({"id":"m1","channel_id":"dm1","author":{"id":"u1",
      "username":"li"},"content":"still there?","mentions":[]})");
  EXPECT_EQ(shown("dm1", "Echo: still there?"), "Echo: still there?");

  // The connection drops: resumed again, counted as a failure.
  gateway.drop();
  ASSERT_TRUE(gateway.wait_connections(3));
  hello(45000);
  EXPECT_EQ(json_int(next_op(), "op"), 6);
  EXPECT_GE(json_int(get("/api/v1/bots/" + bot + "/status", token).json(), "error_count"), 2);

  // Discord invalidates the session: the bot identifies anew.
  gateway.send_text(R"({"op":9,"d":false})");
  ASSERT_TRUE(gateway.wait_connections(4));
  hello(45000);
  EXPECT_EQ(json_int(next_op(), "op"), 2);
}

TEST_F(discord_platform_test, an_authentication_failure_stops_reconnecting) {
  auto token = register_user("alice");
  auto bot = discord_bot(token);
  ASSERT_TRUE(gateway.wait_connections(1));
  hello();
  EXPECT_EQ(json_int(next_op(), "op"), 2);
  gateway.close(4004, "Authentication failed.");
  EXPECT_FALSE(online(bot, token, false));
  EXPECT_FALSE(gateway.wait_connections(2, 2500)); // no retry can fix a token
  auto status = get("/api/v1/bots/" + bot + "/status", token).json();
  EXPECT_GE(json_int(status, "error_count"), 1);
  EXPECT_TRUE(json_at(status, "is_running")->as_bool());
}

namespace {

constexpr const char* lark_verification = "lark-verification-token";
constexpr const char* lark_encrypt_key = "lark-encrypt-key";

/// What Lark sends when the app has an Encrypt Key: base64(iv + AES-256-CBC(SHA-256(key))).
std::string lark_encrypt(const std::string& key, const std::string& plain) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  unsigned char iv[16];
  for (int i = 0; i < 16; ++i)
    iv[i] = static_cast<unsigned char>(i * 7 + 3);
  std::string out(reinterpret_cast<char*>(iv), 16);
  out.resize(16 + plain.size() + 16);
  auto* ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  int tail = 0;
  EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), nullptr, digest, iv);
  EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()) + 16, &n,
                    reinterpret_cast<const unsigned char*>(plain.data()),
                    static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + 16 + n, &tail);
  EVP_CIPHER_CTX_free(ctx);
  out.resize(static_cast<size_t>(16 + n + tail));
  std::string b64(4 * ((out.size() + 2) / 3) + 1, '\0');
  auto len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                             reinterpret_cast<const unsigned char*>(out.data()),
                             static_cast<int>(out.size()));
  b64.resize(static_cast<size_t>(len));
  return b64;
}

class lark_platform_test : public webhook_platform_test {
 protected:
  std::string lark_bot(const std::string& token, const std::string& extra = "") {
    auto bot =
        create_bot(token, R"({"name":"Feishu bot","platform_type":"lark",
        "platform_config":{"app_id":")" +
                              std::string{fake_llm_server::lark_app_id} + R"(","app_secret":")" +
                              fake_llm_server::lark_app_secret + R"(","verification_token":")" +
                              lark_verification + R"(","api_base_url":")" +
                              fake.url("/lark/open-apis") + "\"" + extra + R"(},
        "llm_config":{"provider":"openai_compatible","base_url":")" +
                              fake.url("/v1") + R"(","model":"m"}})");
    auto res = post("/api/v1/bots/" + bot + "/start", "", token);
    EXPECT_EQ(res.status, 200) << res.body;
    return bot;
  }

  /// `content`: the text of a `text` message, the content object of another type.
  static std::string message_event(const std::string& event_id, const std::string& message_id,
                                   const std::string& chat_type, const std::string& content,
                                   const std::string& mentions = "[]",
                                   const std::string& type = "text") {
    chatagent::protocol::json_writer text;
    if (type == "text")
      text.begin_object().member("text", content).end_object();
    else
      text.raw(content);
    chatagent::protocol::json_writer w;
    w.begin_object()
        .member("schema", "2.0")
        .key("header")
        .begin_object()
        .member("event_id", event_id)
        .member("event_type", "im.message.receive_v1")
        .member("create_time", "1700000000000")
        .member("token", lark_verification)
        .member("app_id", fake_llm_server::lark_app_id)
        .end_object()
        .key("event")
        .begin_object()
        .key("sender")
        .begin_object()
        .key("sender_id")
        .begin_object()
        .member("open_id", "ou_user")
        .end_object()
        .member("sender_type", "user")
        .end_object()
        .key("message")
        .begin_object()
        .member("message_id", message_id)
        .member("chat_id", chat_type == "p2p" ? "oc_p2p" : "oc_group")
        .member("chat_type", chat_type)
        .member("message_type", type)
        .member("content", text.take())
        .key("mentions")
        .raw(mentions)
        .end_object()
        .end_object()
        .end_object();
    return w.take();
  }

  /// The replies the fake Lark received, waiting until there are `n`.
  std::vector<fake_llm_server::request> replies(size_t n) {
    std::vector<fake_llm_server::request> out;
    for (int i = 0; i < 200; ++i) {
      out.clear();
      for (auto& r : requests_to("/lark/open-apis/im/v1/messages/"))
        if (r.path.ends_with("/reply"))
          out.push_back(r);
      if (out.size() >= n)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return out;
  }

  /// What the (first) reply to message `id` shows last, once it is `expected` (or after
  /// 10 s): the reply's text, then its edits' (the fake names it re_<id>_1).
  std::string shown(const std::string& id, const std::string& expected) {
    std::string now;
    for (int i = 0; i < 400 && (now = shown_now(id)) != expected; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    return now;
  }

  std::string shown_now(const std::string& id) {
    std::string last;
    for (auto& r : fake.requests())
      if (r.path == "/lark/open-apis/im/v1/messages/" + id + "/reply" ||
          (r.method == "PUT" && r.path == "/lark/open-apis/im/v1/messages/re_" + id + "_1"))
        last = reply_text(r);
    return last;
  }

  static std::string reply_text(const fake_llm_server::request& r) {
    auto content = chatagent::protocol::parse_json(json_string(body_of(r), "content"));
    return content ? json_string(*content, "text") : std::string{};
  }
};

} // namespace

TEST_F(lark_platform_test, events_are_verified_and_answered_as_replies) {
  auto token = register_user("alice");
  auto bot = lark_bot(token);
  auto res = deliver_raw(bot, R"({"challenge":"ch-1","token":")" + std::string{lark_verification} +
                                  R"(","type":"url_verification"})");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json_string(res.json(), "challenge"), "ch-1");
  expect_error(deliver_raw(bot, R"({"challenge":"c","token":"forged","type":"url_verification"})"),
               401, "UNAUTHORIZED");

  ASSERT_EQ(deliver_raw(bot, message_event("ev1", "om_1", "p2p", "hello lark")).status, 200);
  auto got = replies(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "/lark/open-apis/im/v1/messages/om_1/reply");
  EXPECT_EQ(got[0].headers.at("authorization"), "Bearer t-test-token");
  EXPECT_EQ(shown("om_1", "Echo: hello lark"), "Echo: hello lark"); // streamed: edited

  // Groups: only when the bot is @-mentioned; a redelivered event is handled once.
  ASSERT_EQ(deliver_raw(bot, message_event("ev2", "om_2", "group", "lunch?")).status, 200);
  auto mention = R"([{"key":"@_user_1","id":{"open_id":"ou_bot"},"name":"Feishu bot"}])";
  ASSERT_EQ(deliver_raw(bot, message_event("ev3", "om_3", "group", "@_user_1 what is up", mention))
                .status,
            200);
  ASSERT_EQ(deliver_raw(bot, message_event("ev3", "om_3", "group", "@_user_1 what is up", mention))
                .status,
            200);
  got = replies(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].path, "/lark/open-apis/im/v1/messages/om_3/reply");
  EXPECT_EQ(shown("om_3", "Echo: what is up"), "Echo: what is up");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(replies(0).size(), 2u); // (0: as they are now)
  EXPECT_TRUE(
      json_at(get("/api/v1/bots/" + bot + "/status", token).json(), "is_online")->as_bool());
}

TEST_F(lark_platform_test, encrypted_events_are_decrypted_and_signatures_checked) {
  auto token = register_user("alice");
  auto bot = lark_bot(token, R"(,"encrypt_key":")" + std::string{lark_encrypt_key} + "\"");
  auto body = R"({"encrypt":")" +
              lark_encrypt(lark_encrypt_key, message_event("ev9", "om_9", "p2p", "secret hi")) +
              "\"}";
  std::string ts = "1700000000";
  std::string nonce = "n0nce";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  auto signed_text = ts + nonce + lark_encrypt_key + body;
  SHA256(reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), digest);
  std::string sig;
  for (unsigned char c : digest) {
    static constexpr char hex[] = "0123456789abcdef";
    sig.push_back(hex[c >> 4]);
    sig.push_back(hex[c & 15]);
  }
  auto send = [&](const std::string& signature) {
    return http_request("POST", url("/api/v1/webhooks/" + bot), body,
                        {"Content-Type: application/json", "X-Lark-Request-Timestamp: " + ts,
                         "X-Lark-Request-Nonce: " + nonce, "X-Lark-Signature: " + signature});
  };
  expect_error(send(std::string(64, '0')), 401, "UNAUTHORIZED");
  ASSERT_EQ(send(sig).status, 200);
  auto got = replies(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(shown("om_9", "Echo: secret hi"), "Echo: secret hi");
  // Unencrypted events are refused once the app encrypts.
  expect_error(deliver_raw(bot, message_event("ev10", "om_10", "p2p", "plain")), 401,
               "UNAUTHORIZED");
}

namespace {

constexpr const char* dingtalk_secret = "dingtalk-app-secret";

class dingtalk_platform_test : public webhook_platform_test {
 protected:
  std::string dingtalk_bot(const std::string& token, const std::string& extra = "") {
    auto bot = create_bot(token, R"({"name":"Ding","platform_type":"dingtalk",
        "platform_config":{"app_secret":")" +
                                     std::string{dingtalk_secret} + R"(","api_base_url":")" +
                                     fake.url("/dingtalk") + "\"" + extra + R"(},
        "llm_config":{"provider":"openai_compatible","base_url":")" +
                                     fake.url("/v1") + R"(","model":"m"}})");
    auto res = post("/api/v1/bots/" + bot + "/start", "", token);
    EXPECT_EQ(res.status, 200) << res.body;
    return bot;
  }

  /// A robot message: `text`, or a voice message (`msgtype` "audio") whose recognised
  /// words are `text`; `type` "1" private, "2" group.
  static std::string robot_message(const std::string& msg_id, const std::string& type,
                                   const std::string& text, const std::string& webhook,
                                   const std::string& msgtype = "text") {
    chatagent::protocol::json_writer w;
    w.begin_object().member("msgtype", msgtype);
    if (msgtype == "audio")
      w.key("content")
          .begin_object()
          .member("downloadCode", "dl-voice-1")
          .member("recognition", text)
          .end_object();
    else
      w.key("text").begin_object().member("content", text).end_object();
    w.member("msgId", msg_id)
        .member("conversationType", type)
        .member("conversationId", type == "1" ? "cid-private" : "cid-group")
        .member("conversationTitle", "team")
        .member("senderNick", "Li")
        .member("senderStaffId", "staff-7")
        .member("isInAtList", true)
        .member("sessionWebhook", webhook)
        .end_object();
    return w.take();
  }

  /// The message as DingTalk's HTTP mode delivers it, signed with `secret`.
  http_result ding(const std::string& bot, const std::string& msg_id, const std::string& type,
                   const std::string& text, const std::string& webhook,
                   const std::string& secret = dingtalk_secret,
                   const std::string& msgtype = "text") {
    auto ts = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
    return http_request("POST", url("/api/v1/webhooks/" + bot),
                        robot_message(msg_id, type, text, webhook, msgtype),
                        {"Content-Type: application/json", "timestamp: " + ts,
                         "sign: " + dingtalk_signature(secret, ts)});
  }

  std::vector<chatagent::protocol::json_value> sent(size_t n) {
    return bodies_to("/dingtalk/robot/sendBySession", n);
  }
};

} // namespace

TEST_F(dingtalk_platform_test, signed_messages_are_answered_through_the_session_webhook) {
  auto token = register_user("alice");
  auto bot = dingtalk_bot(token);
  auto hook = fake.url("/dingtalk/robot/sendBySession?session=s1");
  ASSERT_EQ(ding(bot, "msg1", "1", " hello ding", hook).status, 200);
  auto out = sent(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(json_string(out[0], "msgtype"), "text");
  EXPECT_EQ(json_string(out[0], "text.content"), "Echo: hello ding");
  EXPECT_EQ(json_at(out[0], "at"), nullptr);

  // In a group the answer @s the asker; a redelivered msgId is handled once.
  ASSERT_EQ(ding(bot, "msg2", "2", "what is up", hook).status, 200);
  ASSERT_EQ(ding(bot, "msg2", "2", "what is up", hook).status, 200);
  out = sent(2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(json_string(out[1], "text.content"), "Echo: what is up");
  EXPECT_EQ(json_string(out[1], "at.atUserIds.0"), "staff-7");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(sent(0).size(), 2u);

  // Refused: a wrong signature, and answers meant for another host.
  expect_error(ding(bot, "msg3", "1", "hi", hook, "wrong-secret"), 401, "UNAUTHORIZED");
  auto res = ding(bot, "msg4", "1", "hi", "http://169.254.169.254/latest/meta-data");
  expect_error(res, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(res.json(), "error.details.field"), "sessionWebhook");

  auto list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  EXPECT_EQ(json_int(list, "total"), 2);

  // A voice message is answered from DingTalk's recognition of it; the recording is listed.
  ASSERT_EQ(ding(bot, "msg5", "1", "what time is it", hook, dingtalk_secret, "audio").status, 200);
  out = sent(3);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(json_string(out[2], "text.content"), "Echo: what time is it");
  std::string conv;
  list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  for (auto& c : json_at(list, "conversations")->as_array())
    if (json_string(c, "platform_chat_id") == "cid-private")
      conv = json_string(c, "id");
  auto history = get("/api/v1/conversations/" + conv + "/messages", token).json();
  EXPECT_EQ(json_string(history, "messages.2.metadata.attachments.0"), "voice:dl-voice-1");
  EXPECT_EQ(json_string(history, "messages.2.metadata.platform_user_name"), "Li");
}

namespace {

constexpr const char* wecom_token = "wecom-callback-token";

class wecom_platform_test : public webhook_platform_test {
 protected:
  void SetUp() override {
    webhook_platform_test::SetUp();
    for (int i = 0; i < 32; ++i)
      key[i] = static_cast<unsigned char>(i * 5 + 1);
    std::string b64(48, '\0');
    auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), key, 32);
    b64.resize(static_cast<size_t>(n));
    aes_key = b64.substr(0, 43); // WeCom's form: the base64 without its '='
  }

  std::string wecom_bot(const std::string& token) {
    auto bot = create_bot(token, R"({"name":"WeCom bot","platform_type":"wecom",
        "platform_config":{"corp_id":")" +
                                     std::string{fake_llm_server::wecom_corp_id} +
                                     R"(","agent_id":"1000002","secret":")" +
                                     fake_llm_server::wecom_secret + R"(","token":")" +
                                     wecom_token + R"(","encoding_aes_key":")" + aes_key +
                                     R"(","api_base_url":")" + fake.url("/wecom") + R"("},
        "llm_config":{"provider":"openai_compatible","base_url":")" +
                                     fake.url("/v1") + R"(","model":"m"}})");
    auto res = post("/api/v1/bots/" + bot + "/start", "", token);
    EXPECT_EQ(res.status, 200) << res.body;
    return bot;
  }

  /// WXBizMsgCrypt: base64(AES-256-CBC(random16 + len + msg + corp, PKCS#7 to 32)).
  std::string encrypt(const std::string& msg, const std::string& corp) {
    std::string plain(16, 'r');
    uint32_t len = static_cast<uint32_t>(msg.size());
    for (int shift : {24, 16, 8, 0})
      plain.push_back(static_cast<char>((len >> shift) & 0xFF));
    plain += msg + corp;
    auto pad = 32 - plain.size() % 32;
    plain.append(pad, static_cast<char>(pad));
    std::string out(plain.size(), '\0');
    auto* ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    int tail = 0;
    EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), nullptr, key, key);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &n,
                      reinterpret_cast<const unsigned char*>(plain.data()),
                      static_cast<int>(plain.size()));
    EVP_EncryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + n, &tail);
    EVP_CIPHER_CTX_free(ctx);
    std::string b64(4 * ((out.size() + 2) / 3) + 1, '\0');
    auto m = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                             reinterpret_cast<const unsigned char*>(out.data()),
                             static_cast<int>(out.size()));
    b64.resize(static_cast<size_t>(m));
    return b64;
  }

  std::vector<chatagent::protocol::json_value> sent(size_t n) {
    return bodies_to("/wecom/cgi-bin/message/send", n);
  }

  unsigned char key[32];
  std::string aes_key;
};

} // namespace

TEST_F(wecom_platform_test, the_url_is_verified_and_encrypted_messages_are_answered) {
  auto token = register_user("alice");
  auto bot = wecom_bot(token);
  // URL verification: the decrypted echostr comes back.
  auto echo = encrypt("echo-1234567890", fake_llm_server::wecom_corp_id);
  auto sig = chatagent::adapters::wecom_signature(wecom_token, "1700000000", "nonce1", echo);
  auto res = get(
      "/api/v1/webhooks/" + bot + "?msg_signature=" + sig +
          "&timestamp=1700000000&nonce=nonce1&echostr=" + chatagent::protocol::form_escape(echo),
      "");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.body, "echo-1234567890");
  res = get(
      "/api/v1/webhooks/" + bot + "?msg_signature=" + std::string(40, '0') +
          "&timestamp=1700000000&nonce=nonce1&echostr=" + chatagent::protocol::form_escape(echo),
      "");
  expect_error(res, 401, "UNAUTHORIZED");

  // A text message, encrypted and signed: answered through message/send.
  auto message = encrypt(R"(<xml><ToUserName><![CDATA[ww_test_corp]]></ToUserName>)"
                         R"(<FromUserName><![CDATA[zhangsan]]></FromUserName>)"
                         R"(<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>)"
                         R"(<Content><![CDATA[hello wecom]]></Content><MsgId>123456</MsgId>)"
                         R"(<AgentID>1000002</AgentID></xml>)",
                         fake_llm_server::wecom_corp_id);
  auto body = "<xml><ToUserName><![CDATA[ww_test_corp]]></ToUserName><Encrypt><![CDATA[" + message +
              "]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>";
  auto msig = chatagent::adapters::wecom_signature(wecom_token, "1700000001", "nonce2", message);
  auto target =
      "/api/v1/webhooks/" + bot + "?msg_signature=" + msig + "&timestamp=1700000001&nonce=nonce2";
  ASSERT_EQ(http_request("POST", url(target), body, {"Content-Type: text/xml"}).status, 200);
  ASSERT_EQ(http_request("POST", url(target), body, {"Content-Type: text/xml"}).status, 200);
  auto out = sent(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(json_string(out[0], "touser"), "zhangsan");
  EXPECT_EQ(json_int(out[0], "agentid"), 1000002);
  EXPECT_EQ(json_string(out[0], "text.content"), "Echo: hello wecom");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(sent(0).size(), 1u); // the redelivery was not answered again

  // Meant for another corporation: refused.
  auto other = encrypt("<xml></xml>", "ww_other");
  auto osig = chatagent::adapters::wecom_signature(wecom_token, "1700000002", "n3", other);
  res = http_request(
      "POST",
      url("/api/v1/webhooks/" + bot + "?msg_signature=" + osig + "&timestamp=1700000002&nonce=n3"),
      "<xml><Encrypt><![CDATA[" + other + "]]></Encrypt></xml>", {"Content-Type: text/xml"});
  expect_error(res, 401, "UNAUTHORIZED");
}

TEST_F(telegram_platform_test, captions_of_photos_are_questions_and_files_are_listed) {
  auto token = register_user("alice");
  auto bot = telegram_bot(token);
  fake.push_telegram_message(R"({"message_id":30,"from":{"id":5,"first_name":"Li"},
      "chat":{"id":88,"type":"private"},"date":0,"caption":"what is this",
      "photo":[{"file_id":"small","width":90,"height":90},
               {"file_id":"big","width":800,"height":800}]})");
  EXPECT_EQ(shown(88, "Echo: what is this"), "Echo: what is this");
  auto list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  auto conv = json_string(list, "conversations.0.id");
  auto history = get("/api/v1/conversations/" + conv + "/messages", token).json();
  EXPECT_EQ(json_string(history, "messages.0.metadata.attachments.0"), "image:big");
}

TEST_F(slack_platform_test, shared_files_with_words_are_answered_and_listed) {
  auto token = register_user("alice");
  auto bot = slack_bot(token);
  ASSERT_TRUE(online(bot, token));
  ASSERT_EQ(slack_event(bot, "EvF", R"({"type":"message","subtype":"file_share",
      "channel":"D7","channel_type":"im","user":"U1","text":"see the file","ts":"7.1",
      "files":[{"id":"F1","name":"a.pdf","url_private":"https://files.slack.com/F1/a.pdf"}]})")
                .status,
            200);
  EXPECT_EQ(shown("D7", "Echo: see the file"), "Echo: see the file");
  // Edits and joins are not questions.
  ASSERT_EQ(slack_event(bot, "EvE", R"({"type":"message","subtype":"message_changed",
      "channel":"D7","channel_type":"im","user":"U1","text":"edited","ts":"7.2"})")
                .status,
            200);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(posts(0).size(), 1u);
  auto list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  auto conv = json_string(list, "conversations.0.id");
  auto history = get("/api/v1/conversations/" + conv + "/messages", token).json();
  EXPECT_EQ(json_string(history, "messages.0.metadata.attachments.0"),
            "file:https://files.slack.com/F1/a.pdf");
  EXPECT_EQ(json_string(history, "messages.0.metadata.chat_type"), "private");
}

TEST_F(lark_platform_test, rich_text_posts_are_read_with_their_images_listed) {
  auto token = register_user("alice");
  auto bot = lark_bot(token);
  // A `post` message: title and lines are the question; its images are listed.
  chatagent::protocol::json_writer post;
  post.begin_object()
      .member("title", "Report")
      .key("content")
      .raw(R"([[{"tag":"text","text":"line one"}],[{"tag":"img","image_key":"img_v2_1"}],)"
           R"([{"tag":"text","text":"line "},{"tag":"a","text":"two","href":"https://x"}]])")
      .end_object();
  auto event = message_event("evp", "om_p", "p2p", post.take(), "[]", "post");
  ASSERT_EQ(deliver_raw(bot, event).status, 200);
  auto got = replies(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(shown("om_p", "Echo: Report\nline one\nline two"), "Echo: Report\nline one\nline two");
  auto list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  auto conv = json_string(list, "conversations.0.id");
  auto history = get("/api/v1/conversations/" + conv + "/messages", token).json();
  EXPECT_EQ(json_string(history, "messages.0.content"), "Report\nline one\nline two");
  EXPECT_EQ(json_string(history, "messages.0.metadata.attachments.0"), "image:img_v2_1");
}

namespace {

/// The server as configured by default: platform calls to loopback and private network
/// addresses are refused (against SSRF: the URLs are the bot owners' choice).
class guarded_platform_test : public onebot_platform_test {
 protected:
  env_list environment() override { return {{"CHATAGENT_RATE_LIMIT_USER", "100000"}}; }
};

} // namespace

TEST_F(guarded_platform_test, loopback_and_private_addresses_are_refused_by_default) {
  auto token = register_user("alice");
  // The generic webhook's answer to a loopback webhook_url is not delivered: counted as an
  // error, and the user's message and its answer stay stored.
  auto bot = webhook_bot(token);
  ASSERT_EQ(deliver(bot, R"({"event_id":"g1","chat_id":"c1","text":"hello"})").status, 202);
  auto errors = [&](const std::string& id) {
    return std::to_string(
        json_int(get("/api/v1/bots/" + id + "/status", token).json(), "error_count"));
  };
  EXPECT_EQ(eventually([&] { return errors(bot); }, "1"), "1");
  EXPECT_TRUE(received().empty());
  auto list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  ASSERT_EQ(json_int(list, "total"), 1);
  auto history = "/api/v1/conversations/" + json_string(list, "conversations.0.id") + "/messages";
  EXPECT_EQ(eventually(
                [&] { return std::to_string(json_int(get(history, token).json(), "total")); }, "2"),
            "2");

  // A OneBot implementation's forward WebSocket on loopback is not connected to.
  fake_ws_server impl{std::string{"Bearer "} + onebot_token};
  auto q = onebot_bot(token, R"(,"ws_url":")" + impl.url("/") + "\"");
  EXPECT_EQ(eventually([&] { return errors(q); }, "1"), "1");
  EXPECT_FALSE(online(q, token, false));
  EXPECT_FALSE(impl.wait_connections(1, 200));
}

TEST_F(slack_platform_test, a_rate_limited_post_is_sent_again_when_slack_says) {
  auto token = register_user("alice");
  auto bot = slack_bot(token);
  ASSERT_TRUE(online(bot, token));
  fake.throttle_slack(1); // HTTP 429 with Retry-After: 1
  ASSERT_EQ(slack_event(bot, "Ev9", R"({"type":"message","channel":"D9","channel_type":"im",
      "user":"U1","text":"patience","ts":"9.1"})")
                .status,
            200);
  EXPECT_EQ(shown("D9", "Echo: patience"), "Echo: patience");
  EXPECT_EQ(posts(2).size(), 2u); // refused once, then posted
  EXPECT_EQ(json_int(get("/api/v1/bots/" + bot + "/status", token).json(), "error_count"), 0);
}

TEST_F(webhook_platform_test, attachments_mentions_and_replies_are_read_into_the_message) {
  auto token = register_user("alice");
  auto bot = webhook_bot(token, R"(,"conversation_scope":"user")");
  // A group message for someone else is not answered; one that mentions the bot is, with
  // its files listed and the message it replies to noted.
  auto res = deliver(bot, R"({"event_id":"a1","chat_id":"g1","chat_type":"group","user_id":"u1",
      "text":"lunch?"})");
  EXPECT_EQ(res.status, 200) << res.body;
  EXPECT_FALSE(json_at(res.json(), "accepted")->as_bool());
  res = deliver(bot, R"({"event_id":"a2","chat_id":"g1","chat_type":"group","user_id":"u1",
      "user_name":"Li","mentioned":true,"reply_to":"a0","text":"what is in this picture?",
      "attachments":[{"type":"image","url":"https://example.com/p.png"},
                     {"type":"file","url":"https://example.com/r.pdf","name":"r.pdf"}]})");
  ASSERT_EQ(res.status, 202) << res.body;
  auto got = wait_for(1);
  ASSERT_EQ(got.size(), 1u);
  auto answer = body_of(got[0]);
  EXPECT_EQ(json_string(answer, "text"), "Echo: what is in this picture?");
  auto conv = get("/api/v1/conversations/" + json_string(answer, "conversation_id"), token).json();
  EXPECT_EQ(json_string(conv, "platform_chat_id"), "g1/u1");
  auto history =
      get("/api/v1/conversations/" + json_string(answer, "conversation_id") + "/messages", token)
          .json();
  EXPECT_EQ(json_string(history, "messages.0.metadata.chat_type"), "group");
  EXPECT_EQ(json_string(history, "messages.0.metadata.reply_to"), "a0");
  EXPECT_EQ(json_string(history, "messages.0.metadata.attachments.0"),
            "image:https://example.com/p.png");
  EXPECT_EQ(json_string(history, "messages.0.metadata.attachments.1"),
            "file:https://example.com/r.pdf");
}

TEST_F(telegram_platform_test, an_outage_shows_the_bot_offline_until_polls_succeed_again) {
  auto token = register_user("alice");
  auto bot = telegram_bot(token);
  ASSERT_TRUE(online(bot, token));
  // Three polls fail (502; a poll in flight may first end with this update): the bot goes
  // offline after three failures in a row and counts them. Then Telegram is back: the
  // next poll brings the update sent meanwhile (a long poll returns with one), and the
  // bot is online again.
  fake.fail_telegram_polls(3);
  fake.push_telegram_message(R"({"message_id":1,"from":{"id":5},"chat":{"id":42,
      "type":"private"},"date":0,"text":"before"})");
  EXPECT_FALSE(online(bot, token, false));
  EXPECT_GE(json_int(get("/api/v1/bots/" + bot + "/status", token).json(), "error_count"), 3);
  fake.push_telegram_message(R"({"message_id":2,"from":{"id":5},"chat":{"id":42,
      "type":"private"},"date":0,"text":"after"})");
  // The next poll comes 2 s after the third failure; "before" may be answered with it.
  EXPECT_TRUE(ever_shown(42, "Echo: after")) << ::testing::PrintToString(texts(42));
  EXPECT_TRUE(online(bot, token));
}

TEST_F(dingtalk_platform_test, stream_mode_connects_to_the_gateway_and_answers_there) {
  fake_ws_server gateway;
  fake.set_dingtalk_stream(gateway.url("/connect"), dingtalk_secret);
  auto token = register_user("alice");
  auto bot = dingtalk_bot(token, R"(,"mode":"stream","app_key":")" +
                                     std::string{fake_llm_server::dingtalk_app_key} +
                                     R"(","stream_base_url":")" + fake.url("/dingtalk") + "\"");
  ASSERT_TRUE(gateway.wait_connections(1));
  EXPECT_EQ(gateway.headers()[":target"], "/connect?ticket=dingtalk-ticket");
  EXPECT_TRUE(online(bot, token));
  auto frame = [](const std::string& type, const std::string& topic, const std::string& id,
                  const std::string& data) {
    chatagent::protocol::json_writer w;
    w.begin_object()
        .member("specVersion", "1.0")
        .member("type", type)
        .key("headers")
        .begin_object()
        .member("topic", topic)
        .member("messageId", id)
        .member("contentType", "application/json")
        .end_object()
        .member("data", data)
        .end_object();
    return w.take();
  };
  auto next_ack = [&] {
    auto text = gateway.next_text(5000);
    auto doc = chatagent::protocol::parse_json(text.value_or(""));
    return doc ? std::move(*doc) : chatagent::protocol::json_value{};
  };
  // Pings are echoed; robot messages acknowledged and answered through their sessionWebhook.
  ASSERT_TRUE(gateway.send_text(frame("SYSTEM", "ping", "p1", R"({"opaque":"x1"})")));
  auto ack = next_ack();
  EXPECT_EQ(json_int(ack, "code"), 200);
  EXPECT_EQ(json_string(ack, "headers.messageId"), "p1");
  EXPECT_EQ(json_string(ack, "data"), R"({"opaque":"x1"})");
  auto hook = fake.url("/dingtalk/robot/sendBySession?session=s1");
  ASSERT_TRUE(gateway.send_text(frame("CALLBACK", "/v1.0/im/bot/messages/get", "m1",
                                      robot_message("sm1", "1", "hello stream", hook))));
  ack = next_ack();
  EXPECT_EQ(json_string(ack, "headers.messageId"), "m1");
  auto out = sent(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(json_string(out[0], "text.content"), "Echo: hello stream");
  // DingTalk does not call a bot in stream mode.
  expect_error(ding(bot, "sm2", "1", "over http", hook), 400, "VALIDATION_ERROR");

  // A lost connection is opened again (and counted); stopping the bot closes it.
  gateway.drop();
  ASSERT_TRUE(gateway.wait_connections(2));
  EXPECT_TRUE(online(bot, token));
  EXPECT_GE(json_int(get("/api/v1/bots/" + bot + "/status", token).json(), "error_count"), 1);
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/stop", "", token).status, 200);
  EXPECT_TRUE(gateway.wait_closed(5000));
}

TEST_F(dingtalk_platform_test, stream_mode_needs_the_app_key) {
  auto token = register_user("alice");
  auto bot = create_bot(token, R"({"name":"d","platform_type":"dingtalk",
      "platform_config":{"app_secret":"s","mode":"stream"}})");
  auto res = post("/api/v1/bots/" + bot + "/start", "", token);
  expect_error(res, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(res.json(), "error.details.field"), "platform_config.app_key");
}
