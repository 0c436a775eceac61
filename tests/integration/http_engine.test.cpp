// The HTTP engine (libcurl's multi interface on an epoll loop) against the fake provider
// on loopback: many transfers at once, streamed bodies, timeouts, refused connections.

#include "actors/http_engine.hpp"

#include "support/fake_llm_server.hpp"

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

using namespace chatagent;

namespace {

/// What the callbacks of one call saw.
struct outcome {
  long status = -1;
  std::string body;
  std::string error;
  bool timed_out = false;
  int data_calls = 0;
  bool done = false;
};

/// Calls finished, waited for.
class tally {
 public:
  explicit tally(size_t n) : outcomes_(n) {}

  actors::http_call call(size_t i, const std::string& url, const std::string& body) {
    actors::http_call c;
    c.url = url;
    c.headers = {"Content-Type: application/json"};
    c.body = body;
    c.on_status = [this, i](long status) {
      std::lock_guard guard{mtx_};
      outcomes_[i].status = status;
    };
    c.on_data = [this, i](std::string_view bytes) {
      std::lock_guard guard{mtx_};
      outcomes_[i].body.append(bytes);
      ++outcomes_[i].data_calls;
      return true;
    };
    c.on_done = [this, i](long status, const std::string& error, bool timed_out) {
      std::lock_guard guard{mtx_};
      auto& o = outcomes_[i];
      if (status != 0)
        o.status = status;
      o.error = error;
      o.timed_out = timed_out;
      o.done = true;
      ++finished_;
      cv_.notify_all();
    };
    return c;
  }

  bool wait_all(std::chrono::seconds limit) {
    std::unique_lock guard{mtx_};
    return cv_.wait_for(guard, limit, [&] { return finished_ == outcomes_.size(); });
  }

  outcome at(size_t i) {
    std::lock_guard guard{mtx_};
    return outcomes_[i];
  }

 private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<outcome> outcomes_;
  size_t finished_ = 0;
};

std::string chat_body(const std::string& model, const std::string& text) {
  std::string body = R"({"model":")";
  body += model;
  body += R"(","stream":true,"messages":[{"role":"user","content":")";
  body += text;
  body += R"("}]})";
  return body;
}

} // namespace

TEST(http_engine, streams_many_transfers_at_once) {
  test::fake_llm_server provider{false};
  actors::http_engine engine;
  constexpr size_t n = 300;
  tally t{n};
  // Slow streams (50 ms between chunks): all of them are open at the same time.
  for (size_t i = 0; i < n; ++i)
    engine.submit(t.call(i, provider.url("/v1/chat/completions"),
                         chat_body("slow", "call " + std::to_string(i) + " streams")));
  ASSERT_TRUE(t.wait_all(std::chrono::seconds(60)));
  for (size_t i = 0; i < n; ++i) {
    auto o = t.at(i);
    EXPECT_EQ(o.status, 200) << i;
    EXPECT_TRUE(o.error.empty()) << i << ": " << o.error;
    // Every word of the echo arrived, in its own event.
    EXPECT_NE(o.body.find("\"call \""), std::string::npos) << i;
    auto word = std::to_string(i);
    word += ' ';
    EXPECT_NE(o.body.find(word), std::string::npos) << i;
    EXPECT_NE(o.body.find("[DONE]"), std::string::npos) << i;
    EXPECT_GE(o.data_calls, 2) << i;
  }
}

TEST(http_engine, times_out_and_reports_refused_connections) {
  test::fake_llm_server provider{false};
  actors::http_engine engine;
  tally t{3};
  auto hang = t.call(0, provider.url("/v1/chat/completions"), chat_body("hang", "wait"));
  hang.timeout = std::chrono::milliseconds(300);
  engine.submit(std::move(hang));
  // Nothing listens on port 1 of loopback.
  engine.submit(t.call(1, "http://127.0.0.1:1/v1/chat/completions", chat_body("m", "x")));
  // A fast one alongside.
  engine.submit(t.call(2, provider.url("/v1/chat/completions"), chat_body("m", "quick")));
  ASSERT_TRUE(t.wait_all(std::chrono::seconds(30)));
  auto hung = t.at(0);
  EXPECT_TRUE(hung.timed_out);
  EXPECT_FALSE(hung.error.empty());
  auto refused = t.at(1);
  EXPECT_FALSE(refused.timed_out);
  EXPECT_FALSE(refused.error.empty());
  auto quick = t.at(2);
  EXPECT_EQ(quick.status, 200);
  EXPECT_TRUE(quick.error.empty()) << quick.error;
  EXPECT_NE(quick.body.find("quick"), std::string::npos);
}

TEST(http_engine, a_stopped_engine_ends_what_is_running) {
  test::fake_llm_server provider{false};
  tally t{2};
  {
    actors::http_engine engine;
    engine.submit(t.call(0, provider.url("/v1/chat/completions"), chat_body("hang", "a")));
    engine.submit(t.call(1, provider.url("/v1/chat/completions"), chat_body("hang", "b")));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(t.wait_all(std::chrono::seconds(5)));
  EXPECT_FALSE(t.at(0).error.empty());
  EXPECT_FALSE(t.at(1).error.empty());
}
