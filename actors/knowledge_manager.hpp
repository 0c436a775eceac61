#pragma once

#include "actors/chat_store_actor.hpp"
#include "protocol/knowledge.hpp"

#include <vector>

#include <caf/fwd.hpp>

namespace chatagent::actors {

/// Spawns the knowledge service over the `bases` loaded from storage; it persists every
/// change through `writer` before it answers.
protocol::knowledge_manager_actor
spawn_knowledge_manager(caf::actor_system& sys, store_writer_actor writer,
                        std::vector<protocol::knowledge_base> bases);

} // namespace chatagent::actors
