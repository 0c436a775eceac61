#pragma once

#include "actors/chat_store_actor.hpp"
#include "protocol/knowledge.hpp"
#include "storage/knowledge_index.hpp"

#include <memory>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

namespace chatagent::storage {
class knowledge_store;
} // namespace chatagent::storage

namespace chatagent::actors {

class remote_embedder;

/// The knowledge service and the actors it runs, to stop with it.
struct knowledge_service {
  protocol::knowledge_manager_actor manager;
  std::vector<caf::actor> workers;
};

/// Loads every knowledge base and document from `store` and builds the bases' indexes
/// (documents whose ingestion a stop interrupted become `failed`), then spawns the
/// knowledge service: it persists every change through `writer` before it answers, and
/// runs one detached worker to read uploaded files, `ingest_workers` for ingestion and
/// `search_workers` for searches (neither an upload nor a search waits for an ingestion);
/// `embedder` serves embedding APIs. Blocks while it loads.
caf::expected<knowledge_service>
spawn_knowledge_service(caf::actor_system& sys, std::shared_ptr<storage::knowledge_store> store,
                        store_writer_actor writer, std::shared_ptr<const remote_embedder> embedder,
                        size_t ingest_workers, size_t search_workers,
                        storage::index_options index_options = {});

} // namespace chatagent::actors
