#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <curl/curl.h>

namespace chatagent::test {

protocol::json_value http_result::json() const {
  auto v = protocol::parse_json(body);
  return v ? std::move(*v) : protocol::json_value{};
}

std::string http_result::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string{} : it->second;
}

namespace {

size_t on_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  std::string line{data, size * n};
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    auto name = line.substr(0, colon);
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' '))
      value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n'))
      value.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(user))[name] = value;
  }
  return size * n;
}

} // namespace

http_result http_request(const std::string& method, const std::string& url, const std::string& body,
                         const header_list& headers) {
  static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == 0;
  (void)initialized;
  http_result out;
  CURL* h = curl_easy_init();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
  if (!body.empty() || method == "POST" || method == "PUT") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_slist* list = nullptr;
  bool has_type = false;
  for (auto& hdr : headers) {
    list = curl_slist_append(list, hdr.c_str());
    has_type = has_type || strncasecmp(hdr.c_str(), "content-type:", 13) == 0;
  }
  if (!has_type && !body.empty())
    list = curl_slist_append(list, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &out.headers);
  auto rc = curl_easy_perform(h);
  if (rc != CURLE_OK)
    out.error = curl_easy_strerror(rc);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(h);
  return out;
}

std::string raw_exchange(unsigned short port, const std::string& raw) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return out;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  size_t sent = 0;
  while (sent < raw.size()) {
    auto n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      break;
    sent += static_cast<size_t>(n);
  }
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

raw_connection::raw_connection(unsigned short port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

raw_connection::~raw_connection() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool raw_connection::send(const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

namespace {

/// recv with a timeout: >0 bytes, 0 on EOF, -1 on timeout or error.
ssize_t recv_some(int fd, char* buf, size_t size, int timeout_seconds) {
  timeval tv{timeout_seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return ::recv(fd, buf, size, 0);
}

} // namespace

std::string raw_connection::read_response(int timeout_seconds) {
  char buf[4096];
  for (;;) {
    auto end = pending_.find("\r\n\r\n");
    if (end != std::string::npos) {
      size_t length = 0;
      auto lower = pending_.substr(0, end);
      for (auto& c : lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (auto pos = lower.find("content-length:"); pos != std::string::npos)
        length = std::stoul(lower.substr(pos + 15));
      if (pending_.size() >= end + 4 + length) {
        auto res = pending_.substr(0, end + 4 + length);
        pending_.erase(0, end + 4 + length);
        return res;
      }
    }
    auto n = recv_some(fd_, buf, sizeof(buf), timeout_seconds);
    if (n <= 0)
      return {};
    pending_.append(buf, static_cast<size_t>(n));
  }
}

bool raw_connection::read_until_closed(std::string& out, int timeout_seconds) {
  out = std::move(pending_);
  pending_.clear();
  char buf[4096];
  for (;;) {
    auto n = recv_some(fd_, buf, sizeof(buf), timeout_seconds);
    if (n == 0)
      return true;
    if (n < 0)
      return errno == ECONNRESET;
    out.append(buf, static_cast<size_t>(n));
  }
}

const protocol::json_value* json_at(const protocol::json_value& v, const std::string& path) {
  const protocol::json_value* cur = &v;
  if (path.empty())
    return cur;
  size_t start = 0;
  while (cur != nullptr && start <= path.size()) {
    auto dot = path.find('.', start);
    auto key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur->is_array() && !key.empty() &&
        key.find_first_not_of("0123456789") == std::string::npos) {
      auto i = std::stoul(key);
      cur = i < cur->as_array().size() ? &cur->as_array()[i] : nullptr;
    } else {
      cur = cur->find(key);
    }
    if (dot == std::string::npos)
      break;
    start = dot + 1;
  }
  return cur;
}

std::string json_string(const protocol::json_value& v, const std::string& path) {
  auto cur = json_at(v, path);
  return cur && cur->is_string() ? cur->as_string() : std::string{};
}

int64_t json_int(const protocol::json_value& v, const std::string& path) {
  auto cur = json_at(v, path);
  return cur && cur->is_integer() ? cur->as_int() : -1;
}

} // namespace chatagent::test
