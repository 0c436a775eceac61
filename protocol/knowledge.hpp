#pragma once

// Knowledge bases: the records of 知识库管理 in the API document, and the typed interface
// of the service that owns them.

#include "protocol/chat_api.hpp"
#include "protocol/ids.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace chatagent::protocol {

struct knowledge_base_id_tag {
  static constexpr const char* name = "knowledge_base_id";
  static constexpr std::string_view prefix = "kb_";
};

/// Identifies a knowledge base.
using knowledge_base_id = basic_id<knowledge_base_id_tag>;

/// Where a knowledge base gets its embeddings: the built-in offline `local` embedder, an
/// OpenAI-compatible `/v1/embeddings` API or Ollama's.
struct embedding_config {
  std::string provider = "local"; // local, openai, openai_compatible, ollama
  std::string base_url;           // empty: the provider's official endpoint
  std::string api_key;            // stored, never returned by the API
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, embedding_config& x) {
  return f(caf::meta::type_name("embedding_config"), x.provider, x.base_url, x.api_key);
}

/// A knowledge base as stored. `metadata` is a JSON object's text.
struct knowledge_base {
  knowledge_base_id id;
  user_id owner;
  std::string name;
  std::string description;
  std::string vector_store_type = "faiss";
  std::string embedding_model = "local";
  embedding_config embedding;
  int64_t chunk_size = 1000;   // characters (code points) per chunk, at most
  int64_t chunk_overlap = 200; // characters shared by neighbouring chunks
  std::string metadata = "{}";
  int64_t document_count = 0;
  int64_t chunk_count = 0;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, knowledge_base& x) {
  return f(caf::meta::type_name("knowledge_base"), x.id, x.owner, x.name, x.description,
           x.vector_store_type, x.embedding_model, x.embedding, x.chunk_size, x.chunk_overlap,
           x.metadata, x.document_count, x.chunk_count, x.created_at_ms, x.updated_at_ms);
}

/// Filters and paging of `GET /knowledge/bases`.
struct knowledge_query {
  std::string search; // case-insensitive substring of name or description
  int64_t limit = 20;
  int64_t offset = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, knowledge_query& x) {
  return f(caf::meta::type_name("knowledge_query"), x.search, x.limit, x.offset);
}

/// One page of a user's knowledge bases, oldest first.
struct knowledge_page {
  std::vector<knowledge_base> bases;
  int64_t total = 0;
  int64_t limit = 0;
  int64_t offset = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, knowledge_page& x) {
  return f(caf::meta::type_name("knowledge_page"), x.bases, x.total, x.limit, x.offset);
}

/// The knowledge service: owns every knowledge base.
///
/// Requests name the acting user; another user's base answers NOT_FOUND, as a missing one.
/// - `create_atom, user_id, knowledge_base` → the stored base (id and times assigned).
/// - `list_atom, user_id, knowledge_query` → a page of the user's bases.
/// - `find_atom, user_id, knowledge_base_id` → the base.
/// - `update_atom, user_id, knowledge_base_id, patch` → the merged base; `patch` is the
///   JSON object of `PUT /knowledge/bases/{id}` (see `apply_knowledge_base_json`).
/// - `delete_atom, user_id, knowledge_base_id` → true; its documents and chunks go too.
using knowledge_manager_actor = caf::typed_actor<
    caf::replies_to<create_atom, user_id, knowledge_base>::with<knowledge_base>,
    caf::replies_to<list_atom, user_id, knowledge_query>::with<knowledge_page>,
    caf::replies_to<find_atom, user_id, knowledge_base_id>::with<knowledge_base>,
    caf::replies_to<update_atom, user_id, knowledge_base_id, std::string>::with<knowledge_base>,
    caf::replies_to<delete_atom, user_id, knowledge_base_id>::with<bool>>;

} // namespace chatagent::protocol
