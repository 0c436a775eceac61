#pragma once

#include "actors/chat_services.hpp"
#include "actors/chat_store_actor.hpp"
#include "protocol/chat_api.hpp"
#include "protocol/knowledge.hpp"
#include "protocol/plugin_api.hpp"

#include <memory>

#include <caf/fwd.hpp>

namespace chatagent::actors {

class bot_ledger;
class llm_providers;

/// Spawns the conversations service (see `protocol::conversation_manager_actor`). Bots
/// with `knowledge_base_ids` answer from what `knowledge` retrieves for each question; the
/// enabled plugins of a bot are tools its model may call (run by `plugins`). A bot's
/// configuration is asked of `bots` again only once `ledger` says it changed, and its
/// activity is counted there.
protocol::conversation_manager_actor spawn_conversation_manager(
    caf::actor_system& sys, chat_store_actors store, protocol::bot_manager_actor bots,
    protocol::knowledge_manager_actor knowledge, protocol::plugin_registry_actor plugins,
    std::shared_ptr<const llm_providers> providers, chat_settings settings,
    std::shared_ptr<bot_ledger> ledger);

} // namespace chatagent::actors
