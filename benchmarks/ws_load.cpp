// WebSocket load generator for benchmarks/run-ws.sh (issue 3): many conversations, each
// with one authenticated WebSocket, messages sent at a fixed total rate, answers streamed
// back by a bot whose provider is the fake's `stamp` model (every chunk carries the
// CLOCK_MONOTONIC time it left the provider).
//
//   ws_load PORT TOKEN BOT_ID SERVER_PID CONVERSATIONS RATE SECONDS
//
// 1. creates CONVERSATIONS conversations over REST (8 threads);
// 2. loads every one of them into memory (GET), reading the server's RSS before and after:
//    memory per live conversation actor;
// 3. opens one WebSocket per conversation and lets them sit for 12 s (longer than the
//    server's default `memory_trim_seconds`, so that the handshakes' freed memory has
//    gone back to the system): memory per idle connection;
// 4. sends RATE user messages per second in all, each to a connection with no answer in
//    flight, for SECONDS, and reports chunks/s, the time from sending to the first chunk,
//    and the time a chunk spends between the provider and the client (what the server
//    adds to streaming).
// Everything runs on one thread over epoll; the output is Markdown for docs/benchmarks.md.

#include "support/http_client.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <random>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using chatagent::test::http_request;

int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

/// Resident memory of process `pid` in KiB.
int64_t rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtoll(line.c_str() + 6, nullptr, 10);
  return -1;
}

void settle() {
  std::this_thread::sleep_for(std::chrono::seconds(2));
}

struct percentiles {
  std::vector<int64_t> v;
  void add(int64_t x) { v.push_back(x); }
  std::string report() {
    if (v.empty())
      return "n/a";
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
      return static_cast<double>(v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]) /
             1e6;
    };
    char buf[128];
    std::snprintf(buf, sizeof(buf), "p50 %.3f ms, p99 %.3f ms, max %.3f ms", at(0.5), at(0.99),
                  static_cast<double>(v.back()) / 1e6);
    return buf;
  }
};

struct connection {
  int fd = -1;
  std::string conversation;
  bool open = false; // upgraded
  std::string in;
  std::string out;
  bool busy = false; // a message is waiting for its answer
  bool seen_first = false;
  int64_t sent_at = 0;
};

struct totals {
  int64_t sent = 0, completed = 0, chunks = 0, errors = 0, skipped = 0, closed = 0;
  percentiles first_chunk; // message sent -> its first chunk received
  percentiles relay;       // chunk left the provider -> received
  percentiles first_relay; // the same for the first chunk of each answer
  percentiles complete;    // message sent -> stream_complete received
};

std::mt19937 rng{42};

/// A masked client frame (RFC 6455 5.3).
void append_frame(std::string& out, int opcode, std::string_view payload) {
  out.push_back(static_cast<char>(0x80 | opcode));
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>((payload.size() >> 8) & 0xFF));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  uint32_t key = rng();
  char mask[4];
  std::memcpy(mask, &key, 4);
  out.append(mask, 4);
  for (size_t i = 0; i < payload.size(); ++i)
    out.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
}

bool flush(connection& c) {
  while (!c.out.empty()) {
    auto n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK;
    c.out.erase(0, static_cast<size_t>(n));
  }
  return true;
}

/// The JSON string member `name` of a flat object our server wrote ("" if absent).
std::string_view member(std::string_view json, std::string_view name) {
  std::string key;
  key.reserve(name.size() + 3);
  key.push_back('"');
  key.append(name);
  key.append("\":");
  auto at = json.find(key);
  if (at == std::string_view::npos)
    return {};
  auto from = at + key.size();
  if (from < json.size() && json[from] == '"') {
    auto end = json.find('"', from + 1);
    return json.substr(from + 1, end - from - 1);
  }
  auto end = json.find_first_of(",}", from);
  return json.substr(from, end - from);
}

void on_text(connection& c, std::string_view text, totals& t) {
  auto type = member(text, "type");
  auto now = now_ns();
  if (type == "stream_chunk") {
    ++t.chunks;
    auto content = member(text, "content");
    if (!content.empty()) {
      auto waited = now - std::strtoll(std::string{content}.c_str(), nullptr, 10);
      t.relay.add(waited);
      if (member(text, "chunk_id") == "1")
        t.first_relay.add(waited);
    }
    if (!c.seen_first && c.busy) {
      c.seen_first = true;
      t.first_chunk.add(now - c.sent_at);
    }
  } else if (type == "stream_complete") {
    ++t.completed;
    if (c.busy)
      t.complete.add(now - c.sent_at);
    c.busy = false;
  } else if (type == "error") {
    ++t.errors;
    c.busy = false;
  }
}

/// Consumes what arrived on `c`; false when the connection is gone.
bool on_readable(connection& c, totals& t) {
  char buf[65536];
  for (;;) {
    auto n = ::recv(c.fd, buf, sizeof(buf), 0);
    if (n == 0)
      return false;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      return false;
    }
    c.in.append(buf, static_cast<size_t>(n));
  }
  if (!c.open) {
    auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos)
      return true;
    if (c.in.compare(0, 12, "HTTP/1.1 101") != 0) {
      std::fprintf(stderr, "handshake refused: %s\n", c.in.substr(0, end).c_str());
      return false;
    }
    c.open = true;
    c.in.erase(0, end + 4);
  }
  size_t pos = 0;
  while (c.in.size() - pos >= 2) {
    auto b0 = static_cast<unsigned char>(c.in[pos]);
    auto b1 = static_cast<unsigned char>(c.in[pos + 1]);
    size_t len = b1 & 0x7F;
    size_t head = 2;
    if (len == 126) {
      if (c.in.size() - pos < 4)
        break;
      len = (static_cast<size_t>(static_cast<unsigned char>(c.in[pos + 2])) << 8) |
            static_cast<unsigned char>(c.in[pos + 3]);
      head = 4;
    } else if (len == 127) {
      if (c.in.size() - pos < 10)
        break;
      len = 0;
      for (int i = 0; i < 8; ++i)
        len = (len << 8) | static_cast<unsigned char>(c.in[pos + 2 + i]);
      head = 10;
    }
    if (c.in.size() - pos < head + len)
      break;
    std::string_view payload{c.in.data() + pos + head, len};
    switch (b0 & 0x0F) {
    case 1:
      on_text(c, payload, t);
      break;
    case 8:
      return false;
    case 9:
      append_frame(c.out, 10, payload);
      break;
    default:
      break;
    }
    pos += head + len;
  }
  c.in.erase(0, pos);
  return flush(c);
}

int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr,
                 "usage: ws_load PORT TOKEN BOT_ID SERVER_PID CONVERSATIONS RATE SECONDS\n");
    return 2;
  }
  auto port = static_cast<uint16_t>(std::atoi(argv[1]));
  std::string token = argv[2];
  std::string bot = argv[3];
  int server_pid = std::atoi(argv[4]);
  size_t count = std::strtoul(argv[5], nullptr, 10);
  double rate = std::atof(argv[6]);
  int seconds = std::atoi(argv[7]);
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);

  auto api = "http://127.0.0.1:" + std::to_string(port) + "/api/v1";
  std::vector<std::string> auth{"Authorization: Bearer " + token, "Content-Type: application/json"};

  // 1. Conversations.
  std::vector<std::string> ids(count);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto for_all = [&](auto fn) {
    next = 0;
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&] {
        for (size_t k; (k = next++) < count && !failed;)
          fn(k);
      });
    for (auto& th : threads)
      th.join();
  };
  for_all([&](size_t k) {
    auto r = http_request("POST", api + "/conversations/", "{\"bot_id\":\"" + bot + "\"}", auth);
    auto id = chatagent::test::json_string(r.json(), "id");
    if (r.status != 201 || id.empty()) {
      std::fprintf(stderr, "creating a conversation: %ld %s %s\n", r.status, r.body.c_str(),
                   r.error.c_str());
      failed = true;
      return;
    }
    ids[k] = id;
  });
  if (failed)
    return 1;

  // 2. Live conversation actors.
  settle();
  auto rss_stored = rss_kib(server_pid);
  for_all([&](size_t k) {
    auto r = http_request("GET", api + "/conversations/" + ids[k], {}, auth);
    if (r.status != 200) {
      std::fprintf(stderr, "loading a conversation: %ld %s\n", r.status, r.body.c_str());
      failed = true;
    }
  });
  if (failed)
    return 1;
  settle();
  auto rss_live = rss_kib(server_pid);

  // 3. Idle WebSockets.
  int ep = ::epoll_create1(0);
  std::vector<connection> conns(count);
  totals t;
  for (size_t k = 0; k < count; ++k) {
    auto& c = conns[k];
    c.conversation = ids[k];
    c.fd = connect_loopback(port);
    if (c.fd < 0) {
      std::perror("connect");
      return 1;
    }
    c.out = "GET /api/v1/ws/conversations/" + ids[k] + "?token=" + token +
            " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.u64 = k;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  }
  std::vector<epoll_event> events(1024);
  auto drop = [&](connection& c) {
    if (c.fd < 0)
      return;
    ::close(c.fd);
    c.fd = -1;
    c.busy = false;
    ++t.closed;
  };
  auto poll_once = [&](int timeout_ms) {
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), timeout_ms);
    for (int i = 0; i < n; ++i) {
      auto& c = conns[events[i].data.u64];
      if (c.fd < 0)
        continue;
      bool ok = true;
      if (events[i].events & (EPOLLERR | EPOLLHUP))
        ok = false;
      if (ok && (events[i].events & EPOLLOUT))
        ok = flush(c);
      if (ok && (events[i].events & EPOLLIN))
        ok = on_readable(c, t);
      if (!ok)
        drop(c);
    }
  };
  auto deadline = now_ns() + int64_t{60} * 1000000000;
  for (;;) {
    size_t open = 0;
    for (auto& c : conns)
      open += c.open ? 1 : 0;
    if (open + static_cast<size_t>(t.closed) >= count)
      break;
    if (now_ns() > deadline) {
      std::fprintf(stderr, "only %zu of %zu WebSockets opened in 60 s\n", open, count);
      return 1;
    }
    poll_once(10);
  }
  if (t.closed > 0) {
    std::fprintf(stderr, "%lld WebSockets were refused or closed\n",
                 static_cast<long long>(t.closed));
    return 1;
  }
  auto idle_until = now_ns() + int64_t{12} * 1000000000;
  while (now_ns() < idle_until)
    poll_once(10);
  auto rss_ws = rss_kib(server_pid);

  // 4. Streaming at `rate` messages/s.
  const std::string message =
      R"({"type":"user_message","content":"How is the weather today?","message_type":"text"})";
  auto start = now_ns();
  auto stop = start + int64_t{seconds} * 1000000000;
  size_t cursor = 0;
  while (now_ns() < stop) {
    auto due = static_cast<int64_t>(rate * static_cast<double>(now_ns() - start) / 1e9);
    while (t.sent + t.skipped < due) {
      // The next connection with nothing in flight; a full round without one is overload.
      bool found = false;
      for (size_t tries = 0; tries < count; ++tries) {
        auto& c = conns[cursor];
        cursor = (cursor + 1) % count;
        if (c.fd >= 0 && !c.busy) {
          c.busy = true;
          c.seen_first = false;
          c.sent_at = now_ns();
          append_frame(c.out, 1, message);
          if (!flush(c))
            drop(c);
          found = true;
          break;
        }
      }
      found ? ++t.sent : ++t.skipped;
    }
    poll_once(1);
  }
  // Let the answers in flight arrive.
  auto drain_until = now_ns() + int64_t{10} * 1000000000;
  while (now_ns() < drain_until &&
         std::any_of(conns.begin(), conns.end(), [](const connection& c) { return c.busy; }))
    poll_once(10);
  double secs = static_cast<double>(now_ns() - start) / 1e9;

  std::printf("| conversations / WebSockets | %zu |\n", count);
  std::printf("| server RSS: conversations stored / all live / with idle WebSockets | %lld / "
              "%lld / %lld MiB |\n",
              static_cast<long long>(rss_stored >> 10), static_cast<long long>(rss_live >> 10),
              static_cast<long long>(rss_ws >> 10));
  std::printf("| memory per live conversation actor | %.2f KiB |\n",
              static_cast<double>(rss_live - rss_stored) / static_cast<double>(count));
  std::printf("| memory per idle authenticated WebSocket | %.2f KiB |\n",
              static_cast<double>(rss_ws - rss_live) / static_cast<double>(count));
  std::printf("| messages sent / answered / errors / skipped (all busy) | %lld / %lld / %lld / "
              "%lld |\n",
              static_cast<long long>(t.sent), static_cast<long long>(t.completed),
              static_cast<long long>(t.errors), static_cast<long long>(t.skipped));
  std::printf("| answers/s, chunks/s | %.0f, %.0f |\n", static_cast<double>(t.completed) / secs,
              static_cast<double>(t.chunks) / secs);
  std::printf("| first chunk of an answer, provider to client (server-added) | %s |\n",
              t.first_relay.report().c_str());
  std::printf("| any chunk, provider to client (16 leave the provider at once) | %s |\n",
              t.relay.report().c_str());
  std::printf("| message sent to first chunk (store + provider call + relay) | %s |\n",
              t.first_chunk.report().c_str());
  std::printf("| message sent to stream_complete | %s |\n", t.complete.report().c_str());
  std::printf("| connections lost | %lld |\n", static_cast<long long>(t.closed));
  return t.closed == 0 && t.errors == 0 && t.completed == t.sent ? 0 : 1;
}
