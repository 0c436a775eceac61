#include "integration/fixture.hpp"

#include <set>
#include <thread>

using namespace chatagent::test;

namespace {

class conversations_test : public server_test {};

/// The conversation's messages, oldest first (all of them, page by page).
std::vector<chatagent::protocol::json_value> history(server_test& t, const std::string& base,
                                                     const std::string& conv,
                                                     const std::string& token) {
  std::vector<chatagent::protocol::json_value> out;
  for (int offset = 0;; offset += 50) {
    auto res = http_request("GET",
                            base + "/api/v1/conversations/" + conv +
                                "/messages?limit=50&offset=" + std::to_string(offset),
                            {}, {"Authorization: Bearer " + token});
    EXPECT_EQ(res.status, 200) << res.body;
    auto doc = res.json();
    auto msgs = json_at(doc, "messages");
    if (msgs == nullptr || msgs->as_array().empty())
      break;
    for (auto& m : msgs->as_array())
      out.push_back(m);
  }
  (void)t;
  return out;
}

} // namespace

TEST_F(conversations_test, create_get_list_update_and_delete) {
  auto token = register_user("alice");
  auto bot = create_bot(token);
  auto other_bot = create_bot(token, R"({"name":"Other"})");
  auto res = post("/api/v1/conversations/",
                  R"({"bot_id":")" + bot +
                      R"(","title":"与用户的对话","platform":"web","platform_chat_id":"chat_123",)"
                      R"("context":{"user_preferences":{"language":"zh","theme":"light"}}})",
                  token);
  ASSERT_EQ(res.status, 201) << res.body;
  auto doc = res.json();
  auto id = json_string(doc, "id");
  EXPECT_EQ(id.rfind("conv_", 0), 0u);
  EXPECT_EQ(json_string(doc, "bot_id"), bot);
  EXPECT_EQ(json_string(doc, "user_id"), json_string(get("/api/v1/auth/me", token).json(), "id"));
  EXPECT_EQ(json_string(doc, "title"), "与用户的对话");
  EXPECT_EQ(json_string(doc, "platform"), "web");
  EXPECT_EQ(json_string(doc, "platform_chat_id"), "chat_123");
  EXPECT_EQ(json_string(doc, "status"), "active");
  EXPECT_EQ(json_string(doc, "context.user_preferences.language"), "zh");
  EXPECT_EQ(json_string(doc, "created_at").size(), 20u);

  auto second = create_conversation(token, other_bot, "second");
  auto list = get("/api/v1/conversations/?limit=20&offset=0", token).json();
  EXPECT_EQ(json_int(list, "total"), 2);
  ASSERT_EQ(json_at(list, "conversations")->as_array().size(), 2u);
  EXPECT_EQ(json_string(json_at(list, "conversations")->as_array()[0], "id"), second); // newest
  list = get("/api/v1/conversations/?bot_id=" + bot, token).json();
  EXPECT_EQ(json_int(list, "total"), 1);
  EXPECT_EQ(json_int(json_at(list, "conversations")->as_array()[0], "message_count"), 0);

  auto updated =
      put("/api/v1/conversations/" + id, R"({"title":"renamed","status":"archived"})", token);
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(json_string(updated.json(), "title"), "renamed");
  EXPECT_EQ(json_string(updated.json(), "status"), "archived");
  EXPECT_EQ(json_string(updated.json(), "context.user_preferences.theme"), "light"); // kept
  EXPECT_EQ(json_int(get("/api/v1/conversations/?status=archived", token).json(), "total"), 1);
  EXPECT_EQ(json_int(get("/api/v1/conversations/?status=active", token).json(), "total"), 1);
  expect_error(put("/api/v1/conversations/" + id, R"({"status":"closed"})", token), 400,
               "VALIDATION_ERROR");
  expect_error(get("/api/v1/conversations/?status=closed", token), 400, "VALIDATION_ERROR");

  auto deleted = del("/api/v1/conversations/" + id, token);
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  expect_error(get("/api/v1/conversations/" + id, token), 404, "NOT_FOUND");
  expect_error(del("/api/v1/conversations/" + id, token), 404, "NOT_FOUND");
  EXPECT_EQ(json_int(get("/api/v1/conversations/", token).json(), "total"), 1);
}

TEST_F(conversations_test, invalid_conversations_are_refused) {
  auto token = register_user("alice");
  auto bot = create_bot(token);
  auto res = post("/api/v1/conversations/", R"({"title":"no bot"})", token);
  expect_error(res, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(res.json(), "error.details.field"), "bot_id");
  res = post("/api/v1/conversations/", R"({"bot_id":"bot_missing"})", token);
  expect_error(res, 404, "NOT_FOUND");
  EXPECT_EQ(json_string(res.json(), "error.details.field"), "bot_id");
  res = post("/api/v1/conversations/", R"({"bot_id":")" + bot + R"(","context":"x"})", token);
  expect_error(res, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(res.json(), "error.details.field"), "context");
  res = post("/api/v1/conversations/", R"({"bot_id":")" + bot + R"(","platform":"fax"})", token);
  EXPECT_EQ(json_string(res.json(), "error.details.field"), "platform");
}

TEST_F(conversations_test, send_message_answers_with_both_messages_and_keeps_history) {
  auto token = register_user("alice");
  auto bot = create_bot(token, R"({"name":"Calc"})");
  auto conv = create_conversation(token, bot);
  auto res = post("/api/v1/conversations/" + conv + "/messages",
                  R"({"content":"你好，你能做什么？","message_type":"text",)"
                  R"("metadata":{"client_id":"web_client_123"}})",
                  token);
  ASSERT_EQ(res.status, 201) << res.body;
  auto doc = res.json();
  EXPECT_EQ(json_string(doc, "user_message.conversation_id"), conv);
  EXPECT_EQ(json_string(doc, "user_message.content"), "你好，你能做什么？");
  EXPECT_EQ(json_string(doc, "user_message.message_type"), "text");
  EXPECT_EQ(json_string(doc, "user_message.sender_type"), "user");
  EXPECT_EQ(json_string(doc, "user_message.id").rfind("msg_", 0), 0u);
  EXPECT_EQ(json_string(doc, "bot_response.sender_type"), "bot");
  EXPECT_EQ(json_string(doc, "bot_response.conversation_id"), conv);
  auto reply = json_string(doc, "bot_response.content");
  EXPECT_NE(reply, "你好，你能做什么？"); // not an echo
  EXPECT_NE(reply.find("Calc"), std::string::npos) << reply;
  EXPECT_NE(reply.find("llm_config"), std::string::npos) << reply; // explains configuration

  res = post("/api/v1/conversations/" + conv + "/messages", R"({"content":"what is 12*(3+4)?"})",
             token);
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(json_string(res.json(), "bot_response.content"), "The result is 84.");

  auto page = get("/api/v1/conversations/" + conv + "/messages?limit=50&offset=0", token).json();
  EXPECT_EQ(json_int(page, "total"), 4);
  EXPECT_EQ(json_int(page, "limit"), 50);
  auto& msgs = json_at(page, "messages")->as_array();
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(json_string(msgs[0], "content"), "你好，你能做什么？");
  EXPECT_EQ(json_string(msgs[0], "sender_id"),
            json_string(get("/api/v1/auth/me", token).json(), "id"));
  EXPECT_EQ(json_string(msgs[1], "sender_type"), "bot");
  EXPECT_EQ(json_string(msgs[1], "sender_id"), bot);
  EXPECT_EQ(json_string(msgs[0], "metadata.client_id"), "web_client_123");
  EXPECT_EQ(json_string(msgs[3], "content"), "The result is 84.");
  auto tail = get("/api/v1/conversations/" + conv + "/messages?limit=1&offset=2", token).json();
  EXPECT_EQ(json_string(json_at(tail, "messages")->as_array()[0], "content"), "what is 12*(3+4)?");

  auto c = get("/api/v1/conversations/" + conv, token).json();
  EXPECT_EQ(json_int(c, "message_count"), 4);
  EXPECT_EQ(json_string(c, "last_message_at").size(), 20u);
}

TEST_F(conversations_test, bad_messages_are_refused_and_nothing_is_stored) {
  auto token = register_user("alice");
  auto conv = create_conversation(token, create_bot(token));
  auto path = "/api/v1/conversations/" + conv + "/messages";
  for (auto body :
       {R"({})", R"({"content":""})", R"({"content":"   "})", R"({"content":7})",
        R"({"content":"hi","message_type":"hologram"})", R"({"content":"hi","metadata":[1]})"}) {
    auto res = post(path, body, token);
    expect_error(res, 400, "VALIDATION_ERROR");
    EXPECT_FALSE(json_string(res.json(), "error.details.field").empty()) << body;
  }
  expect_error(post(path, "not json", token), 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_int(get(path, token).json(), "total"), 0);
  expect_error(get(path + "?limit=0", token), 400, "VALIDATION_ERROR");
}

TEST_F(conversations_test, other_users_conversations_do_not_exist_for_them) {
  auto alice = register_user("alice");
  auto bob = register_user("bob");
  auto conv = create_conversation(alice, create_bot(alice));
  auto path = "/api/v1/conversations/" + conv;
  expect_error(get(path, bob), 404, "NOT_FOUND");
  expect_error(put(path, R"({"title":"mine"})", bob), 404, "NOT_FOUND");
  expect_error(del(path, bob), 404, "NOT_FOUND");
  expect_error(post(path + "/messages", R"({"content":"hi"})", bob), 404, "NOT_FOUND");
  expect_error(get(path + "/messages", bob), 404, "NOT_FOUND");
  EXPECT_EQ(json_int(get("/api/v1/conversations/", bob).json(), "total"), 0);
  EXPECT_EQ(get(path, alice).status, 200);
}

TEST_F(conversations_test, a_failed_model_call_keeps_the_user_message) {
  auto token = register_user("alice");
  auto bot = create_bot(token, R"({"name":"remote","llm_config":{"provider":"openai",)"
                               R"("base_url":"http://127.0.0.1:1/v1","api_key":"sk-x"}})");
  auto conv = create_conversation(token, bot);
  auto res =
      post("/api/v1/conversations/" + conv + "/messages", R"({"content":"are you there?"})", token);
  EXPECT_GE(res.status, 500) << res.body;
  EXPECT_LT(res.status, 600) << res.body;
  EXPECT_FALSE(json_string(res.json(), "error.code").empty()) << res.body;
  auto page = get("/api/v1/conversations/" + conv + "/messages", token).json();
  ASSERT_EQ(json_int(page, "total"), 1);
  EXPECT_EQ(json_string(json_at(page, "messages")->as_array()[0], "content"), "are you there?");
  auto status = get("/api/v1/bots/" + bot + "/status", token).json();
  EXPECT_EQ(json_int(status, "error_count"), 1);
}

TEST_F(conversations_test, concurrent_sends_to_one_conversation_are_all_answered_in_pairs) {
  auto token = register_user("alice", "password123");
  auto conv = create_conversation(token, create_bot(token));
  constexpr int senders = 8;
  constexpr int per_sender = 4;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int s = 0; s < senders; ++s)
    threads.emplace_back([&, s] {
      for (int i = 0; i < per_sender; ++i) {
        auto n = s * 100 + i;
        auto res = post("/api/v1/conversations/" + conv + "/messages",
                        R"({"content":"what is )" + std::to_string(n) + R"( + 0"})", token);
        if (res.status != 201 || json_string(res.json(), "bot_response.content") !=
                                     "The result is " + std::to_string(n) + ".")
          ++failures;
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);

  auto msgs = history(*this, server->base_url(), conv, token);
  ASSERT_EQ(msgs.size(), size_t{2 * senders * per_sender});
  // Each sender's messages are stored in the order it sent them, each question is answered
  // exactly once, and answers come in the order of their questions.
  std::vector<std::string> questions;
  std::vector<std::string> answers;
  for (auto& m : msgs) {
    auto content = json_string(m, "content");
    if (json_string(m, "sender_type") == "user")
      questions.push_back(content.substr(8, content.size() - 8 - 4)); // "what is N + 0"
    else
      answers.push_back(content.substr(14, content.size() - 14 - 1)); // "The result is N."
  }
  EXPECT_EQ(questions, answers);
  std::set<std::string> unique(questions.begin(), questions.end());
  EXPECT_EQ(unique.size(), questions.size());
  for (int s = 0; s < senders; ++s) {
    int last = -1;
    for (auto& q : questions) {
      auto n = std::stoi(q);
      if (n / 100 == s) {
        EXPECT_GT(n, last);
        last = n;
      }
    }
  }
}

TEST_F(conversations_test, many_conversations_at_once) {
  auto token = register_user("alice");
  auto bot = create_bot(token);
  constexpr int count = 12;
  std::vector<std::string> convs;
  for (int i = 0; i < count; ++i)
    convs.push_back(create_conversation(token, bot, std::to_string(i)));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < count; ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < 3; ++k) {
        auto res =
            post("/api/v1/conversations/" + convs[i] + "/messages",
                 R"({"content":"what is )" + std::to_string(i) + "*" + std::to_string(k) + R"("})",
                 token);
        if (res.status != 201 || json_string(res.json(), "bot_response.content") !=
                                     "The result is " + std::to_string(i * k) + ".")
          ++failures;
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
  for (auto& c : convs)
    EXPECT_EQ(json_int(get("/api/v1/conversations/" + c, token).json(), "message_count"), 6);
  EXPECT_EQ(json_int(get("/api/v1/bots/" + bot + "/status", token).json(), "message_count"),
            count * 6);
}

namespace {

/// Conversations leave memory after one idle second.
class passivation_test : public server_test {
 protected:
  env_list environment() override {
    return {{"CHATAGENT_CONVERSATION_IDLE_SECONDS", "1"}, {"CHATAGENT_LOG_LEVEL", "debug"}};
  }
};

} // namespace

TEST_F(passivation_test, an_idle_conversation_comes_back_from_storage) {
  auto token = register_user("alice");
  auto conv = create_conversation(token, create_bot(token));
  auto path = "/api/v1/conversations/" + conv + "/messages";
  ASSERT_EQ(post(path, R"({"content":"what is 1+1"})", token).status, 201);
  auto live = get("/api/v1/conversations/" + conv, token).body;
  // The idle sweep passivates it within about 1.5 s (the server logs it at debug level).
  for (int i = 0;
       i < 100 && server->log().find("conversation " + conv + " passivated") == std::string::npos;
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_NE(server->log().find("conversation " + conv + " passivated"), std::string::npos)
      << server->log();
  // Read back from storage, it is what the live actor said (count and times included).
  EXPECT_EQ(get("/api/v1/conversations/" + conv, token).body, live);
  auto res = post(path, R"({"content":"what is 2+2"})", token);
  ASSERT_EQ(res.status, 201) << res.body;
  auto msgs = history(*this, server->base_url(), conv, token);
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(json_string(msgs[0], "content"), "what is 1+1");
  EXPECT_EQ(json_string(msgs[1], "content"), "The result is 2.");
  EXPECT_EQ(json_string(msgs[2], "content"), "what is 2+2");
  EXPECT_EQ(json_string(msgs[3], "content"), "The result is 4.");
  EXPECT_EQ(json_int(get("/api/v1/conversations/" + conv, token).json(), "message_count"), 4);
}

TEST_F(conversations_test, acknowledged_messages_survive_kill_9) {
  auto token = register_user("alice");
  auto conv = create_conversation(token, create_bot(token));
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(post("/api/v1/conversations/" + conv + "/messages",
                   R"({"content":"what is )" + std::to_string(i) + R"(+1"})", token)
                  .status,
              201);
  auto dir = server->data_dir();
  server->kill9();
  server_process again({}, dir);
  ASSERT_TRUE(again.start()) << again.log();
  auto msgs = history(*this, again.base_url(), conv, token);
  ASSERT_EQ(msgs.size(), 10u);
  EXPECT_EQ(json_string(msgs[9], "content"), "The result is 5.");
  // The conversation continues where it was.
  auto res = http_request("POST", again.base_url() + "/api/v1/conversations/" + conv + "/messages",
                          R"({"content":"what is 6+1"})", auth(token));
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(history(*this, again.base_url(), conv, token).size(), 12u);
  EXPECT_EQ(again.stop(), 0) << again.log();
}
