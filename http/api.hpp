#pragma once

#include "http/jwt.hpp"
#include "protocol/account.hpp"
#include "protocol/chat_api.hpp"
#include "protocol/error.hpp"
#include "protocol/knowledge.hpp"
#include "protocol/plugin_api.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/fwd.hpp>

namespace chatagent::http {

/// A request as the API sees it, independent of the HTTP library.
struct api_request {
  std::string method;
  std::string target; // path and query, as sent
  std::string body;
  std::string authorization;
  std::string content_type;
  std::string request_id; // the client's X-Request-Id, if any
  std::string client_address;
  std::vector<std::pair<std::string, std::string>> headers; // all of them, platform callbacks only
};

/// A response as the API produces it; the transport adds framing headers.
struct api_response {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Receives the response to one request, exactly once, on any thread.
using responder = std::function<void(api_response)>;

/// The transport's side of one WebSocket connection; thread-safe.
class ws_outlet {
 public:
  virtual ~ws_outlet() = default;
  /// Queues a text message. A client that reads too slowly to keep the queue bounded is
  /// disconnected instead (close code 1008).
  virtual void send(std::string text) = 0;
  /// Sends a close frame with `reason` and ends the connection.
  virtual void close(std::string reason) = 0;
};

/// The API's side of one WebSocket connection. Called on the connection's I/O thread,
/// one call at a time.
class ws_inlet {
 public:
  virtual ~ws_inlet() = default;
  /// A text message from the client.
  virtual void on_text(std::string text) = 0;
  /// The connection is gone; called once, last.
  virtual void on_close() = 0;
};

/// Receives the outcome of a WebSocket upgrade request, exactly once, on any thread:
/// either a refusal (an HTTP error response to send instead of the handshake) or the
/// inlet of the accepted connection.
using upgrade_responder =
    std::function<void(std::optional<api_response> refusal, std::shared_ptr<ws_inlet> inlet)>;

/// Requests per minute for each kind of caller.
struct rate_limits {
  int64_t user = 100;
  int64_t premium = 1000;
  int64_t enterprise = 10000; // admins get this too
  int64_t anonymous = 100;    // per client address
};

struct api_settings {
  rate_limits limits;
  std::chrono::milliseconds actor_timeout{10000};
  std::chrono::milliseconds llm_timeout{130000}; // for requests that wait for a model
  std::string version;
};

/// The actors the API talks to.
struct services {
  protocol::account_actor accounts;
  protocol::bot_manager_actor bots;
  protocol::conversation_manager_actor conversations;
  protocol::knowledge_manager_actor knowledge;
  protocol::plugin_registry_actor plugins;
};

/// The REST API: authenticates and rate-limits each request, routes it, turns it into
/// messages to the actors and their replies into responses. It never blocks the calling
/// (I/O) thread: actor requests run in a few bridge actors and answer through `responder`.
class api {
 public:
  api(caf::actor_system& sys, services svc, token_service tokens, api_settings settings);
  ~api();
  api(const api&) = delete;
  api& operator=(const api&) = delete;

  /// Answers `req` through `done`.
  void handle(api_request req, responder done);

  /// Decides on a WebSocket upgrade request (`GET /api/v1/ws/conversations/{id}?token=...`):
  /// authenticates the token, checks the conversation is the user's and subscribes
  /// `outlet` to it.
  void upgrade(api_request req, std::shared_ptr<ws_outlet> outlet, upgrade_responder done);

  /// Answers a request the transport refused before routing (malformed HTTP, body too
  /// large): a standard error, with the request id and rate-limit headers.
  void reject(const api_request& req, protocol::errc code, std::string message, responder done);

  /// Stops the bridge actors and waits until they are gone; pending requests are dropped
  /// without an answer. Call after the transport stopped, before destroying this object.
  void shutdown();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace chatagent::http
