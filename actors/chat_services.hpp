#pragma once

#include "actors/plugin_registry.hpp"
#include "protocol/chat_api.hpp"
#include "protocol/knowledge.hpp"
#include "protocol/platform.hpp"
#include "storage/knowledge_index.hpp"

#include <chrono>
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace chatagent::storage {
class chat_store;
} // namespace chatagent::storage

namespace chatagent::actors {

/// Tuning of the chat services.
struct chat_settings {
  std::chrono::seconds conversation_idle{300}; // passivate a conversation idle this long
  std::chrono::seconds llm_timeout{120};       // one whole completion
  // How long a user's message may wait to be stored with its answer, in one write; 0:
  // stored on arrival, in a write of its own.
  std::chrono::milliseconds question_delay{50};
  int64_t recent_messages = 100; // kept in memory per live conversation
  size_t store_readers = 2;
  size_t ingest_workers = 1; // knowledge ingestion threads (file reading, embedding)
  size_t search_workers = 2; // knowledge search threads
  std::chrono::seconds embedding_timeout{60}; // one request to an embeddings API
  storage::index_options knowledge_index;     // when searches use clusters
  plugin_settings plugins;
  bool platforms_allow_private_network = false; // adapters may call loopback/private addresses
  int64_t tool_rounds = 5;                      // tool-call rounds per answer; 0: no tools
};

/// The bot, conversation and knowledge services, wired to each other.
struct chat_services {
  protocol::bot_manager_actor bots;
  protocol::conversation_manager_actor conversations;
  protocol::knowledge_manager_actor knowledge;
  protocol::plugin_registry_actor plugins;
  std::vector<caf::actor> internals; // store actors and providers, stopped last

  /// Stops every actor of the services, conversations first.
  void stop();
};

/// Spawns the chat services over `store`: the store actors, the LLM providers, the bots
/// service (which loads every bot and restarts those that were running, on their platforms
/// through `adapters`) and the conversations service. Blocks while it loads the bots.
caf::expected<chat_services> spawn_chat_services(caf::actor_system& sys,
                                                 std::shared_ptr<storage::chat_store> store,
                                                 chat_settings settings,
                                                 protocol::adapter_factory adapters = {});

} // namespace chatagent::actors
