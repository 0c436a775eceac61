#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace chatagent::test {

/// A WebSocket server (RFC 6455) on 127.0.0.1 for tests, standing in for platforms the
/// server connects to (a OneBot implementation's forward WebSocket, Discord's gateway):
/// the handshake (refused with 401 when `Authorization` is not the expected value), text
/// frames both ways, pings answered, close frames. One connection at a time matters: the
/// newest.
class fake_ws_server {
 public:
  /// `authorization`: the `Authorization` header a client must send (empty: any).
  explicit fake_ws_server(std::string authorization = {});
  ~fake_ws_server();
  fake_ws_server(const fake_ws_server&) = delete;
  fake_ws_server& operator=(const fake_ws_server&) = delete;

  /// `ws://127.0.0.1:PORT` + `path`.
  std::string url(const std::string& path = "/") const;

  /// Waits until `n` handshakes were accepted in all; false after `timeout_ms`.
  bool wait_connections(int n, int timeout_ms = 10000);

  /// The next text frame of the newest connection; nullopt after `timeout_ms`.
  std::optional<std::string> next_text(int timeout_ms = 10000);

  /// Sends a text frame on the newest connection.
  bool send_text(const std::string& text);

  /// Drops the newest connection without a closing handshake (a lost connection).
  void drop();

  /// Closes the newest connection with a close frame carrying `code` and `reason`.
  void close(uint16_t code, const std::string& reason);

  /// Whether the newest connection was closed by the client (a close frame or EOF),
  /// waiting up to `timeout_ms`.
  bool wait_closed(int timeout_ms = 10000);

  /// The headers of the newest handshake (lower-case names; ":target" is the request
  /// target, path and query).
  std::map<std::string, std::string> headers() const;

 private:
  void accept_loop();
  void serve(int fd);

  std::string authorization_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::vector<std::thread> readers_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  int current_fd_ = -1;
  int accepted_ = 0;
  bool closed_ = false;
  std::deque<std::string> texts_;
  std::map<std::string, std::string> headers_;
  std::vector<int> fds_;
};

} // namespace chatagent::test
