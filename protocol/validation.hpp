#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace chatagent::protocol {

/// Limits of account fields, shared by validation and documentation.
struct account_limits {
  static constexpr size_t username_min = 3;
  static constexpr size_t username_max = 32;
  static constexpr size_t password_min = 8;
  static constexpr size_t password_max = 128;
  static constexpr size_t nickname_max = 64;
  static constexpr size_t email_max = 254;
};

// Each check returns an empty string when the value is acceptable, otherwise the reason
// it is not (for `error.details.reason`).

/// 3-32 characters of ASCII letters, digits, `_` and `-`.
std::string check_username(std::string_view s);

/// A plausible address: `local@domain.tld`, no spaces, at most 254 bytes.
std::string check_email(std::string_view s);

/// 8-128 characters (counted as Unicode code points).
std::string check_password(std::string_view s);

/// 1-64 characters of UTF-8 text without control characters.
std::string check_nickname(std::string_view s);

/// The number of code points in `s`, or npos when `s` is not valid UTF-8.
size_t utf8_length(std::string_view s) noexcept;

/// Appends the UTF-8 encoding of `cp`; surrogates, NUL and values past U+10FFFF become
/// U+FFFD.
void append_utf8(std::string& out, char32_t cp);

/// ASCII lower case, for case-insensitive uniqueness of names and addresses.
std::string to_lower_ascii(std::string_view s);

} // namespace chatagent::protocol
