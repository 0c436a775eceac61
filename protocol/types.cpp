#include "protocol/types.hpp"

#include <array>
#include <utility>

namespace chatagent::protocol {

namespace {

constexpr std::array<std::pair<role, std::string_view>, 4> role_names{{
    {role::user, "user"},
    {role::premium, "premium"},
    {role::enterprise, "enterprise"},
    {role::admin, "admin"},
}};

} // namespace

std::string_view role_name(role r) noexcept {
  for (auto& [value, name] : role_names)
    if (value == r)
      return name;
  return "user";
}

std::optional<role> parse_role(std::string_view name) noexcept {
  for (auto& [value, text] : role_names)
    if (text == name)
      return value;
  return std::nullopt;
}

} // namespace chatagent::protocol
