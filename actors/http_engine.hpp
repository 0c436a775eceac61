#pragma once

#include "protocol/address.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chatagent::actors {

/// One outgoing HTTP request and the callbacks that receive its answer. The callbacks run
/// on the engine's thread: they must be quick and must not block (send a message, parse a
/// few bytes).
struct http_call {
  std::string method = "POST";
  std::string url;
  std::vector<std::string> headers; // "Name: value"
  std::string body;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds timeout{120000}; // the whole exchange
  /// Refuse to connect to loopback, private, link-local and other non-public addresses
  /// (checked on the address actually connected to, so DNS cannot sneak one in), and open
  /// a connection of its own. For calls whose URL a user or a model chose.
  bool public_addresses_only = false;
  /// The status line arrived (before any body byte).
  std::function<void(long status)> on_status;
  /// A response header, `name` as sent, `value` without surrounding blanks.
  std::function<void(std::string_view name, std::string_view value)> on_header;
  /// Body bytes as they arrive; false aborts the transfer.
  std::function<bool(std::string_view)> on_data;
  /// The end: `status` 0 with `error` set when the transfer failed (`timed_out` tells a
  /// timeout from other failures).
  std::function<void(long status, const std::string& error, bool timed_out)> on_done;
};

using protocol::is_public_ip;

/// Runs every outgoing HTTP request of the process on one thread with libcurl's multi
/// interface: no thread per request, connections reused per host.
class http_engine {
 public:
  http_engine();
  ~http_engine(); // stops: transfers still running end with an error
  http_engine(const http_engine&) = delete;
  http_engine& operator=(const http_engine&) = delete;

  /// Starts `call`; thread-safe.
  void submit(http_call call);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace chatagent::actors
