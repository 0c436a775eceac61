#include "protocol/json.hpp"

#include "protocol/error.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <simdjson.h>

namespace chatagent::protocol {

double json_value::as_double() const {
  if (is_integer())
    return static_cast<double>(std::get<int64_t>(v_));
  return std::get<double>(v_);
}

const json_value* json_value::find(std::string_view key) const noexcept {
  if (!is_object())
    return nullptr;
  // Last one wins for duplicated keys, as in most JSON parsers.
  const auto& members = std::get<object_t>(v_);
  for (auto i = members.rbegin(); i != members.rend(); ++i)
    if (i->first == key)
      return &i->second;
  return nullptr;
}

std::string_view json_value::type_name() const noexcept {
  switch (type()) {
  case kind::null:
    return "null";
  case kind::boolean:
    return "boolean";
  case kind::integer:
  case kind::real:
    return "number";
  case kind::string:
    return "string";
  case kind::array:
    return "array";
  case kind::object:
    return "object";
  }
  return "unknown";
}

namespace {

constexpr size_t max_depth = 64;

json_value convert(simdjson::dom::element el) {
  using simdjson::dom::element_type;
  switch (el.type()) {
  case element_type::ARRAY: {
    simdjson::dom::array src;
    if (el.get_array().get(src) != simdjson::SUCCESS)
      return json_value{};
    json_value::array_t arr;
    arr.reserve(src.size());
    for (auto child : src)
      arr.push_back(convert(child));
    return json_value{std::move(arr)};
  }
  case element_type::OBJECT: {
    simdjson::dom::object src;
    if (el.get_object().get(src) != simdjson::SUCCESS)
      return json_value{};
    json_value::object_t obj;
    obj.reserve(src.size());
    for (auto field : src)
      obj.emplace_back(std::string{field.key}, convert(field.value));
    return json_value{std::move(obj)};
  }
  case element_type::INT64:
    return json_value{int64_t{el.get_int64().value_unsafe()}};
  case element_type::UINT64: {
    // Beyond int64: keep it as a double rather than wrapping around.
    return json_value{static_cast<double>(el.get_uint64().value_unsafe())};
  }
  case element_type::DOUBLE:
    return json_value{el.get_double().value_unsafe()};
  case element_type::STRING:
    return json_value{std::string{el.get_string().value_unsafe()}};
  case element_type::BOOL:
    return json_value{el.get_bool().value_unsafe()};
  case element_type::NULL_VALUE:
    return json_value{};
  }
  return json_value{};
}

} // namespace

caf::expected<json_value> parse_json(std::string_view text) {
  thread_local simdjson::dom::parser parser{simdjson::SIMDJSON_MAXSIZE_BYTES};
  thread_local bool allocated = false;
  if (!allocated) {
    if (parser.allocate(64 * 1024, max_depth) != simdjson::SUCCESS)
      return api_error(errc::internal_error, "cannot allocate the JSON parser");
    allocated = true;
  }
  if (text.empty())
    return api_error(errc::validation_error, "the request body is empty; expected JSON", "",
                     "empty body");
  simdjson::dom::element root;
  auto err = parser.parse(text.data(), text.size(), true).get(root);
  if (err != simdjson::SUCCESS) {
    std::string reason = simdjson::error_message(err);
    return api_error(errc::validation_error, "the request body is not valid JSON: " + reason, "",
                     reason);
  }
  return convert(root);
}

namespace {

/// Whether any of the eight bytes in `x` is a control character, '"' or '\\' (the
/// classic "has a byte less than n / equal to c" bit tricks; bytes of UTF-8 sequences,
/// 0x80 and up, never match).
constexpr bool needs_escape(uint64_t x) {
  constexpr uint64_t ones = 0x0101010101010101ULL;
  constexpr uint64_t highs = 0x8080808080808080ULL;
  auto zero_byte = [](uint64_t v) { return (v - ones) & ~v & highs; };
  return (((x - ones * 0x20) & ~x & highs) | zero_byte(x ^ (ones * '"')) |
          zero_byte(x ^ (ones * '\\'))) != 0;
}

} // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  if (out.capacity() - out.size() < s.size() + 2)
    out.reserve(std::max(out.size() + s.size() + 2, 2 * out.capacity()));
  out.push_back('"');
  // Runs of characters that need no escape are appended at once; eight bytes are checked
  // at a time.
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    while (i + 8 <= s.size()) {
      uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if (needs_escape(word))
        break;
      i += 8;
    }
    if (i >= s.size())
      break;
    auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u != '"' && u != '\\')
      continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (u) {
    case '"':
      out.append("\\\"");
      break;
    case '\\':
      out.append("\\\\");
      break;
    case '\n':
      out.append("\\n");
      break;
    case '\r':
      out.append("\\r");
      break;
    case '\t':
      out.append("\\t");
      break;
    case '\b':
      out.append("\\b");
      break;
    case '\f':
      out.append("\\f");
      break;
    default:
      out.append("\\u00");
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 0xF]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

void json_writer::separate() {
  if (comma_)
    out_.push_back(',');
}

json_writer& json_writer::begin_object() {
  separate();
  out_.push_back('{');
  comma_ = false;
  return *this;
}

json_writer& json_writer::end_object() {
  out_.push_back('}');
  comma_ = true;
  return *this;
}

json_writer& json_writer::begin_array() {
  separate();
  out_.push_back('[');
  comma_ = false;
  return *this;
}

json_writer& json_writer::end_array() {
  out_.push_back(']');
  comma_ = true;
  return *this;
}

json_writer& json_writer::key(std::string_view k) {
  separate();
  append_json_string(out_, k);
  out_.push_back(':');
  comma_ = false;
  return *this;
}

json_writer& json_writer::value(std::string_view s) {
  separate();
  append_json_string(out_, s);
  comma_ = true;
  return *this;
}

json_writer& json_writer::value(bool b) {
  separate();
  out_.append(b ? "true" : "false");
  comma_ = true;
  return *this;
}

json_writer& json_writer::integer(int64_t n) {
  separate();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n);
  out_.append(buf, end);
  comma_ = true;
  return *this;
}

json_writer& json_writer::value(double d) {
  if (!std::isfinite(d))
    return null();
  separate();
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  out_.append(buf, end);
  comma_ = true;
  return *this;
}

json_writer& json_writer::null() {
  separate();
  out_.append("null");
  comma_ = true;
  return *this;
}

json_writer& json_writer::raw(std::string_view json) {
  separate();
  out_.append(json);
  comma_ = true;
  return *this;
}

json_writer& json_writer::value(const json_value& v) {
  using kind = json_value::kind;
  switch (v.type()) {
  case kind::null:
    return null();
  case kind::boolean:
    return value(v.as_bool());
  case kind::integer:
    return integer(v.as_int());
  case kind::real:
    return value(v.as_double());
  case kind::string:
    return value(std::string_view{v.as_string()});
  case kind::array:
    begin_array();
    for (auto& x : v.as_array())
      value(x);
    return end_array();
  case kind::object:
    begin_object();
    for (auto& [k, x] : v.as_object()) {
      key(k);
      value(x);
    }
    return end_object();
  }
  return *this;
}

} // namespace chatagent::protocol
