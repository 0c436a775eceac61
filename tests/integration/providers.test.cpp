#include "integration/fixture.hpp"
#include "support/fake_llm_server.hpp"

#include <thread>

using namespace chatagent::test;

namespace {

class providers_test : public server_test {
 protected:
  /// A bot on the fake provider and a conversation with it; returns the conversation.
  std::string converse_with(const std::string& token, const std::string& llm_config) {
    bot = create_bot(token, R"({"name":"Remote","llm_config":)" + llm_config + "}");
    return create_conversation(token, bot);
  }

  http_result send(const std::string& token, const std::string& conv, const std::string& text) {
    return post("/api/v1/conversations/" + conv + "/messages", R"({"content":")" + text + R"("})",
                token);
  }

  std::string openai(const std::string& model) {
    return R"({"provider":"openai_compatible","base_url":")" + fake.url("/v1") + R"(","model":")" +
           model + R"(","api_key":"sk-test","system_prompt":"Be brief."})";
  }

  /// Sends a question to a provider that never answers and, without reading the history
  /// (which would make the conversation store it at once), waits until the store has it;
  /// then kills the server with SIGKILL and finds the question after a restart.
  void expect_an_unread_question_stored_while_the_provider_hangs() {
    auto token = register_user("alice");
    auto conv = converse_with(token, openai("hang"));
    std::thread sender([&] { send(token, conv, "still there?"); }); // fails when killed
    // The conversation list is read from the store, not from the conversation.
    int64_t stored = 0;
    std::string last;
    for (int i = 0; i < 500 && stored == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      auto list = get("/api/v1/conversations/?bot_id=" + bot, token);
      last = list.body;
      auto doc = list.json();
      if (auto convs = doc.find("conversations"); convs && convs->is_array())
        for (auto& c : convs->as_array())
          if (json_string(c, "id") == conv)
            stored = json_int(c, "message_count");
    }
    auto asked = fake.requests().size();
    auto dir = server->data_dir();
    server->kill9();
    sender.join();
    ASSERT_EQ(stored, 1) << last;
    EXPECT_EQ(asked, 1u); // the provider was asked meanwhile
    server_process again({}, dir);
    ASSERT_TRUE(again.start()) << again.log();
    auto after = http_request(
        "GET", again.base_url() + "/api/v1/conversations/" + conv + "/messages", "", auth(token));
    ASSERT_EQ(after.status, 200) << after.body;
    auto doc = after.json();
    auto msgs = doc.find("messages");
    ASSERT_TRUE(msgs && msgs->is_array() && msgs->as_array().size() == 1) << after.body;
    EXPECT_EQ(json_string(msgs->as_array()[0], "content"), "still there?");
    EXPECT_EQ(again.stop(), 0) << again.log();
  }

  fake_llm_server fake;
  std::string bot;
};

/// The same with every question stored on arrival, in a write of its own.
class providers_no_delay_test : public providers_test {
 protected:
  env_list environment() override { return {{"CHATAGENT_QUESTION_COMMIT_DELAY_MS", "0"}}; }
};

chatagent::protocol::json_value body_of(const fake_llm_server::request& r) {
  auto doc = chatagent::protocol::parse_json(r.body);
  return doc ? std::move(*doc) : chatagent::protocol::json_value{};
}

} // namespace

TEST_F(providers_test, openai_compatible_streams_and_sends_history) {
  auto token = register_user("alice");
  auto conv = converse_with(token, openai("gpt-test"));
  auto res = send(token, conv, "hello there");
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(json_string(res.json(), "bot_response.content"), "Echo: hello there");
  res = send(token, conv, "and again");
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(json_string(res.json(), "bot_response.content"), "Echo: and again");

  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].path, "/v1/chat/completions");
  EXPECT_EQ(reqs[1].headers["authorization"], "Bearer sk-test");
  auto body = body_of(reqs[1]);
  EXPECT_EQ(json_string(body, "model"), "gpt-test");
  EXPECT_TRUE(json_at(body, "stream")->as_bool());
  auto& msgs = json_at(body, "messages")->as_array();
  ASSERT_EQ(msgs.size(), 4u); // system, then the history, then the new message
  EXPECT_EQ(json_string(msgs[0], "role"), "system");
  EXPECT_EQ(json_string(msgs[0], "content"), "Be brief.");
  EXPECT_EQ(json_string(msgs[1], "content"), "hello there");
  EXPECT_EQ(json_string(msgs[2], "role"), "assistant");
  EXPECT_EQ(json_string(msgs[2], "content"), "Echo: hello there");
  EXPECT_EQ(json_string(msgs[3], "content"), "and again");
}

TEST_F(providers_test, a_changed_bot_answers_the_next_message_of_a_live_conversation) {
  // The conversation stays live between the messages: a change to its bot reaches it.
  auto token = register_user("alice");
  auto conv = converse_with(token, openai("first-model"));
  ASSERT_EQ(send(token, conv, "one").status, 201);
  auto res =
      put("/api/v1/bots/" + bot,
          R"({"llm_config":{"model":"second-model","system_prompt":"Be thorough."}})", token);
  ASSERT_EQ(res.status, 200) << res.body;
  ASSERT_EQ(send(token, conv, "two").status, 201);
  ASSERT_EQ(send(token, conv, "three").status, 201);
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(json_string(body_of(reqs[0]), "model"), "first-model");
  for (size_t i = 1; i < 3; ++i) {
    auto body = body_of(reqs[i]);
    EXPECT_EQ(json_string(body, "model"), "second-model");
    EXPECT_EQ(json_string(json_at(body, "messages")->as_array()[0], "content"), "Be thorough.");
  }
  // A deleted bot's conversations go with it, live ones included.
  ASSERT_EQ(del("/api/v1/bots/" + bot, token).status, 200);
  expect_error(send(token, conv, "four"), 404, "NOT_FOUND");
  EXPECT_EQ(fake.requests().size(), 3u);
}

TEST_F(providers_test, history_is_trimmed_to_the_token_budget) {
  auto token = register_user("alice");
  auto conv = converse_with(token, R"({"provider":"openai_compatible","base_url":")" +
                                       fake.url("/v1") + R"(","model":"m","context_tokens":256})");
  std::string long_text(400, 'a'); // about 100 tokens each
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(send(token, conv, long_text + std::to_string(i)).status, 201);
  auto last = body_of(fake.requests().back());
  auto& msgs = json_at(last, "messages")->as_array();
  EXPECT_LT(msgs.size(), 8u); // not all of the 7 earlier messages fit
  EXPECT_EQ(json_string(msgs.back(), "content"), long_text + "3");
}

TEST_F(providers_test, anthropic_messages_stream) {
  auto token = register_user("alice");
  auto conv = converse_with(token, R"({"provider":"anthropic","base_url":")" + fake.url("/v1") +
                                       R"(","model":"claude-test","api_key":"ak-test",)"
                                       R"("system_prompt":"Be kind."})");
  auto res = send(token, conv, "bonjour");
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(json_string(res.json(), "bot_response.content"), "Echo: bonjour");
  auto req = fake.requests().back();
  EXPECT_EQ(req.path, "/v1/messages");
  EXPECT_EQ(req.headers["x-api-key"], "ak-test");
  EXPECT_EQ(req.headers["anthropic-version"], "2023-06-01");
  auto body = body_of(req);
  EXPECT_EQ(json_string(body, "system"), "Be kind.");
  EXPECT_EQ(json_at(body, "messages")->as_array().size(), 1u);
}

TEST_F(providers_test, ollama_ndjson_streams) {
  auto token = register_user("alice");
  auto conv = converse_with(token, R"({"provider":"ollama","base_url":")" + fake.url() +
                                       R"(","model":"llama-test"})");
  auto res = send(token, conv, "hallo welt");
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(json_string(res.json(), "bot_response.content"), "Echo: hallo welt");
  EXPECT_EQ(fake.requests().back().path, "/api/chat");
}

TEST_F(providers_test, provider_errors_answer_5xx_and_keep_the_user_message) {
  auto token = register_user("alice");
  struct failure {
    std::string model;
    long status;
    std::string code;
  };
  for (auto& f : std::vector<failure>{{"fail-401", 502, "BAD_GATEWAY"},
                                      {"fail-400", 502, "BAD_GATEWAY"},
                                      {"malformed", 502, "BAD_GATEWAY"},
                                      {"disconnect", 502, "BAD_GATEWAY"},
                                      {"fail-429", 503, "SERVICE_UNAVAILABLE"}}) {
    auto conv = converse_with(token, openai(f.model));
    auto res = send(token, conv, "question for " + f.model);
    expect_error(res, f.status, f.code);
    auto page = get("/api/v1/conversations/" + conv + "/messages", token).json();
    ASSERT_EQ(json_int(page, "total"), 1) << f.model;
    EXPECT_EQ(json_string(json_at(page, "messages")->as_array()[0], "content"),
              "question for " + f.model);
    EXPECT_EQ(json_int(get("/api/v1/bots/" + bot + "/status", token).json(), "error_count"), 1);
  }
}

TEST_F(providers_test, transient_failures_are_retried) {
  auto token = register_user("alice");
  auto conv = converse_with(token, openai("flaky"));
  auto res = send(token, conv, "try twice");
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(json_string(res.json(), "bot_response.content"), "Echo: try twice");
  EXPECT_EQ(fake.requests().size(), 2u);

  conv = converse_with(token, openai("fail-500"));
  expect_error(send(token, conv, "never"), 502, "BAD_GATEWAY");
  EXPECT_EQ(fake.requests().size(), 2u + 3u); // three attempts
}

TEST_F(providers_test, retry_after_is_honoured) {
  auto token = register_user("alice");
  auto conv = converse_with(token, openai("busy-1"));
  auto res = send(token, conv, "when you can");
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(json_string(res.json(), "bot_response.content"), "Echo: when you can");
  auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 2u);
  // The second attempt came no sooner than the provider asked (a lower bound only).
  EXPECT_GE(seen[1].at - seen[0].at, std::chrono::milliseconds(1000));

  // A provider asking for longer than the server waits: the error at once, one request.
  conv = converse_with(token, openai("busy-120"));
  auto busy = send(token, conv, "later");
  expect_error(busy, 503, "SERVICE_UNAVAILABLE");
  EXPECT_NE(json_string(busy.json(), "error.message").find("retry after 120 s"), std::string::npos)
      << busy.body;
  EXPECT_EQ(fake.requests().size(), 3u);
}

TEST_F(providers_test, an_unreachable_provider_answers_503) {
  auto token = register_user("alice");
  auto conv = converse_with(token, R"({"provider":"openai_compatible",)"
                                   R"("base_url":"http://127.0.0.1:1/v1","model":"m"})");
  auto res = send(token, conv, "anyone?");
  expect_error(res, 503, "SERVICE_UNAVAILABLE");
  EXPECT_EQ(json_int(get("/api/v1/conversations/" + conv + "/messages", token).json(), "total"), 1);
}

TEST_F(providers_test, the_circuit_opens_after_repeated_failures) {
  auto token = register_user("alice");
  auto conv = converse_with(token, openai("fail-503"));
  for (int i = 0; i < 5; ++i)
    EXPECT_GE(send(token, conv, "attempt " + std::to_string(i)).status, 500);
  auto before = fake.requests().size();
  EXPECT_EQ(before, 15u);
  auto res = send(token, conv, "fail fast");
  expect_error(res, 503, "SERVICE_UNAVAILABLE");
  EXPECT_EQ(fake.requests().size(), before); // not called
}

TEST_F(providers_test, a_success_resets_the_count_of_failures) {
  // The circuit is per endpoint: bots on other models of the same server share it.
  auto token = register_user("alice");
  auto failing = converse_with(token, openai("fail-503"));
  auto working = converse_with(token, openai("echo"));
  for (int i = 0; i < 4; ++i)
    EXPECT_GE(send(token, failing, "attempt " + std::to_string(i)).status, 500);
  ASSERT_EQ(send(token, working, "still there?").status, 201);
  // Four failures before the success and one after: five in all, but not in a row.
  EXPECT_GE(send(token, failing, "once more").status, 500);
  auto before = fake.requests().size();
  EXPECT_EQ(send(token, failing, "and again").status, 502);
  EXPECT_EQ(fake.requests().size(), before + 3); // called, three attempts
}

namespace {

class slow_provider_test : public providers_test {
 protected:
  env_list environment() override { return {{"CHATAGENT_LLM_TIMEOUT_SECONDS", "1"}}; }
};

} // namespace

TEST_F(slow_provider_test, a_provider_that_never_answers_times_out_with_504) {
  auto token = register_user("alice");
  auto conv = converse_with(token, openai("hang"));
  auto res = send(token, conv, "hello?");
  expect_error(res, 504, "GATEWAY_TIMEOUT");
  EXPECT_EQ(json_int(get("/api/v1/conversations/" + conv + "/messages", token).json(), "total"), 1);
  // The conversation still works afterwards.
  auto ok = converse_with(token, openai("slow"));
  EXPECT_EQ(send(token, ok, "quick").status, 201);
}

TEST_F(providers_test, a_question_is_stored_before_the_provider_answers_and_survives_kill_9) {
  auto token = register_user("alice");
  auto conv = converse_with(token, openai("hang"));
  std::thread sender([&] { send(token, conv, "are you there?"); }); // fails when killed
  for (int i = 0; i < 500 && fake.requests().empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(fake.requests().size(), 1u);
  // While the provider is asked, the question is in the history already.
  auto page = get("/api/v1/conversations/" + conv + "/messages", token).json();
  EXPECT_EQ(json_int(page, "total"), 1);
  auto dir = server->data_dir();
  server->kill9();
  sender.join();
  server_process again({}, dir);
  ASSERT_TRUE(again.start()) << again.log();
  auto after = http_request("GET", again.base_url() + "/api/v1/conversations/" + conv + "/messages",
                            "", auth(token));
  ASSERT_EQ(after.status, 200) << after.body;
  auto doc = after.json();
  auto msgs = doc.find("messages");
  ASSERT_TRUE(msgs && msgs->is_array() && msgs->as_array().size() == 1) << after.body;
  EXPECT_EQ(json_string(msgs->as_array()[0], "content"), "are you there?");
  auto rec =
      http_request("GET", again.base_url() + "/api/v1/conversations/" + conv, "", auth(token));
  EXPECT_EQ(json_int(rec.json(), "message_count"), 1) << rec.body;
  EXPECT_EQ(again.stop(), 0) << again.log();
}

TEST_F(providers_test, a_question_with_a_slow_answer_is_stored_alone_and_survives_kill_9) {
  // Stored by itself once it has waited `question_commit_delay_ms` (50 ms by default) for
  // its answer to share the write.
  expect_an_unread_question_stored_while_the_provider_hangs();
}

TEST_F(providers_no_delay_test, a_question_is_stored_on_arrival_and_survives_kill_9) {
  expect_an_unread_question_stored_while_the_provider_hangs();
}

TEST_F(providers_test, deleting_a_conversation_while_it_is_answered) {
  auto token = register_user("alice");
  auto conv = converse_with(token, openai("slow"));
  http_result answered;
  std::thread sender([&] { answered = send(token, conv, "one two three four five six"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(150)); // mid-stream
  EXPECT_EQ(del("/api/v1/conversations/" + conv, token).status, 200);
  sender.join();
  EXPECT_EQ(answered.status, 404) << answered.body;
  // The late answer went nowhere; the server goes on.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(get("/api/v1/conversations/" + conv, token).status, 404);
  auto other = converse_with(token, openai("m"));
  EXPECT_EQ(send(token, other, "still here").status, 201);
}
