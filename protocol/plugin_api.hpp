#pragma once

// The typed interface of the plugin registry.

#include "protocol/chat_api.hpp"
#include "protocol/plugin.hpp"

#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace chatagent::protocol {

/// The plugin registry: the plugins users can install, and the runner of their tools.
///
/// - `list_atom, user_id` → every plugin the user can install.
/// - `resolve_atom, user_id, ids` → their descriptions, in order; NOT_FOUND names the
///   first unknown id.
/// - `tools_atom, user_id, installs` → the tools of the enabled installs whose plugins
///   exist.
/// - `invoke_atom, user_id, install, call` → the outcome. Each call runs in an actor of its
///   own with a timeout; a failure (bad arguments, the plugin's service down, too slow) is
///   an outcome with `ok` false, meant for the model, never an error of the request.
/// - `find_atom, user_id, id` → a plugin the user can install.
/// - `create_atom, user_id, body` → the HTTP plugin the user declared (`POST /plugins`);
///   DUPLICATE_RESOURCE when the id is taken (by a built-in plugin or one of theirs).
/// - `update_atom, user_id, id, body` / `delete_atom, user_id, id` → change or remove one
///   of the user's plugins (FORBIDDEN for built-in ones). Bots that installed a removed
///   plugin keep the installation; its calls then tell the model it is gone.
using plugin_registry_actor = caf::typed_actor<
    caf::replies_to<list_atom, user_id>::with<std::vector<plugin_info>>,
    caf::replies_to<resolve_atom, user_id,
                    std::vector<std::string>>::with<std::vector<plugin_info>>,
    caf::replies_to<tools_atom, user_id, std::vector<plugin_install>>::with<std::vector<tool_spec>>,
    caf::replies_to<invoke_atom, user_id, plugin_install, tool_call>::with<tool_outcome>,
    caf::replies_to<find_atom, user_id, std::string>::with<plugin_info>,
    caf::replies_to<create_atom, user_id, std::string>::with<plugin_info>,
    caf::replies_to<update_atom, user_id, std::string, std::string>::with<plugin_info>,
    caf::replies_to<delete_atom, user_id, std::string>::with<bool>>;

} // namespace chatagent::protocol
