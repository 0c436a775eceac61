#include "actors/http_engine.hpp"

#include "protocol/address.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <thread>
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

struct http_engine::impl {
  CURLM* multi = nullptr;
  std::mutex mtx;
  std::deque<std::unique_ptr<transfer>> incoming;
  std::unordered_map<CURL*, std::unique_ptr<transfer>> running;
  std::vector<CURL*> idle_handles; // finished easy handles, reset for the next transfer
  std::atomic<bool> stopping{false};
  // Set while the thread waits in curl_multi_poll (or is about to): only then does a
  // submission need to wake it, at the price of a write to libcurl's wakeup socket.
  std::atomic<bool> waiting{false};
  std::thread thread;

  impl() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi = curl_multi_init();
    // Kept-alive connections: by default libcurl caches 4 per easy handle *currently*
    // added, so a dip in concurrency closes connections that the next burst reopens.
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 1024L);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 256L);
    thread = std::thread([this] { run(); });
  }

  ~impl() {
    stopping = true;
    curl_multi_wakeup(multi);
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
    while (!stopping) {
      {
        std::deque<std::unique_ptr<transfer>> batch;
        {
          std::lock_guard<std::mutex> guard{mtx};
          batch.swap(incoming);
        }
        for (auto& t : batch)
          start(std::move(t));
      }
      int active = 0;
      curl_multi_perform(multi, &active);
      int left = 0;
      while (auto* msg = curl_multi_info_read(multi, &left))
        if (msg->msg == CURLMSG_DONE)
          finish(msg->easy_handle, msg->data.result);
      waiting = true;
      bool more;
      {
        std::lock_guard<std::mutex> guard{mtx};
        more = !incoming.empty();
      }
      if (!more)
        curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
      waiting = false;
    }
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
    curl_multi_wakeup(impl_->multi);
}

} // namespace chatagent::actors
