// In-process costs of the per-request work on the API's hot path.
#include "actors/llm_wire.hpp"
#include "http/jwt.hpp"
#include "http/rate_limiter.hpp"
#include "protocol/json.hpp"
#include "protocol/time.hpp"

#include <benchmark/benchmark.h>

using namespace chatagent;

static void bm_jwt_verify(benchmark::State& state) {
  http::token_service ts{"0123456789abcdef0123456789abcdef", 3600};
  protocol::user u;
  u.id = protocol::user_id{"usr_01HZX3Q7RJ2V6N8K4M5P9T0ABC"};
  auto token = ts.issue(u, 1'700'000'000);
  for (auto _ : state)
    benchmark::DoNotOptimize(ts.verify(token, 1'700'000'001));
}
BENCHMARK(bm_jwt_verify);

static void bm_json_parse_registration(benchmark::State& state) {
  std::string body = R"({"username":"user123","nickname":"用户昵称","email":"user@example.com",)"
                     R"("password":"password123","role":"user"})";
  for (auto _ : state)
    benchmark::DoNotOptimize(protocol::parse_json(body));
}
BENCHMARK(bm_json_parse_registration);

static void bm_json_write_user(benchmark::State& state) {
  for (auto _ : state) {
    protocol::json_writer w;
    w.begin_object()
        .member("id", "usr_01HZX3Q7RJ2V6N8K4M5P9T0ABC")
        .member("username", "user123")
        .member("nickname", "用户昵称")
        .member("email", "user@example.com")
        .member("role", "user")
        .member("is_active", true)
        .member("created_at", protocol::format_time(1'700'000'000'000))
        .member("updated_at", protocol::format_time(1'700'000'000'000))
        .end_object();
    benchmark::DoNotOptimize(w.take());
  }
}
BENCHMARK(bm_json_write_user);

static void bm_rate_limiter_check(benchmark::State& state) {
  http::rate_limiter rl;
  std::vector<std::string> keys;
  for (int i = 0; i < 1024; ++i)
    keys.push_back("u:usr_" + std::to_string(i));
  size_t i = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(rl.check(keys[i++ & 1023], 1'000'000'000, 1'700'000'000));
}
BENCHMARK(bm_rate_limiter_check)->Threads(1)->Threads(2);

/// Reads `stream`, one whole answer, once per iteration.
static void parse_answers(benchmark::State& state, actors::wire_format format,
                          const std::string& stream) {
  for (auto _ : state) {
    actors::stream_parser p{format};
    std::string text;
    auto err = p.feed(stream, [&](std::string piece) { text += piece; });
    benchmark::DoNotOptimize(err);
    benchmark::DoNotOptimize(text);
  }
}

// One streamed answer as an OpenAI-compatible server sends it: 16 chunks of a few words,
// each a full chat.completion.chunk object, then the finish and [DONE]; per answer.
static void bm_sse_openai_answer(benchmark::State& state) {
  std::string stream;
  for (int i = 0; i < 16; ++i)
    stream += R"(data: {"id":"chatcmpl-9x8y7z6w5v4u3t2s1r0q","object":"chat.completion.chunk",)"
              R"("created":1732700000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":)"
              R"("fp_0ba0d124f1","choices":[{"index":0,"delta":{"content":"word )" +
              std::to_string(i) + R"( "},"logprobs":null,"finish_reason":null}]})" + "\n\n";
  stream += R"(data: {"id":"chatcmpl-9x8y7z6w5v4u3t2s1r0q","object":"chat.completion.chunk",)"
            R"("created":1732700000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,)"
            R"("delta":{},"logprobs":null,"finish_reason":"stop"}]})"
            "\n\ndata: [DONE]\n\n";
  parse_answers(state, actors::wire_format::openai, stream);
}
BENCHMARK(bm_sse_openai_answer);

// The same answer as Anthropic's Messages API streams it: a text block of 16 deltas
// between its start and stop events, then the message's delta and stop.
static void bm_sse_anthropic_answer(benchmark::State& state) {
  std::string stream =
      "event: message_start\ndata: "
      R"({"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":)"
      R"("message","role":"assistant","content":[],"model":"claude-3-5-sonnet-20241022",)"
      R"("stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}})"
      "\n\nevent: content_block_start\ndata: "
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
      "\n\n";
  for (int i = 0; i < 16; ++i)
    stream +=
        "event: content_block_delta\ndata: "
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"word )" +
        std::to_string(i) + R"( "}})" + "\n\n";
  stream += "event: content_block_stop\ndata: "
            R"({"type":"content_block_stop","index":0})"
            "\n\nevent: message_delta\ndata: "
            R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},)"
            R"("usage":{"output_tokens":15}})"
            "\n\nevent: message_stop\ndata: "
            R"({"type":"message_stop"})"
            "\n\n";
  parse_answers(state, actors::wire_format::anthropic, stream);
}
BENCHMARK(bm_sse_anthropic_answer);

BENCHMARK_MAIN();
