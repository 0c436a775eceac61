#pragma once

// Plugins in the API's JSON, and the validation of their configurations.

#include "protocol/ids.hpp"
#include "protocol/json.hpp"
#include "protocol/plugin.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace chatagent::protocol {

/// Applies `patch` (the `config` object of an install or update; null: nothing sent) to
/// the stored configuration `previous` ("" for a new install, which starts from the
/// schema's defaults): members not sent keep their values, members set to null go back
/// to their default (or away). With `enabled`, every required setting must then have a
/// value. VALIDATION_ERROR names the field (`config.api_key`): unknown settings, wrong
/// types, values outside `choices`, strings over 4096 bytes.
caf::expected<std::string> configure_plugin(const plugin_info& p, const json_value* patch,
                                            std::string_view previous, bool enabled);

/// The required settings that `config` lacks.
std::vector<std::string> missing_settings(const plugin_info& p, std::string_view config);

/// VALIDATION_ERROR unless `id` can name a plugin (and a tool): 1–64 of [a-z0-9_-].
caf::error check_plugin_id(std::string_view id);

/// Applies a `POST /plugins` (`creating`) or `PUT /plugins/{id}` body declaring an HTTP
/// plugin: `id` (creating only), `name`, `description`, `version`, `category`, `endpoint`
/// (`url`, `method`, `headers`), `parameters` (a JSON Schema object) and `config_schema`
/// (setting name → `type`, `required`, `secret`, `description`, `default`, `enum`).
/// Members not sent keep their values. VALIDATION_ERROR names the first bad field.
caf::error apply_custom_plugin_json(plugin_info& p, const json_value& body, bool creating);

/// A plugin of `GET /plugins/available`: `config_schema` maps each setting's name to its
/// `type`, `required`, `description` (plus `default`, `secret`, `enum` when set).
void write_plugin_info(json_writer& w, const plugin_info& p);

/// A bot's installed plugin: its configuration without secrets (`secrets_set` names the
/// secret settings that have a value), what is still missing to enable it, and whether
/// its plugin still exists (`available`).
void write_installed_plugin(json_writer& w, const bot_id& bot, const installed_plugin& p);

} // namespace chatagent::protocol
