#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace chatagent::test {

/// A minimal WebSocket client (RFC 6455) over a plain socket to 127.0.0.1, for tests:
/// the handshake, masked text frames out, text/close frames in.
class ws_client {
 public:
  /// Connects and sends the upgrade request for `target` (path and query) with the extra
  /// `headers` ("Name: value"). A non-zero `receive_buffer` shrinks the socket's receive
  /// buffer (a client that reads slowly).
  ws_client(uint16_t port, const std::string& target, int receive_buffer = 0,
            const std::vector<std::string>& headers = {});
  ~ws_client();
  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  /// The handshake's HTTP status: 101 when upgraded.
  int status() const noexcept { return status_; }
  /// The body of a refused handshake.
  const std::string& refusal() const noexcept { return refusal_; }

  bool send_text(const std::string& text);

  /// The next text message; nullopt on timeout or when the server closed (see
  /// `close_code`).
  std::optional<std::string> next_text(int timeout_ms = 10000);

  /// The code of the server's close frame, 0 if none came.
  int close_code() const noexcept { return close_code_; }

 private:
  bool fill(size_t n, int timeout_ms);

  int fd_ = -1;
  int status_ = 0;
  int close_code_ = 0;
  std::string refusal_;
  std::string in_;
};

} // namespace chatagent::test
