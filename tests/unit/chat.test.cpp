#include "actors/bot_ledger.hpp"
#include "actors/llm_wire.hpp"
#include "actors/local_model.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "storage/chat_store.hpp"

#include <thread>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deep_to_string.hpp>
#include <gtest/gtest.h>

using namespace chatagent;
using namespace chatagent::protocol;
using actors::stream_parser;
using actors::wire_format;

namespace {

std::string collect(stream_parser& p, const std::vector<std::string>& pieces, caf::error* err) {
  std::string out;
  for (auto& piece : pieces) {
    auto e = p.feed(piece, [&](std::string t) { out += t; });
    if (e) {
      if (err)
        *err = e;
      break;
    }
  }
  return out;
}

json_value parse(std::string_view s) {
  return *parse_json(s);
}

} // namespace

TEST(stream_parser, reads_openai_sse_split_anywhere) {
  std::string stream =
      ": comment\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}\n\n"
      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
      "data: [DONE]\n\n";
  for (size_t step : {1u, 3u, 7u, 1000u}) {
    stream_parser p{wire_format::openai};
    std::vector<std::string> pieces;
    for (size_t i = 0; i < stream.size(); i += step)
      pieces.push_back(stream.substr(i, step));
    caf::error err;
    EXPECT_EQ(collect(p, pieces, &err), "Hello") << step;
    EXPECT_FALSE(err);
    EXPECT_TRUE(p.finished());
    EXPECT_EQ(p.finish_reason(), "stop");
  }
}

TEST(stream_parser, reads_anthropic_events) {
  stream_parser p{wire_format::anthropic};
  caf::error err;
  auto text = collect(
      p,
      {"event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
       "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":"
       "\"text_delta\",\"text\":\"你好\"}}\n\n",
       "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
       "\"max_tokens\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
      &err);
  EXPECT_EQ(text, "你好");
  EXPECT_TRUE(p.finished());
  EXPECT_EQ(p.finish_reason(), "length");
}

TEST(stream_parser, reads_ollama_ndjson) {
  stream_parser p{wire_format::ollama};
  auto text = collect(p,
                      {"{\"message\":{\"content\":\"a\"},\"done\":false}\n{\"message\":{\"con",
                       "tent\":\"b\"},\"done\":false}\n{\"done\":true,\"done_reason\":\"stop\"}\n"},
                      nullptr);
  EXPECT_EQ(text, "ab");
  EXPECT_TRUE(p.finished());
}

TEST(stream_parser, reads_errors_and_tool_calls_of_anthropic_and_ollama) {
  // Anthropic's error event, in the middle of a stream.
  stream_parser a{wire_format::anthropic};
  caf::error overloaded;
  auto text =
      collect(a,
              {"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{"
               "\"type\":\"text_delta\",\"text\":\"par\"}}\n\n",
               "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
               "\"message\":\"Overloaded\"}}\n\n"},
              &overloaded);
  EXPECT_EQ(text, "par");
  ASSERT_TRUE(overloaded);
  EXPECT_EQ(describe(overloaded).code, errc::bad_gateway);
  EXPECT_NE(describe(overloaded).message.find("Overloaded"), std::string::npos);

  // An Anthropic tool call: its arguments come in pieces of JSON text.
  stream_parser t{wire_format::anthropic};
  caf::error none;
  collect(t,
          {"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
           "\"tool_use\",\"id\":\"toolu_1\",\"name\":\"calculator\",\"input\":{}}}\n\n",
           "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
           "\"input_json_delta\",\"partial_json\":\"{\\\"expression\\\": \"}}\n\n",
           "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
           "\"input_json_delta\",\"partial_json\":\"\\\"2+2\\\"}\"}}\n\n",
           "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
           "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"}}\n\n"},
          &none);
  EXPECT_FALSE(none);
  ASSERT_EQ(t.tool_calls().size(), 1u);
  EXPECT_EQ(t.tool_calls()[0].id, "toolu_1");
  EXPECT_EQ(t.tool_calls()[0].name, "calculator");
  EXPECT_EQ(t.tool_calls()[0].arguments, R"({"expression": "2+2"})");
  EXPECT_EQ(t.finish_reason(), "tool_calls");

  // Ollama: an error line; arguments given as a JSON string instead of an object; garbage.
  stream_parser o{wire_format::ollama};
  caf::error missing;
  collect(o, {"{\"error\":\"model 'x' not found\"}\n"}, &missing);
  ASSERT_TRUE(missing);
  EXPECT_NE(describe(missing).message.find("model 'x' not found"), std::string::npos);
  stream_parser s{wire_format::ollama};
  collect(s,
          {"{\"message\":{\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"calc\","
           "\"arguments\":\"{\\\"x\\\":1}\"}},{\"nofunction\":1}]},\"done\":false}\n"},
          &none);
  EXPECT_FALSE(none);
  ASSERT_EQ(s.tool_calls().size(), 1u);
  EXPECT_EQ(s.tool_calls()[0].arguments, R"({"x":1})");
  EXPECT_FALSE(s.finished());
  stream_parser g{wire_format::ollama};
  caf::error garbage;
  collect(g, {"not json\n"}, &garbage);
  EXPECT_TRUE(garbage);
}

TEST(stream_parser, reports_errors_in_the_stream_and_garbage) {
  stream_parser p{wire_format::openai};
  caf::error err;
  collect(p, {"data: {\"error\":{\"message\":\"quota exceeded\"}}\n\n"}, &err);
  ASSERT_TRUE(err);
  EXPECT_EQ(describe(err).code, errc::bad_gateway);
  EXPECT_NE(describe(err).message.find("quota exceeded"), std::string::npos);

  stream_parser q{wire_format::openai};
  caf::error garbage;
  collect(q, {"data: {nope\n\n"}, &garbage);
  EXPECT_TRUE(garbage);
  EXPECT_FALSE(q.finished());

  // An error given as a plain string; a JSON value that is not an object is garbage too.
  stream_parser r{wire_format::openai};
  caf::error plain;
  collect(r, {"data: {\"error\":\"model overloaded\"}\n\n"}, &plain);
  ASSERT_TRUE(plain);
  EXPECT_NE(describe(plain).message.find("model overloaded"), std::string::npos);
  stream_parser t{wire_format::openai};
  caf::error array;
  collect(t, {"data: [1,2]\n\n"}, &array);
  EXPECT_TRUE(array);

  // Events without choices (usage reports) and a null error carry nothing and are fine.
  stream_parser u{wire_format::openai};
  caf::error none;
  auto text =
      collect(u,
              {"data: {\"choices\":[],\"usage\":{\"total_tokens\":9}}\n\n",
               "data: {\"error\":null,\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n",
               "data: {\"choices\":[{\"delta\":{\"content\":null},\"finish_reason\":\"length\"}]}"
               "\n\ndata: [DONE]\n\n"},
              &none);
  EXPECT_FALSE(none);
  EXPECT_EQ(text, "ok");
  EXPECT_EQ(u.finish_reason(), "length");
  EXPECT_TRUE(u.finished());
}

TEST(llm_wire, builds_requests_per_provider) {
  llm_request req;
  req.config.provider = "openai";
  req.config.api_key = "sk-1";
  req.turns = {{"system", "S"}, {"user", "U"}};
  auto w = actors::build_request(req);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->url, "https://api.openai.com/v1/chat/completions");
  auto body = parse(w->body);
  EXPECT_EQ(body.find("messages")->as_array().size(), 2u);
  EXPECT_TRUE(body.find("stream")->as_bool());

  req.config.provider = "anthropic";
  req.config.base_url = "http://127.0.0.1:9/v1/";
  w = actors::build_request(req);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->url, "http://127.0.0.1:9/v1/messages");
  body = parse(w->body);
  EXPECT_EQ(body.find("system")->as_string(), "S");
  EXPECT_EQ(body.find("messages")->as_array().size(), 1u);

  req.config.provider = "openai_compatible";
  req.config.base_url.clear();
  EXPECT_FALSE(actors::build_request(req));
}

TEST(llm_request, shares_turns_and_serializes_them_by_value) {
  llm_request req;
  req.config.provider = "openai";
  llm_turn asked{"assistant", ""};
  asked.tool_calls.push_back(tool_call{"call_1", "calculator", R"({"expression":"2+3"})"});
  req.turns = {{"system", "S"}, {"user", "U"}, asked};
  req.prompt_tokens = 7;
  auto copy = req;
  EXPECT_EQ(&*copy.turns[1], &*req.turns[1]); // the text is shared, not copied
  // Rendered once for every prompt; turns with tool calls have each API's own shape.
  EXPECT_EQ(req.turns[1].message_json(), R"({"role":"user","content":"U"})");
  EXPECT_EQ(shared_turn("assistant", "say \"hi\"\n").message_json(),
            R"({"role":"assistant","content":"say \"hi\"\n"})");
  EXPECT_TRUE(req.turns[2].message_json().empty());

  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  ASSERT_FALSE(sink(req));
  llm_request loaded;
  caf::binary_deserializer source{nullptr, buf};
  ASSERT_FALSE(source(loaded));
  ASSERT_EQ(loaded.turns.size(), 3u);
  EXPECT_EQ(loaded.turns[0]->role, "system");
  EXPECT_EQ(loaded.turns[1]->content, "U");
  ASSERT_EQ(loaded.turns[2]->tool_calls.size(), 1u);
  EXPECT_EQ(loaded.turns[2]->tool_calls[0].arguments, R"({"expression":"2+3"})");
  EXPECT_EQ(loaded.prompt_tokens, 7);
  EXPECT_EQ(loaded.turns[1].message_json(), R"({"role":"user","content":"U"})");
  EXPECT_NE(caf::deep_to_string(req).find("\"U\""), std::string::npos);
}

TEST(turn_arena, keeps_turns_side_by_side_for_as_long_as_a_prompt_holds_them) {
  std::vector<shared_turn> turns;
  {
    turn_arena arena;
    // Enough turns, some long, to fill several blocks of every size.
    for (int i = 0; i < 300; ++i) {
      auto text = "turn " + std::to_string(i) + (i % 50 == 7 ? std::string(20000, 'x') : "\n");
      turns.push_back(arena.add({i % 2 == 0 ? "user" : "assistant", text}));
    }
    llm_turn asked{"assistant", ""};
    asked.tool_calls.push_back(tool_call{"call_1", "calculator", "{}"});
    turns.push_back(arena.add(asked));
  } // the arena is gone: the turns keep their blocks
  for (int i = 0; i < 300; ++i) {
    auto text = "turn " + std::to_string(i) + (i % 50 == 7 ? std::string(20000, 'x') : "\n");
    auto role = i % 2 == 0 ? "user" : "assistant";
    ASSERT_EQ(turns[i]->content, text);
    json_writer w;
    w.begin_object().member("role", role).member("content", text).end_object();
    ASSERT_EQ(turns[i].message_json(), w.str()) << i;
  }
  // Consecutive short turns are consecutive in memory.
  EXPECT_EQ(turns[1].message_json().data(),
            turns[0].message_json().data() + turns[0].message_json().size());
  EXPECT_TRUE(turns.back().message_json().empty()); // each API's own shape
  ASSERT_EQ(turns.back()->tool_calls.size(), 1u);
  turns.erase(turns.begin(), turns.begin() + 150); // the oldest blocks go
  EXPECT_EQ(turns.front()->content, "turn 150\n");
}

TEST(local_model, answers_usefully_and_never_echoes) {
  llm_request req;
  req.bot_name = "Bob";
  req.turns = {{"user", "what is 2^10 - 24"}};
  EXPECT_EQ(actors::local_model::answer(req, 0), "The result is 1000.");
  req.turns = {{"user", "计算 (1+2)*3"}};
  EXPECT_EQ(actors::local_model::answer(req, 0), "计算结果是 9。");
  req.turns = {{"user", "Tell me a story about dragons"}};
  auto a = actors::local_model::answer(req, 0);
  EXPECT_NE(a.find("Bob"), std::string::npos);
  EXPECT_NE(a.find("llm_config"), std::string::npos);
  req.turns = {{"user", "1/0"}};
  EXPECT_EQ(actors::local_model::answer(req, 0).find("The result"), std::string::npos);
  std::string joined;
  for (auto& p : actors::local_model::pieces("Hi 你好 there"))
    joined += p;
  EXPECT_EQ(joined, "Hi 你好 there");
}

TEST(chat_json, bot_updates_merge_and_validate) {
  bot b;
  ASSERT_FALSE(apply_bot_json(b, parse(R"({"name":"n","llm_config":{"api_key":"k","model":"m"},
      "platform_config":{"token":"t","chat":"c"}})"),
                              true));
  ASSERT_FALSE(apply_bot_json(b, parse(R"({"llm_config":{"model":"m2"},
      "platform_config":{"chat":null,"extra":1}})"),
                              false));
  EXPECT_EQ(b.llm.api_key, "k");
  EXPECT_EQ(b.llm.model, "m2");
  EXPECT_EQ(b.platform_config, R"({"token":"t","extra":1})");
  auto err = apply_bot_json(b, parse(R"({"llm_config":{"max_tokens":-1}})"), false);
  EXPECT_EQ(describe(err).field, "llm_config.max_tokens");
  EXPECT_EQ(b.llm.max_tokens, 2000); // unchanged
  json_writer w;
  write_bot(w, b, false);
  EXPECT_EQ(w.str().find("\"t\""), std::string::npos); // the platform token is hidden
  EXPECT_EQ(w.str().find("\"k\""), std::string::npos); // the model key too
  EXPECT_NE(w.str().find("\"extra\":1"), std::string::npos);
}

TEST(chat_json, urls_are_checked) {
  EXPECT_TRUE(check_http_url("https://api.example.com/v1").empty());
  EXPECT_TRUE(check_http_url("http://127.0.0.1:11434").empty());
  EXPECT_TRUE(check_http_url("http://[::1]:8080/v1").empty());
  EXPECT_FALSE(check_http_url("ftp://x").empty());
  EXPECT_FALSE(check_http_url("http://").empty());
  EXPECT_FALSE(check_http_url("http://host:99999").empty());
  EXPECT_FALSE(check_http_url("http://a b").empty());
}

TEST(chat_records, round_trip_through_storage_encoding) {
  conversation c;
  c.id = conversation_id{"conv_1"};
  c.owner = user_id{"usr_1"};
  c.bot = bot_id{"bot_1"};
  c.title = "标题";
  c.context = R"({"a":[1,2]})";
  c.message_count = 7;
  auto back = storage::decode_conversation(storage::encode(c));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->title, "标题");
  EXPECT_EQ(back->context, R"({"a":[1,2]})");
  EXPECT_EQ(back->message_count, 7);
  EXPECT_LT(storage::message_key(c.id, 9), storage::message_key(c.id, 10));
  EXPECT_LT(storage::message_key(c.id, 255), storage::message_key(c.id, 256));
  EXPECT_EQ(storage::message_key(conversation_id{"conv_1"}, 0x1234abcd), "conv_1/000000001234abcd");
  EXPECT_EQ(storage::message_key(conversation_id{"c"}, INT64_MAX), "c/7fffffffffffffff");
  EXPECT_FALSE(storage::decode_message("{}"));
}

TEST(bot_ledger, counts_from_many_threads_and_tells_of_changes_and_removal) {
  actors::bot_ledger ledger;
  auto e = ledger.add("bot_a", 10, 1, 500);
  EXPECT_EQ(ledger.find("bot_a"), e);
  EXPECT_EQ(ledger.find("bot_b"), nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i)
        ledger.find("bot_a")->count(2, i % 2, 1000 + t * 1000 + i);
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(e->messages.load(), 10 + 4 * 1000 * 2);
  EXPECT_EQ(e->errors.load(), 1 + 4 * 500);
  EXPECT_EQ(e->last_activity_ms.load(), 1000 + 3 * 1000 + 999); // the latest, not the last
  e->count(1, 0, 5);                                            // an older time stays behind
  EXPECT_EQ(e->last_activity_ms.load(), 4999);

  auto seen = e->version.load();
  e->changed();
  EXPECT_NE(e->version.load(), seen);
  seen = e->version.load();
  ledger.remove("bot_a");
  EXPECT_EQ(ledger.find("bot_a"), nullptr);
  EXPECT_NE(e->version.load(), seen); // whoever keeps the entry asks for the bot again
}
