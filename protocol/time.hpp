#pragma once

#include <cstdint>
#include <string>

namespace chatagent::protocol {

/// Milliseconds since the Unix epoch, from the system clock.
int64_t now_ms() noexcept;

/// Formats `ms` since the epoch as the API writes times: `2024-01-01T12:30:00Z` (UTC).
std::string format_time(int64_t ms);

} // namespace chatagent::protocol
