#include "protocol/plugin_json.hpp"

#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"

#include <algorithm>
#include <array>
#include <cctype>
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

namespace {

constexpr std::array<std::string_view, 6> setting_types{"string",  "integer", "number",
                                                        "boolean", "object",  "array"};
constexpr std::array<std::string_view, 5> methods{"GET", "POST", "PUT", "PATCH", "DELETE"};

caf::error read_setting(const std::string& name, const json_value& spec, plugin_field& f) {
  auto field = "config_schema." + name;
  if (auto err = check_plugin_id(name))
    return bad(field, "must be named with 1 to 64 of a-z, 0-9, _ and -");
  if (!spec.is_object())
    return wrong_type(field, spec, "an object");
  f.name = name;
  for (auto err : {read_text(spec, "type", field + ".type", 1, 16, f.type),
                   read_text(spec, "description", field + ".description", 0, 1000, f.description),
                   read_bool(spec, "required", field + ".required", f.required),
                   read_bool(spec, "secret", field + ".secret", f.secret)})
    if (err)
      return err;
  if (std::find(setting_types.begin(), setting_types.end(), f.type) == setting_types.end())
    return bad(field + ".type", "must be one of string, integer, number, boolean, object, array");
  if (auto e = spec.find("enum"); e && !e->is_null()) {
    if (!e->is_array() || e->as_array().empty() || f.type != "string")
      return bad(field + ".enum", "must be a non-empty array of strings, for a string setting");
    for (auto& v : e->as_array()) {
      if (!v.is_string())
        return bad(field + ".enum", "must hold strings only");
      f.choices.push_back(v.as_string());
    }
  }
  if (auto d = spec.find("default"); d && !d->is_null()) {
    if (auto why = check_value(f, *d); !why.empty())
      return bad(field + ".default", why);
    json_writer w;
    w.value(*d);
    f.default_value = w.take();
  }
  return caf::none;
}

} // namespace

caf::error apply_custom_plugin_json(plugin_info& p, const json_value& body, bool creating) {
  auto next = p;
  if (creating) {
    if (auto err = read_text(body, "id", "id", 1, 64, next.id))
      return err;
    if (next.id.empty())
      return bad("id", "is required");
    if (auto err = check_plugin_id(next.id))
      return err;
    if (next.id == "available")
      return bad("id", "is reserved (GET /plugins/available)");
  }
  for (auto err : {read_text(body, "name", "name", 1, 100, next.name),
                   read_text(body, "description", "description", 0, 2000, next.description),
                   read_text(body, "version", "version", 1, 32, next.version),
                   read_text(body, "category", "category", 1, 32, next.category)})
    if (err)
      return err;
  if (auto e = body.find("endpoint"); e && !e->is_null()) {
    if (!e->is_object())
      return wrong_type("endpoint", *e, "an object");
    for (auto err :
         {read_text(*e, "url", "endpoint.url", 1, chat_limits::url_max, next.endpoint_url),
          read_text(*e, "method", "endpoint.method", 1, 8, next.endpoint_method)})
      if (err)
        return err;
    for (auto& c : next.endpoint_method)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (std::find(methods.begin(), methods.end(), next.endpoint_method) == methods.end())
      return bad("endpoint.method", "must be GET, POST, PUT, PATCH or DELETE");
    if (auto h = e->find("headers"); h && !h->is_null()) {
      if (!h->is_object())
        return wrong_type("endpoint.headers", *h, "an object");
      for (auto& [name, value] : h->as_object()) {
        bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
        });
        if (!token)
          return bad("endpoint.headers", "has a header name that is not a token: '" + name + "'");
        if (!value.is_string() || value.as_string().find_first_of("\r\n") != std::string::npos)
          return bad("endpoint.headers." + name, "must be a string on one line");
      }
      json_writer w;
      w.value(*h);
      if (w.str().size() > 8192)
        return bad("endpoint.headers", "must be at most 8192 bytes of JSON");
      next.endpoint_headers = w.take();
    }
  }
  if (next.endpoint_url.empty())
    return bad("endpoint.url", "is required");
  if (auto why = check_http_url(next.endpoint_url); !why.empty())
    return bad("endpoint.url", why);
  if (auto v = body.find("parameters"); v && !v->is_null()) {
    if (!v->is_object())
      return wrong_type("parameters", *v, "a JSON Schema object");
    auto t = v->find("type");
    if (t == nullptr || !t->is_string() || t->as_string() != "object")
      return bad("parameters", "must be a JSON Schema with \"type\": \"object\"");
    json_writer w;
    w.value(*v);
    if (w.str().size() > 16384)
      return bad("parameters", "must be at most 16384 bytes of JSON");
    next.parameters = w.take();
  }
  if (auto c = body.find("config_schema"); c && !c->is_null()) {
    if (!c->is_object())
      return wrong_type("config_schema", *c, "an object");
    if (c->as_object().size() > 32)
      return bad("config_schema", "may have at most 32 settings");
    std::vector<plugin_field> fields;
    for (auto& [name, spec] : c->as_object()) {
      plugin_field f;
      if (auto err = read_setting(name, spec, f))
        return err;
      fields.push_back(std::move(f));
    }
    next.config_schema = std::move(fields);
  }
  if (next.name.empty())
    next.name = next.id;
  next.tool_description = next.description.empty() ? next.name : next.description;
  p = std::move(next);
  return caf::none;
}

void write_plugin_info(json_writer& w, const plugin_info& p) {
  w.begin_object()
      .member("id", p.id)
      .member("name", p.name)
      .member("description", p.description)
      .member("version", p.version)
      .member("author", p.author)
      .member("category", p.category)
      .member("builtin", p.owner.empty());
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
  if (!p.owner.empty()) {
    w.key("endpoint")
        .begin_object()
        .member("url", p.endpoint_url)
        .member("method", p.endpoint_method);
    w.key("headers");
    if (auto h = parse_json(p.endpoint_headers); h && h->is_object())
      w.value(*h);
    else
      w.begin_object().end_object();
    w.end_object();
    w.member("created_at", format_time(p.created_at_ms))
        .member("updated_at", format_time(p.updated_at_ms));
  }
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
      .member("enabled", in.enabled)
      .member("available", !p.info.name.empty()); // false: its plugin was deleted
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
