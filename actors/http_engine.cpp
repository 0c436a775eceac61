#include "actors/http_engine.hpp"

#include "protocol/address.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <netinet/in.h>
#include <pthread.h>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include <curl/curl.h>

namespace chatagent::actors {

namespace {

struct transfer {
  http_call call;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  bool status_seen = false;
  bool aborted = false;
  std::string refused; // the non-public address a `public_addresses_only` call met

  ~transfer() {
    if (headers != nullptr)
      curl_slist_free_all(headers);
    if (easy != nullptr)
      curl_easy_cleanup(easy);
  }

  /// Takes the easy handle out, for reuse by the next transfer.
  CURL* release() {
    auto* e = easy;
    easy = nullptr;
    return e;
  }
};

size_t on_header_line(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  std::string_view line{data, size * n};
  if (auto colon = line.find(':'); t->call.on_header && colon != std::string_view::npos) {
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ' ||
                              value.back() == '\t'))
      value.remove_suffix(1);
    t->call.on_header(line.substr(0, colon), value);
  }
  return size * n;
}

bool public_address(const sockaddr* sa) {
  if (sa->sa_family == AF_INET)
    return protocol::is_public_ipv4(reinterpret_cast<const unsigned char*>(
        &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr));
  if (sa->sa_family == AF_INET6)
    return protocol::is_public_ipv6(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr.s6_addr);
  return false;
}

curl_socket_t open_public_socket(void* user, curlsocktype, curl_sockaddr* address) {
  auto* t = static_cast<transfer*>(user);
  if (!public_address(&address->addr)) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (address->family == AF_INET)
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address->addr)->sin_addr, text,
                  sizeof(text));
    else if (address->family == AF_INET6)
      ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&address->addr)->sin6_addr, text,
                  sizeof(text));
    t->refused = text;
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype, address->protocol);
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  if (!t->status_seen) {
    t->status_seen = true;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (t->call.on_status)
      t->call.on_status(status);
  }
  if (t->call.on_data && !t->call.on_data(std::string_view{data, size * n})) {
    t->aborted = true;
    return 0; // aborts the transfer
  }
  return size * n;
}

} // namespace

/// The engine's event loop is epoll over the sockets libcurl asks it to watch
/// (`curl_multi_socket_action`): a wake-up costs work for the sockets that are ready, not a
/// pass over every transfer, so thousands of streams can be open at once.
struct http_engine::impl {
  CURLM* multi = nullptr;
  int epoll_fd = -1;
  int wake_fd = -1; // an eventfd: submissions and stopping
  // When libcurl wants `CURL_SOCKET_TIMEOUT` handled; max() when it set no timer.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::mutex mtx;
  std::deque<std::unique_ptr<transfer>> incoming;
  std::unordered_map<CURL*, std::unique_ptr<transfer>> running;
  std::vector<CURL*> idle_handles; // finished easy handles, reset for the next transfer
  std::atomic<bool> stopping{false};
  // Set while the thread waits in epoll_wait (or is about to): only then does a
  // submission need to wake it, at the price of a write to the eventfd.
  std::atomic<bool> waiting{false};
  std::thread thread;

  impl() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi = curl_multi_init();
    // Kept-alive connections: by default libcurl caches 4 per easy handle *currently*
    // added, so a dip in concurrency closes connections that the next burst reopens.
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 1024L);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 256L);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd < 0 || wake_fd < 0)
      throw std::runtime_error(std::string{"http engine: epoll/eventfd: "} + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev);
    thread = std::thread([this] { run(); });
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof(one));
  }

  /// libcurl: watch `s` for `what` (or stop watching it). `socketp` is what we assigned to
  /// the socket (`curl_multi_assign`) when we added it to the epoll set; libcurl forgets it
  /// when it removes the socket, so a kept-alive connection that comes back for its next
  /// transfer is added again with one call, not a failed modify and an add.
  static int on_socket(CURL*, curl_socket_t s, int what, void* user, void* socketp) {
    auto* self = static_cast<impl*>(user);
    if (what == CURL_POLL_REMOVE) {
      ::epoll_ctl(self->epoll_fd, EPOLL_CTL_DEL, s, nullptr);
      return 0;
    }
    epoll_event ev{};
    ev.data.fd = s;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
      ev.events |= EPOLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
      ev.events |= EPOLLOUT;
    if (socketp != nullptr) {
      ::epoll_ctl(self->epoll_fd, EPOLL_CTL_MOD, s, &ev);
      return 0;
    }
    if (::epoll_ctl(self->epoll_fd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
      ::epoll_ctl(self->epoll_fd, EPOLL_CTL_MOD, s, &ev);
    curl_multi_assign(self->multi, s, self);
    return 0;
  }

  /// libcurl: call `socket_action(CURL_SOCKET_TIMEOUT)` in `ms` (-1: no timer).
  static int on_timer(CURLM*, long ms, void* user) {
    auto* self = static_cast<impl*>(user);
    self->deadline = ms < 0 ? std::chrono::steady_clock::time_point::max()
                            : std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    return 0;
  }

  ~impl() {
    stopping = true;
    wake();
    thread.join();
    for (auto& [easy, t] : running) {
      curl_multi_remove_handle(multi, easy);
      if (t->call.on_done)
        t->call.on_done(0, "the server is shutting down", false);
    }
    running.clear();
    for (auto& t : incoming)
      if (t->call.on_done)
        t->call.on_done(0, "the server is shutting down", false);
    for (auto* e : idle_handles)
      curl_easy_cleanup(e);
    curl_multi_cleanup(multi);
    ::close(wake_fd);
    ::close(epoll_fd);
  }

  void start(std::unique_ptr<transfer> t) {
    CURL* e = nullptr;
    if (idle_handles.empty()) {
      e = curl_easy_init();
    } else {
      e = idle_handles.back();
      idle_handles.pop_back();
      curl_easy_reset(e);
    }
    t->easy = e;
    auto& c = t->call;
    curl_easy_setopt(e, CURLOPT_URL, c.url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c.method.c_str());
    if (c.method != "GET") {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, c.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(c.body.size()));
    }
    for (auto& h : c.headers)
      t->headers = curl_slist_append(t->headers, h.c_str());
    t->headers = curl_slist_append(t->headers, "Expect:"); // no 100-continue round trip
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(c.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(c.timeout.count()));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header_line);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); // whatever libcurl can decode
    if (c.public_addresses_only) {
      curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_public_socket);
      curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
      // A kept-alive connection may lead anywhere (another caller's): a new one is checked.
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    curl_multi_add_handle(multi, e);
    running.emplace(e, std::move(t));
  }

  void finish(CURL* easy, CURLcode code) {
    auto i = running.find(easy);
    if (i == running.end())
      return;
    auto t = std::move(i->second);
    running.erase(i);
    curl_multi_remove_handle(multi, easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (!t->status_seen && status != 0 && t->call.on_status)
      t->call.on_status(status);
    // The handle keeps its buffers for the next transfer (connections live in `multi`).
    if (idle_handles.size() < 256)
      idle_handles.push_back(t->release());
    if (!t->call.on_done)
      return;
    if (code == CURLE_OK)
      t->call.on_done(status, {}, false);
    else if (!t->refused.empty())
      t->call.on_done(0,
                      "refused to connect to " + t->refused +
                          ": not a public address (private and loopback addresses are not "
                          "allowed here)",
                      false);
    else if (t->aborted)
      t->call.on_done(status, "aborted", false);
    else
      t->call.on_done(0, curl_easy_strerror(code), code == CURLE_OPERATION_TIMEDOUT);
  }

  void run() {
    pthread_setname_np(pthread_self(), "chatagent.http");
    std::vector<epoll_event> events(256);
    int active = 0;
    while (!stopping) {
      {
        std::deque<std::unique_ptr<transfer>> batch;
        {
          std::lock_guard<std::mutex> guard{mtx};
          batch.swap(incoming);
        }
        for (auto& t : batch)
          start(std::move(t)); // libcurl sets a timer at once: handled below
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        deadline = std::chrono::steady_clock::time_point::max();
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &active);
      }
      collect();
      waiting = true;
      bool more;
      {
        std::lock_guard<std::mutex> guard{mtx};
        more = !incoming.empty();
      }
      int timeout = 0;
      if (!more) {
        auto now = std::chrono::steady_clock::now();
        timeout = deadline == std::chrono::steady_clock::time_point::max()
                      ? 1000
                      : static_cast<int>(std::clamp<int64_t>(
                            std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count(), 0,
                            1000));
      }
      int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), timeout);
      waiting = false;
      for (int i = 0; i < n; ++i) {
        auto fd = events[static_cast<size_t>(i)].data.fd;
        if (fd == wake_fd) {
          uint64_t count = 0;
          [[maybe_unused]] auto r = ::read(wake_fd, &count, sizeof(count));
          continue;
        }
        auto e = events[static_cast<size_t>(i)].events;
        int flags = 0;
        if (e & (EPOLLIN | EPOLLHUP))
          flags |= CURL_CSELECT_IN;
        if (e & EPOLLOUT)
          flags |= CURL_CSELECT_OUT;
        if (e & EPOLLERR)
          flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(multi, fd, flags, &active);
      }
      collect();
    }
  }

  /// Ends the transfers libcurl reports done.
  void collect() {
    int left = 0;
    while (auto* msg = curl_multi_info_read(multi, &left))
      if (msg->msg == CURLMSG_DONE)
        finish(msg->easy_handle, msg->data.result);
  }
};

http_engine::http_engine() : impl_(std::make_unique<impl>()) {}

http_engine::~http_engine() = default;

void http_engine::submit(http_call call) {
  auto t = std::make_unique<transfer>();
  t->call = std::move(call);
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->incoming.push_back(std::move(t));
  }
  // Either the thread sees the transfer before it waits, or we see it waiting.
  if (impl_->waiting)
    impl_->wake();
}

} // namespace chatagent::actors
