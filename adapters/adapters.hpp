#pragma once

// The platform adapters: one folder per platform, chosen by a bot's `platform_type`.

#include "protocol/json.hpp"
#include "protocol/platform.hpp"

#include <string>

namespace chatagent::adapters {

/// A platform's id or text field as text: strings as they are, integers in decimal (chat
/// and user ids come as either); empty for anything else or nothing.
std::string scalar_text(const protocol::json_value* v);

/// Starts the adapter of a bot's platform (see `protocol::adapter_factory`). Platforms
/// without an adapter yet get none: their bots run offline (`is_online` false).
protocol::adapter_factory make_adapter_factory();

} // namespace chatagent::adapters
