#include "protocol/knowledge_json.hpp"

#include "protocol/chat_json.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/time.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace chatagent::protocol {

using namespace fields;

namespace {

constexpr std::array<std::string_view, 2> vector_stores{"faiss", "chroma"};
constexpr std::array<std::string_view, 4> embedding_providers{"local", "openai",
                                                              "openai_compatible", "ollama"};

caf::error apply_embedding_json(embedding_config& c, const json_value& obj) {
  embedding_config next = c;
  bool url_sent = false;
  for (auto err : {
           read_text(obj, "provider", "embedding_config.provider", 1, 64, next.provider),
           read_text(obj, "base_url", "embedding_config.base_url", 0, chat_limits::url_max,
                     next.base_url, url_sent),
           read_text(obj, "api_key", "embedding_config.api_key", 0, chat_limits::secret_max,
                     next.api_key),
       })
    if (err)
      return err;
  if (std::find(embedding_providers.begin(), embedding_providers.end(), next.provider) ==
      embedding_providers.end())
    return bad("embedding_config.provider",
               "is not a known embedding provider (local, openai, openai_compatible, ollama)");
  if (url_sent && !next.base_url.empty())
    if (auto why = check_http_url(next.base_url); !why.empty())
      return bad("embedding_config.base_url", why);
  c = std::move(next);
  return caf::none;
}

} // namespace

bool is_known_vector_store(std::string_view name) noexcept {
  return std::find(vector_stores.begin(), vector_stores.end(), name) != vector_stores.end();
}

caf::error apply_knowledge_base_json(knowledge_base& kb, const json_value& body, bool creating) {
  knowledge_base next = kb;
  for (auto err : {
           read_text(body, "name", "name", 1, knowledge_limits::name_max, next.name),
           read_text(body, "description", "description", 0, knowledge_limits::description_max,
                     next.description),
           read_text(body, "vector_store_type", "vector_store_type", 1, 32, next.vector_store_type),
           read_text(body, "embedding_model", "embedding_model", 1, knowledge_limits::model_max,
                     next.embedding_model),
           read_integer(body, "chunk_size", "chunk_size", knowledge_limits::chunk_size_min,
                        knowledge_limits::chunk_size_max, next.chunk_size),
           read_integer(body, "chunk_overlap", "chunk_overlap", 0, knowledge_limits::chunk_size_max,
                        next.chunk_overlap),
           merge_object(body, "metadata", "metadata", knowledge_limits::metadata_max,
                        next.metadata),
       })
    if (err)
      return err;
  if (creating && next.name.empty())
    return bad("name", "is required");
  if (!is_known_vector_store(next.vector_store_type))
    return bad("vector_store_type", "is not supported (supported: faiss, chroma)");
  // One built-in store serves both names.
  next.vector_store_type = "faiss";
  if (auto v = body.find("embedding_config"); v != nullptr && !v->is_null()) {
    if (!v->is_object())
      return wrong_type("embedding_config", *v, "an object");
    if (auto err = apply_embedding_json(next.embedding, *v))
      return err;
  }
  // A model other than the built-in one is served by an embeddings API: OpenAI's unless
  // the base says otherwise.
  if (next.embedding_model == "local")
    next.embedding.provider = "local";
  else if (next.embedding.provider == "local")
    next.embedding.provider = "openai";
  if (next.chunk_overlap >= next.chunk_size)
    return bad("chunk_overlap",
               "must be smaller than chunk_size (" + std::to_string(next.chunk_size) + ")");
  if (!creating && kb.document_count > 0) {
    if (next.embedding_model != kb.embedding_model ||
        next.embedding.provider != kb.embedding.provider)
      return bad("embedding_model",
                 "cannot change while the base has documents (their vectors were made with " +
                     kb.embedding_model + ")");
    if (next.chunk_size != kb.chunk_size || next.chunk_overlap != kb.chunk_overlap)
      return bad("chunk_size", "cannot change while the base has documents");
  }
  kb = std::move(next);
  return caf::none;
}

void write_knowledge_base(json_writer& w, const knowledge_base& kb) {
  w.begin_object()
      .member("id", kb.id.value)
      .member("user_id", kb.owner.value)
      .member("name", kb.name)
      .member("description", kb.description)
      .member("vector_store_type", kb.vector_store_type)
      .member("embedding_model", kb.embedding_model);
  w.key("embedding_config")
      .begin_object()
      .member("provider", kb.embedding.provider)
      .member("base_url", kb.embedding.base_url)
      .member("has_api_key", !kb.embedding.api_key.empty())
      .end_object();
  if (kb.embedding_dimension > 0)
    w.member("embedding_dimension", kb.embedding_dimension);
  else
    w.key("embedding_dimension").null();
  w.member("chunk_size", kb.chunk_size).member("chunk_overlap", kb.chunk_overlap);
  w.key("metadata").raw(kb.metadata);
  w.member("document_count", kb.document_count)
      .member("chunk_count", kb.chunk_count)
      .member("created_at", format_time(kb.created_at_ms))
      .member("updated_at", format_time(kb.updated_at_ms))
      .end_object();
}

void write_document(json_writer& w, const knowledge_document& d) {
  w.begin_object()
      .member("id", d.id.value)
      .member("base_id", d.base.value)
      .member("title", d.title)
      .member("source", d.source)
      .member("format", d.format)
      .member("content_type", d.content_type)
      .member("size_bytes", d.size_bytes)
      .member("content_hash", d.content_hash);
  w.key("metadata").raw(d.metadata);
  w.member("status", d.status).member("progress", d.progress);
  if (d.error.empty())
    w.key("error").null();
  else
    w.member("error", d.error);
  w.member("page_count", d.page_count)
      .member("chunk_count", d.chunk_count)
      .member("created_at", format_time(d.created_at_ms))
      .member("updated_at", format_time(d.updated_at_ms))
      .end_object();
}

caf::error read_search_request(search_request& r, const json_value& body) {
  search_request next;
  bool present = false;
  for (auto err : {
           read_text(body, "query", "query", 1, 2000, next.query, present),
           read_integer(body, "top_k", "top_k", 1, 100, next.top_k),
           read_number(body, "score_threshold", "score_threshold", 0.0, 1.0, next.score_threshold),
           read_object(body, "filters", "filters", knowledge_limits::metadata_max, next.filters),
       })
    if (err)
      return err;
  if (!present)
    return bad("query", "is required");
  r = std::move(next);
  return caf::none;
}

void write_search_result(json_writer& w, const search_result& r) {
  w.begin_object().key("results").begin_array();
  for (auto& hit : r.results) {
    w.begin_object().member("content", hit.content);
    w.key("metadata").raw(hit.metadata);
    w.member("score", hit.score).end_object();
  }
  w.end_array();
  w.member("total", static_cast<int64_t>(r.results.size()))
      .member("query_time", std::round(r.query_time_s * 1e6) / 1e6)
      .end_object();
}

} // namespace chatagent::protocol
