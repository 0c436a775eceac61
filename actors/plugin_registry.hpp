#pragma once

#include "actors/chat_store_actor.hpp"
#include "protocol/plugin_api.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include <caf/fwd.hpp>

namespace chatagent::actors {

class http_engine;

/// How plugins run.
struct plugin_settings {
  std::chrono::milliseconds timeout{10000}; // one tool call, network included
  bool allow_private_network = false;       // may plugins call loopback and private addresses
  size_t max_result_bytes = 16384;          // of a tool's result given to the model
};

/// Spawns the plugin registry with the built-in plugins and the plugins users `declared`
/// (loaded from storage); it persists declarations through `writer`, and the plugins'
/// outgoing calls go through `engine`.
protocol::plugin_registry_actor spawn_plugin_registry(caf::actor_system& sys,
                                                      std::shared_ptr<http_engine> engine,
                                                      plugin_settings settings,
                                                      store_writer_actor writer,
                                                      std::vector<protocol::plugin_info> declared);

} // namespace chatagent::actors
