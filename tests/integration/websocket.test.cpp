#include "integration/fixture.hpp"
#include "support/fake_llm_server.hpp"
#include "support/ws_client.hpp"

#include <thread>

using namespace chatagent::test;
using chatagent::protocol::json_value;
using chatagent::protocol::parse_json;

namespace {

class websocket_test : public server_test {
 protected:
  std::unique_ptr<ws_client> connect(const std::string& conv, const std::string& token) {
    return std::make_unique<ws_client>(server->port(),
                                       "/api/v1/ws/conversations/" + conv + "?token=" + token);
  }

  /// Reads messages until `stream_complete`; returns them all (parsed).
  static std::vector<json_value> read_answer(ws_client& ws) {
    std::vector<json_value> out;
    while (auto text = ws.next_text()) {
      auto doc = parse_json(*text);
      EXPECT_TRUE(doc) << *text;
      if (!doc)
        break;
      out.push_back(*doc);
      if (json_string(*doc, "type") == "stream_complete" || json_string(*doc, "type") == "error")
        break;
    }
    return out;
  }

  /// Checks that `msgs` is a well-formed stream of `expected`; returns the message id.
  static std::string expect_stream(const std::vector<json_value>& msgs, const std::string& conv,
                                   const std::string& expected) {
    EXPECT_GE(msgs.size(), 2u);
    if (msgs.size() < 2)
      return {};
    std::string assembled;
    int64_t last_chunk = 0;
    bool saw_final = false;
    for (size_t i = 0; i + 1 < msgs.size(); ++i) {
      auto& m = msgs[i];
      EXPECT_EQ(json_string(m, "type"), "stream_chunk");
      EXPECT_EQ(json_string(m, "conversation_id"), conv);
      auto id = json_int(m, "chunk_id");
      EXPECT_EQ(id, last_chunk + 1); // increasing, without gaps
      last_chunk = id;
      EXPECT_FALSE(saw_final);
      saw_final = json_at(m, "is_final")->as_bool();
      assembled += json_string(m, "content");
    }
    EXPECT_TRUE(saw_final);
    auto& done = msgs.back();
    EXPECT_EQ(json_string(done, "type"), "stream_complete");
    EXPECT_EQ(json_string(done, "conversation_id"), conv);
    EXPECT_EQ(json_string(done, "full_content"), expected);
    EXPECT_EQ(assembled, expected);
    return json_string(done, "message_id");
  }
};

} // namespace

TEST_F(websocket_test, a_user_message_is_answered_with_a_stream) {
  auto token = register_user("alice");
  auto conv = create_conversation(token, create_bot(token));
  auto ws = connect(conv, token);
  ASSERT_EQ(ws->status(), 101) << ws->refusal();
  ASSERT_TRUE(
      ws->send_text(R"({"type":"user_message","content":"what is 6*7","message_type":"text"})"));
  auto msgs = read_answer(*ws);
  auto id = expect_stream(msgs, conv, "The result is 42.");
  EXPECT_EQ(id.rfind("msg_", 0), 0u);
  // Then the stored answer in the spec's bot_response shape.
  auto next = ws->next_text();
  ASSERT_TRUE(next);
  auto doc = *parse_json(*next);
  EXPECT_EQ(json_string(doc, "type"), "bot_response");
  EXPECT_EQ(json_string(doc, "message_id"), id);
  EXPECT_EQ(json_string(doc, "content"), "The result is 42.");
  EXPECT_EQ(json_string(doc, "timestamp").size(), 20u);

  auto page = get("/api/v1/conversations/" + conv + "/messages", token).json();
  EXPECT_EQ(json_int(page, "total"), 2);
  EXPECT_EQ(json_string(json_at(page, "messages")->as_array()[1], "id"), id);
}

TEST_F(websocket_test, every_client_of_a_conversation_sees_the_stream) {
  auto token = register_user("alice");
  auto conv = create_conversation(token, create_bot(token));
  auto first = connect(conv, token);
  auto second = connect(conv, token);
  ASSERT_EQ(first->status(), 101);
  ASSERT_EQ(second->status(), 101);
  // A message sent over REST streams to both WebSocket clients too.
  auto res =
      post("/api/v1/conversations/" + conv + "/messages", R"({"content":"what is 1+2"})", token);
  ASSERT_EQ(res.status, 201) << res.body;
  auto id = json_string(res.json(), "bot_response.id");
  EXPECT_EQ(expect_stream(read_answer(*first), conv, "The result is 3."), id);
  EXPECT_EQ(expect_stream(read_answer(*second), conv, "The result is 3."), id);
}

TEST_F(websocket_test, clients_come_and_go_without_disturbing_the_others) {
  auto alice = register_user("alice");
  auto bob = register_user("bob");
  auto conv = create_conversation(alice, create_bot(alice));
  auto first = connect(conv, alice);
  ASSERT_EQ(first->status(), 101);
  // While alice's client is subscribed, bob still may not listen in.
  auto foreign = connect(conv, bob);
  EXPECT_EQ(foreign->status(), 404);
  {
    auto passing = connect(conv, alice);
    ASSERT_EQ(passing->status(), 101);
  } // closed: the first client keeps the stream
  ASSERT_TRUE(first->send_text(R"({"type":"user_message","content":"what is 2+2"})"));
  expect_stream(read_answer(*first), conv, "The result is 4.");
  // Everyone leaves; a client that comes back later gets the stream again.
  first.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto again = connect(conv, alice);
  ASSERT_EQ(again->status(), 101);
  ASSERT_TRUE(again->send_text(R"({"type":"user_message","content":"what is 3+3"})"));
  expect_stream(read_answer(*again), conv, "The result is 6.");
}

TEST_F(websocket_test, the_handshake_refuses_bad_tokens_and_foreign_conversations) {
  auto alice = register_user("alice");
  auto bob = register_user("bob");
  auto conv = create_conversation(alice, create_bot(alice));

  ws_client none(server->port(), "/api/v1/ws/conversations/" + conv);
  EXPECT_EQ(none.status(), 401);
  auto body = *parse_json(none.refusal());
  EXPECT_EQ(json_string(body, "error.code"), "UNAUTHORIZED");

  ws_client garbage(server->port(), "/api/v1/ws/conversations/" + conv + "?token=abc.def.ghi");
  EXPECT_EQ(garbage.status(), 401);

  auto foreign = connect(conv, bob);
  EXPECT_EQ(foreign->status(), 404);
  EXPECT_EQ(json_string(*parse_json(foreign->refusal()), "error.code"), "NOT_FOUND");

  auto missing = connect("conv_nothere", alice);
  EXPECT_EQ(missing->status(), 404);

  ws_client wrong_path(server->port(), "/api/v1/ws/elsewhere?token=" + alice);
  EXPECT_EQ(wrong_path.status(), 404);
}

TEST_F(websocket_test, bad_client_messages_get_error_events) {
  auto token = register_user("alice");
  auto conv = create_conversation(token, create_bot(token));
  auto ws = connect(conv, token);
  ASSERT_EQ(ws->status(), 101);
  auto expect_error_event = [&](const std::string& sent, const std::string& field) {
    ASSERT_TRUE(ws->send_text(sent));
    auto text = ws->next_text();
    ASSERT_TRUE(text) << sent;
    auto doc = *parse_json(*text);
    EXPECT_EQ(json_string(doc, "type"), "error") << *text;
    EXPECT_EQ(json_string(doc, "error.code"), "VALIDATION_ERROR") << *text;
    EXPECT_EQ(json_string(doc, "error.details.field"), field) << *text;
  };
  expect_error_event("not json", "");
  expect_error_event(R"({"type":"shout","content":"hi"})", "type");
  expect_error_event(R"({"type":"user_message"})", "content");
  expect_error_event(R"({"type":"user_message","content":"  "})", "content");
  // Application-level ping.
  ASSERT_TRUE(ws->send_text(R"({"type":"ping"})"));
  auto pong = ws->next_text();
  ASSERT_TRUE(pong);
  EXPECT_EQ(json_string(*parse_json(*pong), "type"), "pong");
  // Still usable, and nothing was stored.
  EXPECT_EQ(json_int(get("/api/v1/conversations/" + conv + "/messages", token).json(), "total"), 0);
  ASSERT_TRUE(ws->send_text(R"({"type":"user_message","content":"what is 2+2"})"));
  expect_stream(read_answer(*ws), conv, "The result is 4.");
}

TEST_F(websocket_test, a_provider_failure_is_an_error_event_and_the_message_stays) {
  fake_llm_server fake;
  auto token = register_user("alice");
  auto bot = create_bot(token, R"({"name":"r","llm_config":{"provider":"openai_compatible",)"
                               R"("base_url":")" +
                                   fake.url("/v1") + R"(","model":"fail-401"}})");
  auto conv = create_conversation(token, bot);
  auto ws = connect(conv, token);
  ASSERT_EQ(ws->status(), 101);
  ASSERT_TRUE(ws->send_text(R"({"type":"user_message","content":"hello?"})"));
  auto text = ws->next_text();
  ASSERT_TRUE(text);
  auto doc = *parse_json(*text);
  EXPECT_EQ(json_string(doc, "type"), "error");
  EXPECT_EQ(json_string(doc, "error.code"), "BAD_GATEWAY");
  EXPECT_EQ(json_int(get("/api/v1/conversations/" + conv + "/messages", token).json(), "total"), 1);
}

TEST_F(websocket_test, remote_streams_arrive_chunk_by_chunk) {
  fake_llm_server fake;
  auto token = register_user("alice");
  auto bot = create_bot(token, R"({"name":"r","llm_config":{"provider":"openai_compatible",)"
                               R"("base_url":")" +
                                   fake.url("/v1") + R"(","model":"slow"}})");
  auto conv = create_conversation(token, bot);
  auto ws = connect(conv, token);
  ASSERT_EQ(ws->status(), 101);
  ASSERT_TRUE(ws->send_text(R"({"type":"user_message","content":"one two three"})"));
  auto msgs = read_answer(*ws);
  expect_stream(msgs, conv, "Echo: one two three");
  EXPECT_GE(msgs.size(), 5u); // four words, then the final chunk and the completion
}

namespace {

/// A smaller send queue (still above the burst of one answer), and rate limits out of the
/// way of a flood of messages.
class slow_websocket_test : public websocket_test {
 protected:
  env_list environment() override {
    return {{"CHATAGENT_WS_QUEUE_MESSAGES", "256"}, {"CHATAGENT_RATE_LIMIT_USER", "100000"}};
  }
};

} // namespace

TEST_F(slow_websocket_test, a_client_that_does_not_read_is_disconnected_not_buffered) {
  auto token = register_user("alice");
  auto conv = create_conversation(token, create_bot(token, R"({"name":"Chatty"})"));
  // Never reads until the end, with a small receive window.
  auto ws = std::make_unique<ws_client>(
      server->port(), "/api/v1/ws/conversations/" + conv + "?token=" + token, 4096);
  ASSERT_EQ(ws->status(), 101);
  // Each answer streams about a hundred messages; the kernel's socket buffers take the
  // first few hundred kilobytes, then the server's queue of 256 overflows.
  for (int i = 0; i < 400; ++i) {
    auto res = post("/api/v1/conversations/" + conv + "/messages",
                    R"({"content":"what can you do?"})", token);
    ASSERT_EQ(res.status, 201) << res.body;
  }
  // The slow client finds, after what was already in flight, a close frame saying why.
  while (ws->next_text(2000)) {
  }
  EXPECT_EQ(ws->close_code(), 1008);
  // The server and the conversation are fine.
  EXPECT_EQ(get("/api/v1/conversations/" + conv, token).status, 200);
  auto fresh = connect(conv, token);
  ASSERT_EQ(fresh->status(), 101);
  ASSERT_TRUE(fresh->send_text(R"({"type":"ping"})"));
  auto pong = fresh->next_text();
  ASSERT_TRUE(pong);
  EXPECT_EQ(json_string(*parse_json(*pong), "type"), "pong");
}

namespace {

class websocket_timeout_test : public websocket_test {
 protected:
  env_list environment() override { return {{"CHATAGENT_LLM_TIMEOUT_SECONDS", "1"}}; }
};

} // namespace

TEST_F(websocket_timeout_test, chunks_of_an_abandoned_call_do_not_leak_into_the_next_answer) {
  fake_llm_server fake;
  auto token = register_user("alice");
  auto bot = create_bot(token, R"({"name":"r","llm_config":{"provider":"openai_compatible",)"
                               R"("base_url":")" +
                                   fake.url("/v1") + R"(","model":"slow"}})");
  auto conv = create_conversation(token, bot);
  auto ws = connect(conv, token);
  ASSERT_EQ(ws->status(), 101);
  // About 2.5 s of words at 50 ms each: the 1 s timeout abandons the call mid-stream
  // (answering 504 and an error event); chunks still in flight must not join a later answer.
  std::string long_text;
  for (int i = 0; i < 50; ++i)
    long_text += "word ";
  ASSERT_TRUE(ws->send_text(R"({"type":"user_message","content":")" + long_text + R"("})"));
  bool timed_out = false;
  while (auto text = ws->next_text(5000)) {
    auto doc = *parse_json(*text);
    if (json_string(doc, "type") == "error") {
      EXPECT_EQ(json_string(doc, "error.code"), "GATEWAY_TIMEOUT");
      timed_out = true;
      break;
    }
  }
  ASSERT_TRUE(timed_out);
  // The next answer streams while the abandoned call still sends its words.
  ASSERT_TRUE(ws->send_text(R"({"type":"user_message","content":"short"})"));
  expect_stream(read_answer(*ws), conv, "Echo: short");
}
