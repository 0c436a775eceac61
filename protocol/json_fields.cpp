#include "protocol/json_fields.hpp"

#include "protocol/error.hpp"
#include "protocol/validation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace chatagent::protocol::fields {

caf::error bad(std::string field, std::string reason) {
  auto message = field + " " + reason;
  return api_error(errc::validation_error, std::move(message), std::move(field), std::move(reason));
}

caf::error wrong_type(const std::string& field, const json_value& v, std::string_view expected) {
  return bad(field, "must be " + std::string{expected} + ", not " + std::string{v.type_name()});
}

/// A string member: absent or null leaves `out` alone. `min`/`max` count code points.
caf::error read_text(const json_value& obj, std::string_view name, const std::string& field,
                     size_t min, size_t max, std::string& out, bool& present) {
  present = false;
  auto v = obj.find(name);
  if (v == nullptr || v->is_null())
    return caf::none;
  if (!v->is_string())
    return wrong_type(field, *v, "a string");
  auto n = utf8_length(v->as_string());
  if (n == std::string_view::npos)
    return bad(field, "must be valid UTF-8");
  if (n < min)
    return bad(field, min == 1 ? "must not be empty"
                               : "must be at least " + std::to_string(min) + " characters");
  if (n > max)
    return bad(field, "must be at most " + std::to_string(max) + " characters");
  for (unsigned char c : v->as_string())
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t')
      return bad(field, "must not contain control characters");
  out = v->as_string();
  present = true;
  return caf::none;
}

caf::error read_text(const json_value& obj, std::string_view name, const std::string& field,
                     size_t min, size_t max, std::string& out) {
  bool present = false;
  return read_text(obj, name, field, min, max, out, present);
}

/// An object member, merged into the object text `out`: members set to null are removed.
caf::error merge_object(const json_value& obj, std::string_view name, const std::string& field,
                        size_t max_bytes, std::string& out) {
  auto v = obj.find(name);
  if (v == nullptr || v->is_null())
    return caf::none;
  if (!v->is_object())
    return wrong_type(field, *v, "an object");
  json_value::object_t merged;
  if (auto old = parse_json(out); old && old->is_object())
    merged = old->as_object();
  for (auto& [key, value] : v->as_object()) {
    std::erase_if(merged, [&](const json_value::member_t& m) { return m.first == key; });
    if (!value.is_null())
      merged.emplace_back(key, value);
  }
  json_writer w;
  w.value(json_value{std::move(merged)});
  if (w.str().size() > max_bytes)
    return bad(field, "must be at most " + std::to_string(max_bytes) + " bytes of JSON");
  out = w.take();
  return caf::none;
}

/// An object member that replaces `out` as a whole.
caf::error read_object(const json_value& obj, std::string_view name, const std::string& field,
                       size_t max_bytes, std::string& out) {
  auto v = obj.find(name);
  if (v == nullptr || v->is_null())
    return caf::none;
  if (!v->is_object())
    return wrong_type(field, *v, "an object");
  json_writer w;
  w.value(*v);
  if (w.str().size() > max_bytes)
    return bad(field, "must be at most " + std::to_string(max_bytes) + " bytes of JSON");
  out = w.take();
  return caf::none;
}

caf::error read_id_list(const json_value& obj, std::string_view name, size_t max_entries,
                        std::vector<std::string>& out) {
  auto v = obj.find(name);
  std::string field{name};
  if (v == nullptr || v->is_null())
    return caf::none;
  if (!v->is_array())
    return wrong_type(field, *v, "an array of strings");
  if (v->as_array().size() > max_entries)
    return bad(field, "must have at most " + std::to_string(max_entries) + " entries");
  std::vector<std::string> ids;
  for (auto& item : v->as_array()) {
    if (!item.is_string())
      return wrong_type(field, item, "an array of strings");
    auto& s = item.as_string();
    if (s.empty() || s.size() > 128)
      return bad(field, "entries must be 1 to 128 characters");
    if (std::find(ids.begin(), ids.end(), s) == ids.end())
      ids.push_back(s);
  }
  out = std::move(ids);
  return caf::none;
}

caf::error read_number(const json_value& obj, std::string_view name, const std::string& field,
                       double min, double max, double& out) {
  auto v = obj.find(name);
  if (v == nullptr || v->is_null())
    return caf::none;
  if (!v->is_number())
    return wrong_type(field, *v, "a number");
  auto d = v->as_double();
  if (!std::isfinite(d) || d < min || d > max) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "must be between %g and %g", min, max);
    return bad(field, buf);
  }
  out = d;
  return caf::none;
}

caf::error read_integer(const json_value& obj, std::string_view name, const std::string& field,
                        int64_t min, int64_t max, int64_t& out) {
  auto v = obj.find(name);
  if (v == nullptr || v->is_null())
    return caf::none;
  if (!v->is_integer())
    return wrong_type(field, *v, "an integer");
  if (v->as_int() < min || v->as_int() > max)
    return bad(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  out = v->as_int();
  return caf::none;
}

caf::error read_bool(const json_value& obj, std::string_view name, const std::string& field,
                     bool& out) {
  auto v = obj.find(name);
  if (v == nullptr || v->is_null())
    return caf::none;
  if (!v->is_bool())
    return wrong_type(field, *v, "true or false");
  out = v->as_bool();
  return caf::none;
}

} // namespace chatagent::protocol::fields
