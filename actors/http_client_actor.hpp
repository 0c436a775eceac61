#pragma once

#include "protocol/platform.hpp"

#include <memory>

#include <caf/fwd.hpp>

namespace chatagent::actors {

class http_engine;

/// Spawns an actor that makes `fetch` requests on `engine` (for code that may only know
/// actor interfaces, such as platform adapters). Responses are cut at 1 MiB. With
/// `public_only`, loopback and private network addresses are refused (the URLs are
/// users' choice: against SSRF).
protocol::http_client_actor
spawn_http_client(caf::actor_system& sys, std::shared_ptr<http_engine> engine, bool public_only);

} // namespace chatagent::actors
