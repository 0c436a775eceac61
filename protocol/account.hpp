#pragma once

#include "protocol/ids.hpp"
#include "protocol/types.hpp"

#include <string>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace chatagent::protocol {

using register_atom = caf::atom_constant<caf::atom("register")>;
using login_atom = caf::atom_constant<caf::atom("login")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using set_role_atom = caf::atom_constant<caf::atom("set_role")>;
using bootstrap_atom = caf::atom_constant<caf::atom("bootstrap")>;

/// The accounts service: owns users, their credentials and roles.
///
/// - `register_atom, registration` → the new user, or VALIDATION_ERROR / DUPLICATE_RESOURCE.
/// - `login_atom, login, password` → the user (`login` is a username or an email), or
///   UNAUTHORIZED; the same answer and work for an unknown name and a wrong password.
/// - `get_atom, user_id` → the user, or NOT_FOUND.
/// - `set_role_atom, acting user, target user, role` → the updated target; FORBIDDEN unless
///   the acting user is an admin now (not merely when its token was issued).
/// - `bootstrap_atom, username, password` → creates that admin, or resets its password and
///   makes it admin again.
using account_actor =
    caf::typed_actor<caf::replies_to<register_atom, registration>::with<user>,
                     caf::replies_to<login_atom, std::string, std::string>::with<user>,
                     caf::replies_to<get_atom, user_id>::with<user>,
                     caf::replies_to<set_role_atom, user_id, user_id, role>::with<user>,
                     caf::replies_to<bootstrap_atom, std::string, std::string>::with<user>>;

} // namespace chatagent::protocol
