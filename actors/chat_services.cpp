#include "actors/chat_services.hpp"

#include "actors/bot_manager.hpp"
#include "actors/chat_store_actor.hpp"
#include "actors/conversation_manager.hpp"
#include "actors/http_client_actor.hpp"
#include "actors/knowledge_manager.hpp"
#include "actors/llm_providers.hpp"
#include "actors/remote_embedder.hpp"
#include "storage/chat_store.hpp"
#include "storage/knowledge_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::actors {

caf::expected<chat_services> spawn_chat_services(caf::actor_system& sys,
                                                 std::shared_ptr<storage::chat_store> store,
                                                 chat_settings settings,
                                                 protocol::adapter_factory adapters) {
  // Loading every bot happens once, at start, before anything is served.
  auto bots = store->load_bots();
  if (!bots)
    return std::move(bots.error());
  auto activity = store->load_bot_activity();
  if (!activity)
    return std::move(activity.error());
  auto declared = store->load_plugins();
  if (!declared)
    return std::move(declared.error());
  // Counters of deleted bots (an answer stored while its bot was being deleted) go.
  storage::write_batch orphans;
  for (auto& [id, c] : *activity)
    if (std::none_of(bots->begin(), bots->end(), [&](auto& b) { return b.id.value == id; }))
      orphans.erase(storage::family::bot_activity, id);
  if (!orphans.empty())
    if (auto err = store->db().write(std::move(orphans)))
      return err;
  auto running = std::count_if(bots->begin(), bots->end(), [](auto& b) { return b.is_active; });
  spdlog::info("loaded {} bots, {} of them running", bots->size(), running);
  auto store_actors = spawn_chat_store_actors(sys, store, settings.store_readers);
  auto providers = std::make_shared<const llm_providers>(sys, settings.llm_timeout);
  auto plugins = spawn_plugin_registry(sys, providers->engine(), settings.plugins,
                                       store_actors.writer, std::move(*declared));
  auto http =
      spawn_http_client(sys, providers->engine(), !settings.platforms_allow_private_network);
  auto ledger = std::make_shared<bot_ledger>();
  auto bot_manager = spawn_bot_manager(sys, store_actors.writer, plugins, std::move(*bots),
                                       std::move(*activity), std::move(adapters), http, ledger);
  auto knowledge = spawn_knowledge_service(
      sys, std::make_shared<storage::knowledge_store>(store->shared_db()), store_actors.writer,
      std::make_shared<const remote_embedder>(providers->engine(), settings.embedding_timeout),
      settings.ingest_workers, settings.search_workers, settings.knowledge_index);
  if (!knowledge) {
    caf::anon_send_exit(bot_manager, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(plugins, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(http, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(store_actors.writer, caf::exit_reason::user_shutdown);
    for (auto& r : store_actors.readers)
      caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
    for (auto& a : providers->actors())
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    return std::move(knowledge.error());
  }
  auto conversations = spawn_conversation_manager(
      sys, store_actors, bot_manager, knowledge->manager, plugins, providers, settings, ledger);
  caf::anon_send(bot_manager, connect_atom::value, conversations);
  chat_services out{bot_manager, conversations, knowledge->manager, plugins, {}};
  for (auto& w : knowledge->workers)
    out.internals.push_back(w);
  out.internals.push_back(caf::actor_cast<caf::actor>(http));
  out.internals.push_back(caf::actor_cast<caf::actor>(store_actors.writer));
  for (auto& r : store_actors.readers)
    out.internals.push_back(caf::actor_cast<caf::actor>(r));
  for (auto& a : providers->actors())
    out.internals.push_back(a);
  return out;
}

void chat_services::stop() {
  caf::anon_send_exit(conversations, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(bots, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(knowledge, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(plugins, caf::exit_reason::user_shutdown);
  for (auto& a : internals)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

} // namespace chatagent::actors
