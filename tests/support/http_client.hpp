#pragma once

#include "protocol/json.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace chatagent::test {

/// An HTTP response as a test inspects it.
struct http_result {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers; // names lower-cased
  std::string error;                          // transport failure, if any

  /// The body parsed as JSON (null on a parse failure).
  protocol::json_value json() const;
  std::string header(const std::string& lower_name) const;
};

using header_list = std::vector<std::string>; // "Name: value"

/// One HTTP/1.1 request over a fresh connection (libcurl, loopback only).
http_result http_request(const std::string& method, const std::string& url,
                         const std::string& body = {}, const header_list& headers = {});

/// Writes `raw` to 127.0.0.1:`port` and returns everything the server sent back until it
/// closed the connection (or 10 s passed).
std::string raw_exchange(unsigned short port, const std::string& raw);

/// A plain TCP connection to 127.0.0.1, for tests that need control over timing and bytes.
class raw_connection {
 public:
  explicit raw_connection(unsigned short port);
  ~raw_connection();
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  bool connected() const noexcept { return fd_ >= 0; }
  bool send(const std::string& bytes);

  /// Reads one HTTP response (headers plus Content-Length body); "" on EOF or timeout.
  std::string read_response(int timeout_seconds = 30);

  /// Reads until the server closes the connection; false if `timeout_seconds` pass first.
  bool read_until_closed(std::string& out, int timeout_seconds = 30);

 private:
  int fd_ = -1;
  std::string pending_;
};

/// The value at `path` (members separated by ., numbers index arrays: `plugins.0.id`) in a
/// JSON value, or nullptr; the empty path is `v` itself.
const protocol::json_value* json_at(const protocol::json_value& v, const std::string& path);

/// The string at `path`, or "" when absent or not a string.
std::string json_string(const protocol::json_value& v, const std::string& path);

/// The integer at `path`, or -1 when absent or not an integer.
int64_t json_int(const protocol::json_value& v, const std::string& path);

} // namespace chatagent::test
