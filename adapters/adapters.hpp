#pragma once

// The platform adapters: one folder per platform, chosen by a bot's `platform_type`.

#include "protocol/platform.hpp"

namespace chatagent::adapters {

/// Starts the adapter of a bot's platform (see `protocol::adapter_factory`). Platforms
/// without an adapter yet get none: their bots run offline (`is_online` false).
protocol::adapter_factory make_adapter_factory();

} // namespace chatagent::adapters
