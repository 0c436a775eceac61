#include "support/fake_ws_server.hpp"

#include "support/fake_wire.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace chatagent::test {

namespace {

/// Sec-WebSocket-Accept for `key`.
std::string accept_key(const std::string& key) {
  auto text = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  unsigned char out[64];
  auto n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
}

/// An unmasked frame (servers do not mask).
std::string frame(uint8_t opcode, const std::string& payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(payload.size()));
  } else if (payload.size() < 65536) {
    f.push_back(126);
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    f.push_back(127);
    for (int i = 7; i >= 0; --i)
      f.push_back(static_cast<char>((static_cast<uint64_t>(payload.size()) >> (8 * i)) & 0xFF));
  }
  return f + payload;
}

bool read_exact(int fd, std::string& in, size_t n) {
  char buf[4096];
  while (in.size() < n) {
    auto got = ::recv(fd, buf, sizeof(buf), 0);
    if (got <= 0)
      return false;
    in.append(buf, static_cast<size_t>(got));
  }
  return true;
}

} // namespace

fake_ws_server::fake_ws_server(std::string authorization)
    : authorization_(std::move(authorization)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::listen(listen_fd_, 16);
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

fake_ws_server::~fake_ws_server() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (int fd : fds_)
      ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : readers_)
    t.join();
  for (int fd : fds_)
    ::close(fd);
}

std::string fake_ws_server::url(const std::string& path) const {
  return "ws://127.0.0.1:" + std::to_string(port_) + path;
}

void fake_ws_server::accept_loop() {
  while (!stopping_) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0)
      return;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::lock_guard<std::mutex> guard{mtx_};
    fds_.push_back(fd);
    readers_.emplace_back([this, fd] { serve(fd); });
  }
}

void fake_ws_server::serve(int fd) {
  std::string in;
  size_t end;
  while ((end = in.find("\r\n\r\n")) == std::string::npos)
    if (!read_exact(fd, in, in.size() + 1))
      return;
  std::map<std::string, std::string> headers;
  auto request_line = in.substr(0, in.find("\r\n")); // GET <target> HTTP/1.1
  auto first_space = request_line.find(' ');
  headers[":target"] =
      request_line.substr(first_space + 1, request_line.rfind(' ') - first_space - 1);
  for (size_t pos = in.find("\r\n") + 2; pos < end;) {
    auto e = in.find("\r\n", pos);
    auto line = in.substr(pos, e - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      auto name = line.substr(0, colon);
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.erase(0, 1);
      headers[name] = value;
    }
    pos = e + 2;
  }
  in.erase(0, end + 4);
  if (!authorization_.empty() && headers["authorization"] != authorization_) {
    send_json(fd, "401 Unauthorized", R"({"status":"failed","retcode":1403})");
    ::shutdown(fd, SHUT_RDWR);
    return;
  }
  if (!send_all(fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                    "Upgrade\r\nSec-WebSocket-Accept: " +
                        accept_key(headers["sec-websocket-key"]) + "\r\n\r\n"))
    return;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    current_fd_ = fd;
    ++accepted_;
    closed_ = false;
    texts_.clear();
    headers_ = headers;
  }
  cv_.notify_all();
  auto gone = [&] {
    std::lock_guard<std::mutex> guard{mtx_};
    if (current_fd_ == fd)
      closed_ = true;
    cv_.notify_all();
  };
  std::string message;
  for (;;) {
    if (!read_exact(fd, in, 2))
      return gone();
    auto opcode = static_cast<uint8_t>(in[0]) & 0x0F;
    bool fin = (static_cast<uint8_t>(in[0]) & 0x80) != 0;
    uint64_t length = static_cast<uint8_t>(in[1]) & 0x7F;
    bool masked = (static_cast<uint8_t>(in[1]) & 0x80) != 0;
    size_t head = 2;
    if (length == 126) {
      if (!read_exact(fd, in, 4))
        return gone();
      length =
          (static_cast<uint64_t>(static_cast<uint8_t>(in[2])) << 8) | static_cast<uint8_t>(in[3]);
      head = 4;
    } else if (length == 127) {
      if (!read_exact(fd, in, 10))
        return gone();
      length = 0;
      for (int i = 0; i < 8; ++i)
        length = (length << 8) | static_cast<uint8_t>(in[2 + i]);
      head = 10;
    }
    size_t mask_at = head;
    if (masked)
      head += 4;
    if (!read_exact(fd, in, head + length))
      return gone();
    std::string payload = in.substr(head, length);
    if (masked)
      for (size_t i = 0; i < payload.size(); ++i)
        payload[i] = static_cast<char>(payload[i] ^ in[mask_at + (i % 4)]);
    in.erase(0, head + length);
    if (opcode == 0x8) { // close: answered, then the connection ends
      send_all(fd, frame(0x8, payload.substr(0, 2)));
      ::shutdown(fd, SHUT_RDWR);
      return gone();
    }
    if (opcode == 0x9) { // ping
      send_all(fd, frame(0xA, payload));
      continue;
    }
    if (opcode == 0x1 || opcode == 0x0) {
      message += payload;
      if (!fin)
        continue;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        if (current_fd_ == fd)
          texts_.push_back(std::move(message));
      }
      message.clear();
      cv_.notify_all();
    }
  }
}

bool fake_ws_server::wait_connections(int n, int timeout_ms) {
  std::unique_lock<std::mutex> lock{mtx_};
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return accepted_ >= n; });
}

std::optional<std::string> fake_ws_server::next_text(int timeout_ms) {
  std::unique_lock<std::mutex> lock{mtx_};
  if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !texts_.empty(); }))
    return std::nullopt;
  auto t = std::move(texts_.front());
  texts_.pop_front();
  return t;
}

bool fake_ws_server::send_text(const std::string& text) {
  int fd;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    fd = current_fd_;
  }
  return fd >= 0 && send_all(fd, frame(0x1, text));
}

void fake_ws_server::drop() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (current_fd_ >= 0)
    ::shutdown(current_fd_, SHUT_RDWR);
}

void fake_ws_server::close(uint16_t code, const std::string& reason) {
  int fd;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    fd = current_fd_;
  }
  if (fd < 0)
    return;
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  send_all(fd, frame(0x8, payload + reason));
}

bool fake_ws_server::wait_closed(int timeout_ms) {
  std::unique_lock<std::mutex> lock{mtx_};
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return closed_; });
}

std::map<std::string, std::string> fake_ws_server::headers() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return headers_;
}

} // namespace chatagent::test
