#pragma once

// Embeddings from an embeddings API: OpenAI's `/v1/embeddings` (and compatible servers)
// or Ollama's `/api/embed`.

#include "protocol/knowledge.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace chatagent::actors {

class http_engine;

/// Embeds texts over HTTP on the process's shared engine (libcurl multi: no thread per
/// request). `embed` blocks its caller until the answer: call it from detached workers only.
class remote_embedder {
 public:
  remote_embedder(std::shared_ptr<http_engine> engine, std::chrono::milliseconds timeout);

  /// The L2-normalized embeddings of `texts`, in order. Retries 429 and 5xx answers and
  /// failed connections twice with backoff. Fails with BAD_GATEWAY (the API answered an
  /// error or something that is not embeddings), SERVICE_UNAVAILABLE (it cannot be
  /// reached) or GATEWAY_TIMEOUT.
  caf::expected<std::vector<std::vector<float>>> embed(const protocol::embedding_config& config,
                                                       const std::string& model,
                                                       const std::vector<std::string>& texts) const;

  /// How many texts one request carries at most.
  static constexpr size_t batch_size = 64;

 private:
  std::shared_ptr<http_engine> engine_;
  std::chrono::milliseconds timeout_;
};

} // namespace chatagent::actors
