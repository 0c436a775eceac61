#pragma once

#include "actors/bot_ledger.hpp"
#include "actors/chat_store_actor.hpp"
#include "protocol/chat_api.hpp"
#include "protocol/platform.hpp"
#include "protocol/plugin_api.hpp"
#include "storage/kv_store.hpp"

#include <string>
#include <unordered_map>
#include <vector>

#include <caf/fwd.hpp>

namespace chatagent::actors {

using connect_atom = caf::atom_constant<caf::atom("connect")>;

/// The bots service plus the message that tells it where conversations live (they are
/// spawned after it, since they ask it for bot configurations).
using bot_manager_impl_actor = protocol::bot_manager_actor::extend<
    caf::reacts_to<connect_atom, protocol::conversation_manager_actor>>;

/// Spawns the bots service over the `bots` loaded from storage, with their stored
/// `activity` counters (by bot id). Bots whose `is_active` is set start running at once.
/// Plugins are installed on bots as `plugins` describes them. A running bot on a platform
/// other than `web` has an adapter from `adapters` (started once the conversations service
/// is connected), which makes its HTTP calls through `http`. Each bot has its entry in
/// `ledger` while it exists.
bot_manager_impl_actor
spawn_bot_manager(caf::actor_system& sys, store_writer_actor writer,
                  protocol::plugin_registry_actor plugins, std::vector<protocol::bot> bots,
                  std::unordered_map<std::string, storage::counters> activity,
                  protocol::adapter_factory adapters, protocol::http_client_actor http,
                  std::shared_ptr<bot_ledger> ledger);

} // namespace chatagent::actors
