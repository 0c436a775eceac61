#pragma once

// `application/x-www-form-urlencoded`: query strings and form bodies.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chatagent::protocol {

/// The `name=value` pairs of `form` (`a=1&b=x%20y`), in order, percent-decoded ('+' is a
/// space); a pair without `=` has an empty value.
std::vector<std::pair<std::string, std::string>> parse_form(std::string_view form);

/// `s` percent-encoded for a query string or form value (unreserved characters as they
/// are, every other byte as %XX).
std::string form_escape(std::string_view s);

/// The value of the first pair named `name` in `pairs`; empty when there is none.
std::string form_value(const std::vector<std::pair<std::string, std::string>>& pairs,
                       std::string_view name);

} // namespace chatagent::protocol
