#pragma once

#include "protocol/ids.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/meta/type_name.hpp>

namespace chatagent::protocol {

/// What a user may do; decides rate limits and access to the admin API.
enum class role : uint8_t { user, premium, enterprise, admin };

/// The role's name as the API spells it (`user`, `premium`, ...).
std::string_view role_name(role r) noexcept;

/// Parses a role name; nullopt for an unknown one.
std::optional<role> parse_role(std::string_view name) noexcept;

inline std::string to_string(role r) {
  return std::string{role_name(r)};
}

/// A user as the API shows it: never carries the password hash.
struct user {
  user_id id;
  std::string username;
  std::string nickname;
  std::string email;
  protocol::role role = role::user;
  bool is_active = true;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user& x) {
  return f(caf::meta::type_name("user"), x.id, x.username, x.nickname, x.email, x.role, x.is_active,
           x.created_at_ms, x.updated_at_ms);
}

/// A request to create an account, as it arrives at `POST /auth/register`.
struct registration {
  std::string username;
  std::string nickname;
  std::string email;
  std::string password;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registration& x) {
  // deep_to_string() would print the password: never log a registration.
  return f(caf::meta::type_name("registration"), x.username, x.nickname, x.email, x.password);
}

} // namespace chatagent::protocol
