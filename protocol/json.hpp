#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <caf/expected.hpp>

namespace chatagent::protocol {

/// An owned JSON document tree, parsed from request bodies and stored records.
///
/// Objects keep their members in document order; lookups are linear, which beats hashing
/// for the small objects an API sees.
class json_value {
 public:
  enum class kind : uint8_t { null, boolean, integer, real, string, array, object };
  using array_t = std::vector<json_value>;
  using member_t = std::pair<std::string, json_value>;
  using object_t = std::vector<member_t>;

  json_value() = default;
  json_value(std::nullptr_t) {}
  json_value(bool b) : v_(b) {}
  json_value(int64_t i) : v_(i) {}
  json_value(double d) : v_(d) {}
  json_value(std::string s) : v_(std::move(s)) {}
  json_value(array_t a) : v_(std::move(a)) {}
  json_value(object_t o) : v_(std::move(o)) {}

  kind type() const noexcept { return static_cast<kind>(v_.index()); }
  bool is_null() const noexcept { return type() == kind::null; }
  bool is_bool() const noexcept { return type() == kind::boolean; }
  bool is_integer() const noexcept { return type() == kind::integer; }
  bool is_number() const noexcept { return is_integer() || type() == kind::real; }
  bool is_string() const noexcept { return type() == kind::string; }
  bool is_array() const noexcept { return type() == kind::array; }
  bool is_object() const noexcept { return type() == kind::object; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  /// Any number as a double.
  double as_double() const;
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const array_t& as_array() const { return std::get<array_t>(v_); }
  const object_t& as_object() const { return std::get<object_t>(v_); }
  object_t& as_object() { return std::get<object_t>(v_); }

  /// The member `key` of an object; nullptr when absent or when this is not an object.
  const json_value* find(std::string_view key) const noexcept;

  /// The JSON type's name as an error message says it (`string`, `object`, ...).
  std::string_view type_name() const noexcept;

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, array_t, object_t> v_;
};

/// Parses `text` (validating UTF-8, at most 64 levels deep). The error is a
/// `VALIDATION_ERROR` whose message says what is wrong.
caf::expected<json_value> parse_json(std::string_view text);

/// Builds compact JSON text. Separators are inserted automatically; strings are escaped.
class json_writer {
 public:
  json_writer() { out_.reserve(256); }

  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  json_writer& key(std::string_view k);

  json_writer& value(std::string_view s);
  json_writer& value(const char* s) { return value(std::string_view{s}); }
  json_writer& value(const std::string& s) { return value(std::string_view{s}); }
  json_writer& value(bool b);
  json_writer& value(double d);
  json_writer& value(const json_value& v);
  json_writer& null();
  /// Inserts `json` as one value, unchecked: only for text this process wrote itself
  /// (stored JSON objects such as a conversation's `context`).
  json_writer& raw(std::string_view json);
  template <std::integral T>
  requires(!std::same_as<T, bool>) json_writer& value(T n) {
    return integer(static_cast<int64_t>(n));
  }

  /// Shorthand for `key(k).value(v)`.
  template <class T>
  json_writer& member(std::string_view k, T&& v) {
    key(k);
    return value(std::forward<T>(v));
  }

  /// Makes room for `bytes` of text in all, so that a large document is not copied as it
  /// grows.
  void reserve(size_t bytes) { out_.reserve(bytes); }

  const std::string& str() const noexcept { return out_; }
  std::string take() { return std::move(out_); }

 private:
  json_writer& integer(int64_t n);
  void separate();

  std::string out_;
  bool comma_ = false; // the next value or key follows a sibling: a comma first
};

/// Appends `s` to `out` as a quoted, escaped JSON string.
void append_json_string(std::string& out, std::string_view s);

} // namespace chatagent::protocol
