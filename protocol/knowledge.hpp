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

struct document_id_tag {
  static constexpr const char* name = "document_id";
  static constexpr std::string_view prefix = "doc_";
};

/// Identifies a document of a knowledge base.
using document_id = basic_id<document_id_tag>;

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
  int64_t embedding_dimension = 0; // 0: nothing embedded yet
  int64_t next_document_seq = 1;   // numbers documents; a chunk's id is (seq << 20) | index
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, knowledge_base& x) {
  return f(caf::meta::type_name("knowledge_base"), x.id, x.owner, x.name, x.description,
           x.vector_store_type, x.embedding_model, x.embedding, x.chunk_size, x.chunk_overlap,
           x.metadata, x.document_count, x.chunk_count, x.embedding_dimension, x.next_document_seq,
           x.created_at_ms, x.updated_at_ms);
}

/// A document of a knowledge base. Ingestion runs in the background: `processing` (with
/// `progress` in percent), then `ready` or `failed` (with `error`).
struct knowledge_document {
  document_id id;
  knowledge_base_id base;
  int64_t seq = 0; // within the base
  std::string title;
  std::string source; // the uploaded file's name
  std::string format; // txt, markdown, html, pdf, docx
  std::string content_type;
  int64_t size_bytes = 0;
  std::string content_hash; // SHA-256 of the file, hex: the same file is not added twice
  std::string metadata = "{}";
  std::string status = "processing";
  int64_t progress = 0;
  std::string error;
  int64_t page_count = 0;
  int64_t chunk_count = 0;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, knowledge_document& x) {
  return f(caf::meta::type_name("knowledge_document"), x.id, x.base, x.seq, x.title, x.source,
           x.format, x.content_type, x.size_bytes, x.content_hash, x.metadata, x.status, x.progress,
           x.error, x.page_count, x.chunk_count, x.created_at_ms, x.updated_at_ms);
}

/// A file as uploaded: `metadata` is the JSON object's text of the form's `metadata` field.
struct document_upload {
  std::string filename;
  std::string content_type;
  std::string bytes;
  std::string metadata = "{}";
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, document_upload& x) {
  return f(caf::meta::type_name("document_upload"), x.filename, x.content_type, x.bytes,
           x.metadata);
}

/// The answer to an upload: the document, and whether it was there already (the same
/// file uploaded again adds nothing).
struct upload_result {
  knowledge_document document;
  bool duplicate = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, upload_result& x) {
  return f(caf::meta::type_name("upload_result"), x.document, x.duplicate);
}

/// Paging of a base's documents; `status` empty: any.
struct document_query {
  std::string status;
  int64_t limit = 20;
  int64_t offset = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, document_query& x) {
  return f(caf::meta::type_name("document_query"), x.status, x.limit, x.offset);
}

struct document_page {
  std::vector<knowledge_document> documents;
  int64_t total = 0;
  int64_t limit = 0;
  int64_t offset = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, document_page& x) {
  return f(caf::meta::type_name("document_page"), x.documents, x.total, x.limit, x.offset);
}

/// `POST /knowledge/bases/{id}/search`. `filters` is a JSON object's text: every member
/// must equal the chunk's metadata member (or be an array holding it).
struct search_request {
  std::string query;
  int64_t top_k = 5;
  double score_threshold = 0;
  std::string filters = "{}";
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_request& x) {
  return f(caf::meta::type_name("search_request"), x.query, x.top_k, x.score_threshold, x.filters);
}

/// One result: the chunk's text, its metadata (a JSON object's text: the document's own
/// metadata plus `title`, `source`, `page`, `chunk_index`, `document_id`) and its score.
struct search_hit {
  std::string content;
  std::string metadata = "{}";
  double score = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_hit& x) {
  return f(caf::meta::type_name("search_hit"), x.content, x.metadata, x.score);
}

struct search_result {
  std::vector<search_hit> results;
  double query_time_s = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_result& x) {
  return f(caf::meta::type_name("search_result"), x.results, x.query_time_s);
}

/// A passage found for a conversation's question, with where it comes from.
struct retrieved_chunk {
  std::string content;
  std::string title;
  std::string source;
  int64_t page = 0; // 0: the format has no pages
  std::string base_id;
  std::string document_id;
  double score = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, retrieved_chunk& x) {
  return f(caf::meta::type_name("retrieved_chunk"), x.content, x.title, x.source, x.page, x.base_id,
           x.document_id, x.score);
}

using upload_atom = caf::atom_constant<caf::atom("upload")>;
using retrieve_atom = caf::atom_constant<caf::atom("retrieve")>;
using search_atom = caf::atom_constant<caf::atom("search")>;

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
/// - `upload_atom, user_id, knowledge_base_id, document_upload` → the new document, once
///   its text is extracted (ingestion goes on in the background), or the existing one
///   with the same content. UNSUPPORTED_MEDIA_TYPE or VALIDATION_ERROR (field `file`)
///   for files it cannot read; nothing is stored then.
/// - `list_atom, user_id, knowledge_base_id, document_query` → a page of its documents,
///   oldest first.
/// - `find_atom` / `delete_atom, user_id, knowledge_base_id, document_id` → the document /
///   true (its chunks leave the index at once).
/// - `search_atom, user_id, knowledge_base_id, search_request` → the best chunks.
/// - `retrieve_atom, user_id, base ids, query, top_k, min_score` → the best passages of
///   those of the bases that exist and belong to the user, best first (for conversations).
using knowledge_manager_actor = caf::typed_actor<
    caf::replies_to<create_atom, user_id, knowledge_base>::with<knowledge_base>,
    caf::replies_to<list_atom, user_id, knowledge_query>::with<knowledge_page>,
    caf::replies_to<find_atom, user_id, knowledge_base_id>::with<knowledge_base>,
    caf::replies_to<update_atom, user_id, knowledge_base_id, std::string>::with<knowledge_base>,
    caf::replies_to<delete_atom, user_id, knowledge_base_id>::with<bool>,
    caf::replies_to<upload_atom, user_id, knowledge_base_id, document_upload>::with<upload_result>,
    caf::replies_to<list_atom, user_id, knowledge_base_id, document_query>::with<document_page>,
    caf::replies_to<find_atom, user_id, knowledge_base_id, document_id>::with<knowledge_document>,
    caf::replies_to<delete_atom, user_id, knowledge_base_id, document_id>::with<bool>,
    caf::replies_to<search_atom, user_id, knowledge_base_id, search_request>::with<search_result>,
    caf::replies_to<retrieve_atom, user_id, std::vector<std::string>, std::string, int64_t,
                    double>::with<std::vector<retrieved_chunk>>>;

} // namespace chatagent::protocol
