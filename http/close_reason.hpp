#pragma once

// The close reasons adapters give connections: "4000 reconnecting" closes with code 4000
// (platforms tell a resumable reconnect by the code), anything else normally (1000).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace chatagent::http {

/// The close code and the reason text of `reason`.
inline std::pair<uint16_t, std::string> split_close_reason(std::string_view reason) {
  if (reason.size() > 5 && reason[4] == ' ' && reason[0] >= '1' && reason[0] <= '4' &&
      reason.substr(0, 4).find_first_not_of("0123456789") == std::string_view::npos) {
    auto code = static_cast<uint16_t>((reason[0] - '0') * 1000 + (reason[1] - '0') * 100 +
                                      (reason[2] - '0') * 10 + (reason[3] - '0'));
    return {code, std::string{reason.substr(5)}};
  }
  return {1000, std::string{reason}};
}

} // namespace chatagent::http
