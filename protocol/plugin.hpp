#pragma once

// Plugins: what the registry offers, what a bot has installed, and the tools an LLM calls.

#include "protocol/ids.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace chatagent::protocol {

/// One setting of a plugin's `config_schema`.
struct plugin_field {
  std::string name;
  std::string type = "string"; // string, integer, number, boolean, object, array
  bool required = false;
  bool secret = false; // stored, never returned by the API
  std::string description;
  std::string default_value;        // JSON text; empty: no default
  std::vector<std::string> choices; // the allowed values of a string; empty: any
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, plugin_field& x) {
  return f(caf::meta::type_name("plugin_field"), x.name, x.type, x.required, x.secret,
           x.description, x.default_value, x.choices);
}

/// A plugin as the registry describes it. Each plugin is one tool of the LLM, named by
/// its `id`, with `parameters` (a JSON Schema object, as text) for its arguments.
struct plugin_info {
  std::string id; // [a-z0-9_-], at most 64: also the tool's name
  std::string name;
  std::string description;
  std::string version = "1.0.0";
  std::string author = "ChatAgent Team";
  std::string category = "utility";
  std::vector<plugin_field> config_schema;
  std::string tool_description; // what the model is told the tool does
  std::string parameters = "{\"type\":\"object\",\"properties\":{}}";
  // A plugin a user declared (`POST /plugins`): an HTTP endpoint called with the
  // arguments. Empty `owner`: built in.
  user_id owner;
  std::string endpoint_url;
  std::string endpoint_method = "POST";
  std::string endpoint_headers = "{}"; // JSON object of strings; `{{config.x}}` is replaced
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, plugin_info& x) {
  return f(caf::meta::type_name("plugin_info"), x.id, x.name, x.description, x.version, x.author,
           x.category, x.config_schema, x.tool_description, x.parameters, x.owner, x.endpoint_url,
           x.endpoint_method, x.endpoint_headers, x.created_at_ms, x.updated_at_ms);
}

/// A plugin installed on a bot. `config` is a JSON object's text, secrets included,
/// validated against the plugin's schema (defaults filled in).
struct plugin_install {
  std::string plugin_id;
  std::string config = "{}";
  bool enabled = true;
  int64_t installed_at_ms = 0; // 0: named in a bot's `plugins` list, not installed yet
  int64_t updated_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, plugin_install& x) {
  return f(caf::meta::type_name("plugin_install"), x.plugin_id, x.config, x.enabled,
           x.installed_at_ms, x.updated_at_ms);
}

/// An installation with the description of its plugin, as the API shows it.
struct installed_plugin {
  plugin_install install;
  plugin_info info;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, installed_plugin& x) {
  return f(caf::meta::type_name("installed_plugin"), x.install, x.info);
}

/// A tool as offered to the model.
struct tool_spec {
  std::string name;
  std::string description;
  std::string parameters; // JSON Schema object (text)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_spec& x) {
  return f(caf::meta::type_name("tool_spec"), x.name, x.description, x.parameters);
}

/// A call the model asked for. `arguments` is the model's text, meant to be a JSON object
/// (it may not be: the tool reports that to the model).
struct tool_call {
  std::string id;
  std::string name;
  std::string arguments = "{}";
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_call& x) {
  return f(caf::meta::type_name("tool_call"), x.id, x.name, x.arguments);
}

/// What a tool call gave: `content` goes back to the model (a JSON text on success, an
/// explanation on failure).
struct tool_outcome {
  std::string content;
  bool ok = false;
  int64_t duration_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_outcome& x) {
  return f(caf::meta::type_name("tool_outcome"), x.content, x.ok, x.duration_ms);
}

using resolve_atom = caf::atom_constant<caf::atom("resolve")>;
using tools_atom = caf::atom_constant<caf::atom("tools")>;
using invoke_atom = caf::atom_constant<caf::atom("invoke")>;
using install_atom = caf::atom_constant<caf::atom("install")>;
using uninstall_atom = caf::atom_constant<caf::atom("uninstall")>;
using plugins_atom = caf::atom_constant<caf::atom("plugins")>;

} // namespace chatagent::protocol
