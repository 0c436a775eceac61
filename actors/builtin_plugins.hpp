#pragma once

// The built-in plugins: their descriptions, and the work of those that need no network
// (plain functions, unit-tested directly). The registry runs them in actors.

#include "protocol/json.hpp"
#include "protocol/plugin.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chatagent::actors {

/// calculator, datetime, weather.
const std::vector<protocol::plugin_info>& builtin_plugins();

/// The `calculator` tool: `{"expression": "..."}`.
protocol::tool_outcome run_calculator(const protocol::json_value& args);

/// The `datetime` tool at `now_ms`: operations `now`, `convert`, `add`, `diff` (see its
/// parameters); `config` is the plugin's (`default_timezone`).
protocol::tool_outcome run_datetime(const protocol::json_value& args,
                                    const protocol::json_value& config, int64_t now_ms);

/// A time zone's offset from UTC at a moment.
struct zone_offset {
  int32_t seconds = 0;
  std::string abbreviation; // CST, CEST, ...
};

/// The offset of `zone` at `unix_s`: an IANA name read from the system's zoneinfo
/// (Asia/Shanghai), `UTC`, or a fixed offset (`+08:00`, `UTC-5`). Nothing when unknown.
std::optional<zone_offset> offset_in(std::string_view zone, int64_t unix_s);

/// The HTTP request of a `weather` call; an error text when the arguments or the
/// configuration do not allow one.
struct weather_request {
  std::string url;
  std::string location;
  std::string error;
};
weather_request build_weather_request(const protocol::json_value& args,
                                      const protocol::json_value& config);

/// The tool's result from the weather API's answer (OpenWeatherMap's current weather).
protocol::tool_outcome read_weather_answer(long status, std::string_view body,
                                           std::string_view location);

} // namespace chatagent::actors
