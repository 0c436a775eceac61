#pragma once

#include "protocol/llm.hpp"

#include <chrono>
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace chatagent::actors {

class http_engine;

/// The provider actors a conversation can ask, shared by all conversations: the offline
/// `local` model, and one actor for every remote provider (OpenAI-compatible servers,
/// Anthropic, Ollama) on one libcurl multi engine. The remote actor retries 429/5xx and
/// unreachable endpoints with backoff (never after a chunk was streamed) and opens a
/// circuit per endpoint after repeated failures.
class llm_providers {
 public:
  /// `timeout`: the longest one completion may take.
  llm_providers(caf::actor_system& sys, std::chrono::milliseconds timeout);
  ~llm_providers();

  /// The actor serving `config.provider`.
  protocol::llm_actor select(const protocol::llm_config& config) const;

  /// The provider actors, for stopping them.
  std::vector<caf::actor> actors() const;

  /// The HTTP engine the remote providers use, for other outgoing calls of the process.
  std::shared_ptr<http_engine> engine() const { return engine_; }

 private:
  std::shared_ptr<http_engine> engine_;
  protocol::llm_actor local_;
  protocol::llm_actor remote_;
};

} // namespace chatagent::actors
