#pragma once

// The knowledge API's JSON: how knowledge bases look in responses, and how request bodies
// become records (validated, and merged for updates).

#include "protocol/json.hpp"
#include "protocol/knowledge.hpp"

#include <string_view>

#include <caf/error.hpp>

namespace chatagent::protocol {

struct knowledge_limits {
  static constexpr size_t name_max = 100;
  static constexpr size_t description_max = 2000;
  static constexpr size_t model_max = 200;
  static constexpr int64_t chunk_size_min = 100;
  static constexpr int64_t chunk_size_max = 8000;
  static constexpr size_t metadata_max = 16384; // bytes of JSON
};

/// The vector stores a base can ask for: `faiss` (built in, the default), and `chroma`,
/// accepted for the API document's example and served by the same built-in store.
bool is_known_vector_store(std::string_view name) noexcept;

/// Applies a `POST /knowledge/bases` (`creating`) or `PUT /knowledge/bases/{id}` body to
/// `kb`: absent members keep their values, `metadata` and `embedding_config` merge member
/// by member. The embedding model and chunking of a base with documents cannot change
/// (its vectors were made with them). VALIDATION_ERROR names the first bad field.
caf::error apply_knowledge_base_json(knowledge_base& kb, const json_value& body, bool creating);

/// A knowledge base as the API shows it: no secrets.
void write_knowledge_base(json_writer& w, const knowledge_base& kb);

/// A document as the API shows it.
void write_document(json_writer& w, const knowledge_document& d);

/// Reads a `POST /knowledge/bases/{id}/search` body: `query` (1–2,000 characters),
/// `top_k` (1–100, default 5), `score_threshold` (0–1, default 0), `filters` (an object).
caf::error read_search_request(search_request& r, const json_value& body);

/// `{"results": [{"content", "metadata", "score"}], "total", "query_time"}`.
void write_search_result(json_writer& w, const search_result& r);

} // namespace chatagent::protocol
