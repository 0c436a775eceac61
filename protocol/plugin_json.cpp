#include "protocol/plugin_json.hpp"

#include "protocol/error.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"

#include <algorithm>
#include <cmath>

namespace chatagent::protocol {

using namespace fields;

namespace {

constexpr size_t string_max = 4096;
constexpr size_t config_max = 16384;

/// Empty when `v` fits `f`, else what is wrong.
std::string check_value(const plugin_field& f, const json_value& v) {
  auto& t = f.type;
  if (t == "string") {
    if (!v.is_string())
      return "must be a string, not " + std::string{v.type_name()};
    if (v.as_string().size() > string_max)
      return "must be at most " + std::to_string(string_max) + " bytes";
    if (!f.choices.empty() &&
        std::find(f.choices.begin(), f.choices.end(), v.as_string()) == f.choices.end()) {
      std::string list;
      for (auto& c : f.choices)
        list += (list.empty() ? "" : ", ") + c;
      return "must be one of " + list;
    }
    return {};
  }
  if (t == "integer") {
    if (v.is_integer() || (v.is_number() && std::floor(v.as_double()) == v.as_double() &&
                           std::abs(v.as_double()) < 9e15))
      return {};
    return "must be an integer, not " + std::string{v.type_name()};
  }
  if (t == "number")
    return v.is_number() ? "" : "must be a number, not " + std::string{v.type_name()};
  if (t == "boolean")
    return v.is_bool() ? "" : "must be true or false, not " + std::string{v.type_name()};
  if (t == "object")
    return v.is_object() ? "" : "must be an object, not " + std::string{v.type_name()};
  if (t == "array")
    return v.is_array() ? "" : "must be an array, not " + std::string{v.type_name()};
  return {};
}

const plugin_field* field_of(const plugin_info& p, std::string_view name) {
  for (auto& f : p.config_schema)
    if (f.name == name)
      return &f;
  return nullptr;
}

json_value::object_t parse_config(std::string_view text) {
  if (auto doc = parse_json(text); doc && doc->is_object())
    return std::move(doc->as_object());
  return {};
}

bool has_value(const json_value::object_t& cfg, std::string_view name) {
  for (auto& [k, v] : cfg)
    if (k == name)
      return !v.is_null() && !(v.is_string() && v.as_string().empty());
  return false;
}

} // namespace

caf::expected<std::string> configure_plugin(const plugin_info& p, const json_value* patch,
                                            std::string_view previous, bool enabled) {
  json_value::object_t cfg;
  if (previous.empty()) {
    for (auto& f : p.config_schema)
      if (!f.default_value.empty())
        if (auto d = parse_json(f.default_value))
          cfg.emplace_back(f.name, std::move(*d));
  } else {
    cfg = parse_config(previous);
  }
  if (patch != nullptr && !patch->is_null()) {
    if (!patch->is_object())
      return wrong_type("config", *patch, "an object");
    for (auto& [key, value] : patch->as_object()) {
      auto field = "config." + key;
      auto f = field_of(p, key);
      if (f == nullptr) {
        std::string known;
        for (auto& x : p.config_schema)
          known += (known.empty() ? "" : ", ") + x.name;
        return bad(field, "is not a setting of the " + p.id + " plugin" +
                              (known.empty() ? std::string{" (it has none)"}
                                             : " (its settings: " + known + ")"));
      }
      std::erase_if(cfg, [&](const json_value::member_t& m) { return m.first == key; });
      if (value.is_null()) { // back to the default
        if (!f->default_value.empty())
          if (auto d = parse_json(f->default_value))
            cfg.emplace_back(key, std::move(*d));
        continue;
      }
      if (auto why = check_value(*f, value); !why.empty())
        return bad(field, why);
      if (f->type == "integer" && !value.is_integer())
        cfg.emplace_back(key, json_value{static_cast<int64_t>(value.as_double())});
      else
        cfg.emplace_back(key, value);
    }
  }
  if (enabled)
    for (auto& f : p.config_schema)
      if (f.required && !has_value(cfg, f.name))
        return api_error(errc::validation_error,
                         "config." + f.name + " is required by the " + p.id + " plugin" +
                             (f.description.empty() ? "" : " (" + f.description + ")"),
                         "config." + f.name, "required");
  json_writer w;
  w.value(json_value{std::move(cfg)});
  if (w.str().size() > config_max)
    return bad("config", "must be at most " + std::to_string(config_max) + " bytes of JSON");
  return w.take();
}

std::vector<std::string> missing_settings(const plugin_info& p, std::string_view config) {
  auto cfg = parse_config(config);
  std::vector<std::string> out;
  for (auto& f : p.config_schema)
    if (f.required && !has_value(cfg, f.name))
      out.push_back(f.name);
  return out;
}

caf::error check_plugin_id(std::string_view id) {
  if (id.empty() || id.size() > 64)
    return bad("id", "must be 1 to 64 characters");
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return bad("id", "may only hold a-z, 0-9, _ and -");
  return caf::none;
}

void write_plugin_info(json_writer& w, const plugin_info& p) {
  w.begin_object()
      .member("id", p.id)
      .member("name", p.name)
      .member("description", p.description)
      .member("version", p.version)
      .member("author", p.author)
      .member("category", p.category);
  w.key("config_schema").begin_object();
  for (auto& f : p.config_schema) {
    w.key(f.name)
        .begin_object()
        .member("type", f.type)
        .member("required", f.required)
        .member("description", f.description);
    if (!f.default_value.empty())
      if (auto d = parse_json(f.default_value))
        w.member("default", *d);
    if (f.secret)
      w.member("secret", true);
    if (!f.choices.empty()) {
      w.key("enum").begin_array();
      for (auto& c : f.choices)
        w.value(c);
      w.end_array();
    }
    w.end_object();
  }
  w.end_object();
  w.key("parameters");
  if (auto params = parse_json(p.parameters))
    w.value(*params);
  else
    w.begin_object().end_object();
  w.end_object();
}

void write_installed_plugin(json_writer& w, const bot_id& bot, const installed_plugin& p) {
  auto& in = p.install;
  auto cfg = parse_config(in.config);
  w.begin_object()
      .member("plugin_id", in.plugin_id)
      .member("bot_id", bot.value)
      .member("name", p.info.name.empty() ? in.plugin_id : p.info.name)
      .member("version", p.info.version)
      .member("category", p.info.category)
      .member("enabled", in.enabled);
  w.key("config").begin_object();
  std::vector<std::string> secrets_set;
  for (auto& [key, value] : cfg) {
    auto f = field_of(p.info, key);
    if (f != nullptr && f->secret) {
      if (has_value(cfg, key))
        secrets_set.push_back(key);
      continue;
    }
    w.member(key, value);
  }
  w.end_object();
  w.key("secrets_set").begin_array();
  for (auto& s : secrets_set)
    w.value(s);
  w.end_array();
  w.key("missing_config").begin_array();
  for (auto& m : missing_settings(p.info, in.config))
    w.value(m);
  w.end_array();
  w.member("installed_at", format_time(in.installed_at_ms))
      .member("updated_at", format_time(in.updated_at_ms))
      .end_object();
}

} // namespace chatagent::protocol
