#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace chatagent::test {

/// A stand-in for LLM providers on 127.0.0.1 that speaks their real wire protocols:
/// OpenAI chat completions (SSE, `POST /v1/chat/completions`), Anthropic Messages (SSE
/// events, `POST /v1/messages`) and Ollama (NDJSON, `POST /api/chat`), with chunked
/// transfer encoding as the real ones use.
///
/// The request's `model` picks the behavior:
/// - anything else: streams "Echo: <last user message>" word by word, then ends properly;
/// - `slow`: the same with 50 ms between chunks;
/// - `fail-<status>`: answers that HTTP status with the provider's error body;
/// - `flaky`: 503 on the first request of each conversation text, then as the default;
/// - `malformed`: one good chunk, then an event that is not JSON;
/// - `disconnect`: two chunks, then closes the connection mid-stream;
/// - `hang`: accepts the request and never answers;
/// - `busy-<seconds>`: 429 with `Retry-After: <seconds>` on the first request of each
///   conversation text, then as the default.
/// Embeddings too: OpenAI's `POST /v1/embeddings` and Ollama's `POST /api/embed`, 32
/// dimensions from the input's words (`fail-<status>` and `flaky` as above; `slow` takes
/// 300 ms per request).
/// - `tools`: when the request offers tools, asks for the tool calls the last user message names
/// (`call calculator
///   {"expression":"2+3"} ; call datetime {...}`), in the flavor's wire format with the
///   arguments split over two events; once the request carries their results, streams
///   "Echo: Results: [<result>] [<result>]"; `tools-loop` asks for the calls every time.
/// Weather: `GET .../weather?q=<place>&appid=<key>` answers as OpenWeatherMap's current
/// weather does (key `good-key` only, `Atlantis` 404, `Slowtown` after 3 s).
/// HTTP plugins: `/hook/echo...` answers `{"method", "path", "body", "x_api_key"}` of the
/// request, `/hook/fail` a 500, `/hook/slow` after 3 s.
/// - `stamp`: 16 chunks at once, each the CLOCK_MONOTONIC time (ns) it was sent, and a
///   space: load runs measure what the server adds to a chunk's way to the client.
class fake_llm_server {
 public:
  struct request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> headers; // lower-cased names
    std::string body;
    std::chrono::steady_clock::time_point at; // when it arrived
  };

  /// `record_requests` false: keep nothing (for load runs).
  explicit fake_llm_server(bool record_requests = true);
  ~fake_llm_server();
  fake_llm_server(const fake_llm_server&) = delete;
  fake_llm_server& operator=(const fake_llm_server&) = delete;

  uint16_t port() const noexcept { return port_; }
  /// `http://127.0.0.1:PORT` + `path`.
  std::string url(const std::string& path = "") const;

  /// The requests received so far.
  std::vector<request> requests() const;

  /// Telegram: queues an update carrying `message` (a Bot API Message object as JSON) for
  /// `getUpdates`; returns its update_id. The fake speaks the Bot API under
  /// `/tg/bot<token>/` for the token `telegram_token`: getMe, getUpdates (long polls,
  /// answered early when an update comes; 409 while a webhook is set), sendMessage,
  /// editMessageText, setWebhook and deleteWebhook.
  int64_t push_telegram_message(const std::string& message);
  static constexpr const char* telegram_token = "123456:TEST-token";
  /// Telegram: the next `n` getUpdates calls answer 502 Bad Gateway (an outage).
  void fail_telegram_polls(int n);

  /// Slack's Web API under `/slack/api/` for the bot token `slack_token` (otherwise
  /// `invalid_auth`): auth.test (the bot is user `UBOT`), chat.postMessage (channel
  /// `CGONE`: channel_not_found), chat.update. Events are the test's to sign and send.
  static constexpr const char* slack_token = "xoxb-test-token";
  /// Slack: the next `n` chat.postMessage calls are refused with HTTP 429 and
  /// `Retry-After: 1`, as Slack limits each channel to about one message a second.
  void throttle_slack(int n);

  /// Discord's REST API under `/discord/api/` for the token `discord_token` (otherwise
  /// 401): GET gateway/bot (its `url` is what `set_discord_gateway` set), POST
  /// channels/{id}/messages, PATCH channels/{id}/messages/{id}.
  static constexpr const char* discord_token = "discord-test-token";
  void set_discord_gateway(const std::string& url);

  /// Lark/Feishu's Open API under `/lark/open-apis/` for the app `lark_app_id` with the
  /// secret `lark_app_secret`: tenant_access_token/internal, bot/v3/info (the bot is
  /// `ou_bot`), im/v1/messages/{id}/reply (with the tenant token, else code 99991663).
  static constexpr const char* lark_app_id = "cli_test";
  static constexpr const char* lark_app_secret = "lark-secret";
  // DingTalk: `/dingtalk/robot/sendBySession?session=...` takes a robot's message (a
  // message's sessionWebhook) and answers `{"errcode":0}`.
  /// DingTalk's stream gateway: `POST /dingtalk/v1.0/gateway/connections/open` with the
  /// app `dingtalk_app_key` and its secret (else 401) answers the `endpoint` that
  /// `set_dingtalk_stream` set and the ticket `dingtalk-ticket`.
  static constexpr const char* dingtalk_app_key = "ding-app-key";
  void set_dingtalk_stream(const std::string& endpoint, const std::string& app_secret);

  /// WeCom under `/wecom/cgi-bin/`: gettoken (corp `wecom_corp_id`, secret
  /// `wecom_secret`), message/send (with that token, else errcode 40014).
  static constexpr const char* wecom_corp_id = "ww_test_corp";
  static constexpr const char* wecom_secret = "wecom-secret";

 private:
  void accept_loop();
  void serve(int fd);
  bool answer_embeddings(int fd, const request& req);
  bool answer_telegram(int fd, const request& req);
  bool answer_dingtalk_gateway(int fd, const request& req);
  bool answer_slack(int fd, const request& req);
  bool answer_discord(int fd, const request& req);
  bool answer_lark(int fd, const request& req);
  bool answer_wecom(int fd, const request& req);

  bool record_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mtx_;
  std::vector<request> requests_;
  std::map<std::string, int> flaky_seen_;
  std::vector<std::thread> connections_;
  std::vector<int> open_fds_;
  std::condition_variable telegram_cv_;
  std::vector<std::pair<int64_t, std::string>> telegram_updates_; // id, update JSON
  int64_t telegram_next_ = 1;
  int64_t telegram_sent_ = 0;
  std::string telegram_webhook_; // set by setWebhook: getUpdates answers 409 meanwhile
  int telegram_failing_ = 0;     // getUpdates calls still to answer 502
  int64_t slack_posted_ = 0;
  int slack_throttled_ = 0; // chat.postMessage calls still to refuse with 429
  int64_t discord_posted_ = 0;
  std::map<std::string, int> lark_replies_; // replies to each message
  std::map<std::string, int> lark_edits_;   // edits of each reply
  std::string discord_gateway_;
  std::string dingtalk_stream_, dingtalk_secret_;
};

} // namespace chatagent::test
