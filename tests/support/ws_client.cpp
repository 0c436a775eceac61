#include "support/ws_client.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <random>
#include <sys/socket.h>
#include <unistd.h>

namespace chatagent::test {

ws_client::ws_client(uint16_t port, const std::string& target, int receive_buffer,
                     const std::vector<std::string>& headers) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (receive_buffer > 0)
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return;
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::string req = "GET " + target +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  for (auto& h : headers)
    req += h + "\r\n";
  req += "\r\n";
  if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    return;
  // The response head, then a body if the upgrade was refused.
  size_t end;
  while ((end = in_.find("\r\n\r\n")) == std::string::npos)
    if (!fill(in_.size() + 1, 10000))
      return;
  auto head = in_.substr(0, end);
  in_.erase(0, end + 4);
  status_ = std::atoi(head.substr(9, 3).c_str());
  if (status_ != 101) {
    size_t length = 0;
    auto lower = head;
    for (auto& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto p = lower.find("content-length:"); p != std::string::npos)
      length = std::stoul(head.substr(p + 15));
    fill(length, 10000);
    refusal_ = in_.substr(0, length);
  }
}

ws_client::~ws_client() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool ws_client::fill(size_t n, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[16384];
  while (in_.size() < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0)
      return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      continue;
    auto got = ::recv(fd_, buf, sizeof(buf), 0);
    if (got <= 0)
      return false;
    in_.append(buf, static_cast<size_t>(got));
  }
  return true;
}

bool ws_client::send_text(const std::string& text) {
  std::string frame;
  frame.push_back(static_cast<char>(0x81)); // FIN, text
  if (text.size() < 126) {
    frame.push_back(static_cast<char>(0x80 | text.size()));
  } else if (text.size() < 65536) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(text.size() >> 8));
    frame.push_back(static_cast<char>(text.size() & 0xFF));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i)
      frame.push_back(static_cast<char>((static_cast<uint64_t>(text.size()) >> (8 * i)) & 0xFF));
  }
  std::mt19937 gen{std::random_device{}()};
  unsigned char mask[4];
  for (auto& m : mask)
    m = static_cast<unsigned char>(gen());
  frame.append(reinterpret_cast<char*>(mask), 4);
  for (size_t i = 0; i < text.size(); ++i)
    frame.push_back(static_cast<char>(text[i] ^ mask[i % 4]));
  return ::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(frame.size());
}

std::optional<std::string> ws_client::next_text(int timeout_ms) {
  for (;;) {
    if (!fill(2, timeout_ms))
      return std::nullopt;
    auto b0 = static_cast<unsigned char>(in_[0]);
    auto b1 = static_cast<unsigned char>(in_[1]);
    size_t header = 2;
    uint64_t len = b1 & 0x7F;
    if (len == 126) {
      if (!fill(4, timeout_ms))
        return std::nullopt;
      len = (static_cast<uint64_t>(static_cast<unsigned char>(in_[2])) << 8) |
            static_cast<unsigned char>(in_[3]);
      header = 4;
    } else if (len == 127) {
      if (!fill(10, timeout_ms))
        return std::nullopt;
      len = 0;
      for (int i = 0; i < 8; ++i)
        len = (len << 8) | static_cast<unsigned char>(in_[2 + i]);
      header = 10;
    }
    if (!fill(header + len, timeout_ms))
      return std::nullopt;
    auto payload = in_.substr(header, len);
    in_.erase(0, header + len);
    auto opcode = b0 & 0x0F;
    if (opcode == 0x1)
      return payload;
    if (opcode == 0x8) {
      if (payload.size() >= 2)
        close_code_ =
            (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
      return std::nullopt;
    }
    if (opcode == 0x9) { // ping: answer with a masked pong carrying the same payload
      std::string pong;
      pong.push_back(static_cast<char>(0x8A));
      pong.push_back(static_cast<char>(0x80 | payload.size()));
      pong.append(4, '\0');
      pong += payload; // zero mask: payload unchanged
      ::send(fd_, pong.data(), pong.size(), MSG_NOSIGNAL);
    }
  }
}

} // namespace chatagent::test
