#pragma once

#include "protocol/llm.hpp"

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

namespace chatagent::actors {

/// The provider actors a conversation can ask. Spawned once; the actors are shared by all
/// conversations.
class llm_providers {
 public:
  explicit llm_providers(caf::actor_system& sys);

  /// The actor serving `config.provider`; SERVICE_UNAVAILABLE when this build cannot
  /// reach that provider.
  caf::expected<protocol::llm_actor> select(const protocol::llm_config& config) const;

  /// The provider actors, for stopping them.
  caf::actor local_actor() const;

 private:
  protocol::llm_actor local_;
};

} // namespace chatagent::actors
