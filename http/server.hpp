#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace chatagent::http {

class api;

/// Transport limits and threads of the HTTP front end.
struct server_settings {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;
  size_t io_threads = 2;
  size_t max_connections = 10000;
  size_t max_body_bytes = 1 << 20;
  size_t max_upload_bytes = 32 << 20; // multipart/form-data bodies (document uploads)
  size_t max_header_bytes = 16 << 10;
  size_t ws_queue_messages = 1024; // per WebSocket connection; then it is closed (1008)
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds shutdown_timeout{10};
};

/// The HTTP/1.1 front end (Boost.Beast): accepts connections on a few I/O threads, reads
/// requests within the limits and timeouts, hands them to `api` and writes the answers.
/// Keep-alive; one request at a time per connection, so a connection never queues more
/// than one response.
class server {
 public:
  server(server_settings settings, api& handler);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds, listens and starts the I/O threads. On failure returns false and sets `error`
  /// to a one-line reason (e.g. the port is in use).
  bool start(std::string& error);

  /// The port actually bound (useful with port 0).
  uint16_t port() const noexcept;

  /// Stops accepting, lets requests in flight finish (up to the shutdown timeout), then
  /// closes every connection and joins the I/O threads.
  void stop();

  struct impl; // shared with the sessions in server.cpp

 private:
  std::unique_ptr<impl> impl_;
};

} // namespace chatagent::http
