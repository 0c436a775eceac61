#pragma once

// Reading the JSON records of the database: missing members read as defaults, so records
// written by older versions still load.

#include "protocol/error.hpp"
#include "protocol/json.hpp"
#include "storage/kv_store.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace chatagent::storage::records {

using protocol::json_value;
using protocol::json_writer;

inline caf::error corrupt(std::string_view what) {
  return protocol::api_error(protocol::errc::internal_error,
                             "corrupt " + std::string{what} + " record");
}

/// Field access on a decoded record; missing members read as defaults.
struct reader {
  const json_value& doc;

  std::string str(const char* k, std::string fallback = {}) const {
    auto v = doc.find(k);
    return v && v->is_string() ? v->as_string() : fallback;
  }
  int64_t num(const char* k, int64_t fallback = 0) const {
    auto v = doc.find(k);
    return v && v->is_integer() ? v->as_int() : fallback;
  }
  double real(const char* k, double fallback) const {
    auto v = doc.find(k);
    return v && v->is_number() ? v->as_double() : fallback;
  }
  bool flag(const char* k) const {
    auto v = doc.find(k);
    return v && v->is_bool() && v->as_bool();
  }
  std::vector<std::string> strings(const char* k) const {
    std::vector<std::string> out;
    if (auto v = doc.find(k); v && v->is_array())
      for (auto& item : v->as_array())
        if (item.is_string())
          out.push_back(item.as_string());
    return out;
  }
  /// A nested object, re-rendered as text ("{}" when absent).
  std::string object(const char* k) const {
    auto v = doc.find(k);
    if (!v || !v->is_object())
      return "{}";
    json_writer w;
    w.value(*v);
    return w.take();
  }
};

inline void write_strings(json_writer& w, std::string_view key,
                          const std::vector<std::string>& xs) {
  w.key(key).begin_array();
  for (auto& x : xs)
    w.value(x);
  w.end_array();
}

/// Every record of family `f`, in key order, decoded by `decode` (a function from the
/// stored bytes to `caf::expected<T>`); the first record that does not decode fails all.
template <class T, class Decode>
caf::expected<std::vector<T>> load_all(const kv_store& db, family f, Decode decode) {
  std::vector<T> out;
  caf::error failure;
  auto err = db.scan(f, "", [&](std::string_view, std::string_view value) {
    auto x = decode(value);
    if (!x) {
      failure = std::move(x.error());
      return false;
    }
    out.push_back(std::move(*x));
    return true;
  });
  if (err)
    return err;
  if (failure)
    return failure;
  return out;
}

} // namespace chatagent::storage::records
