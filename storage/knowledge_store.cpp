#include "storage/knowledge_store.hpp"

#include "storage/records.hpp"

#include <cstdio>
#include <cstring>

namespace chatagent::storage {

using namespace protocol;
using namespace records;

std::string encode(const knowledge_base& kb) {
  json_writer w;
  w.begin_object()
      .member("v", 1)
      .member("id", kb.id.value)
      .member("owner", kb.owner.value)
      .member("name", kb.name)
      .member("description", kb.description)
      .member("vector_store_type", kb.vector_store_type)
      .member("embedding_model", kb.embedding_model);
  w.key("embedding")
      .begin_object()
      .member("provider", kb.embedding.provider)
      .member("base_url", kb.embedding.base_url)
      .member("api_key", kb.embedding.api_key)
      .end_object();
  w.member("chunk_size", kb.chunk_size).member("chunk_overlap", kb.chunk_overlap);
  w.key("metadata").raw(kb.metadata);
  w.member("document_count", kb.document_count)
      .member("chunk_count", kb.chunk_count)
      .member("embedding_dimension", kb.embedding_dimension)
      .member("next_document_seq", kb.next_document_seq)
      .member("created_at_ms", kb.created_at_ms)
      .member("updated_at_ms", kb.updated_at_ms)
      .end_object();
  return w.take();
}

caf::expected<knowledge_base> decode_knowledge_base(std::string_view bytes) {
  auto doc = parse_json(bytes);
  if (!doc || !doc->is_object())
    return corrupt("knowledge base");
  reader r{*doc};
  knowledge_base kb;
  kb.id = knowledge_base_id{r.str("id")};
  kb.owner = user_id{r.str("owner")};
  if (kb.id.empty() || kb.owner.empty())
    return corrupt("knowledge base");
  kb.name = r.str("name");
  kb.description = r.str("description");
  kb.vector_store_type = r.str("vector_store_type", "faiss");
  kb.embedding_model = r.str("embedding_model", "local");
  if (auto e = doc->find("embedding"); e && e->is_object()) {
    reader er{*e};
    kb.embedding.provider = er.str("provider", "local");
    kb.embedding.base_url = er.str("base_url");
    kb.embedding.api_key = er.str("api_key");
  }
  kb.chunk_size = r.num("chunk_size", 1000);
  kb.chunk_overlap = r.num("chunk_overlap", 200);
  kb.metadata = r.object("metadata");
  kb.document_count = r.num("document_count");
  kb.chunk_count = r.num("chunk_count");
  kb.embedding_dimension = r.num("embedding_dimension");
  kb.next_document_seq = r.num("next_document_seq", 1);
  kb.created_at_ms = r.num("created_at_ms");
  kb.updated_at_ms = r.num("updated_at_ms");
  return kb;
}

std::string encode(const knowledge_document& d) {
  json_writer w;
  w.begin_object()
      .member("v", 1)
      .member("id", d.id.value)
      .member("base", d.base.value)
      .member("seq", d.seq)
      .member("title", d.title)
      .member("source", d.source)
      .member("format", d.format)
      .member("content_type", d.content_type)
      .member("size_bytes", d.size_bytes)
      .member("content_hash", d.content_hash);
  w.key("metadata").raw(d.metadata);
  w.member("status", d.status)
      .member("progress", d.progress)
      .member("error", d.error)
      .member("page_count", d.page_count)
      .member("chunk_count", d.chunk_count)
      .member("created_at_ms", d.created_at_ms)
      .member("updated_at_ms", d.updated_at_ms)
      .end_object();
  return w.take();
}

caf::expected<knowledge_document> decode_knowledge_document(std::string_view bytes) {
  auto doc = parse_json(bytes);
  if (!doc || !doc->is_object())
    return corrupt("knowledge document");
  reader r{*doc};
  knowledge_document d;
  d.id = document_id{r.str("id")};
  d.base = knowledge_base_id{r.str("base")};
  d.seq = r.num("seq");
  if (d.id.empty() || d.base.empty() || d.seq <= 0)
    return corrupt("knowledge document");
  d.title = r.str("title");
  d.source = r.str("source");
  d.format = r.str("format");
  d.content_type = r.str("content_type");
  d.size_bytes = r.num("size_bytes");
  d.content_hash = r.str("content_hash");
  d.metadata = r.object("metadata");
  d.status = r.str("status", "failed");
  d.progress = r.num("progress");
  d.error = r.str("error");
  d.page_count = r.num("page_count");
  d.chunk_count = r.num("chunk_count");
  d.created_at_ms = r.num("created_at_ms");
  d.updated_at_ms = r.num("updated_at_ms");
  return d;
}

namespace {

std::string base_prefix(const knowledge_base_id& base) {
  return base.value + "/";
}

std::string chunk_key(const knowledge_base_id& base, int64_t id) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(id));
  return base.value + "/" + hex;
}

std::string encode_chunk(const chunk_record& c) {
  json_writer w;
  w.begin_object().member("page", c.page).member("text", c.text).end_object();
  return w.take();
}

} // namespace

caf::expected<std::vector<knowledge_document>> knowledge_store::load_documents() const {
  return load_all<knowledge_document>(*db_, family::knowledge_documents, [](std::string_view v) {
    return decode_knowledge_document(v);
  });
}

caf::error knowledge_store::load_index(
    const knowledge_base_id& base, knowledge_index& index, const std::function<bool(int64_t)>& keep,
    const std::function<std::vector<std::string>(std::string_view)>& terms) const {
  std::vector<indexed_chunk> batch;
  caf::error failure;
  auto prefix = base_prefix(base);
  auto flush = [&] {
    index.add(std::move(batch));
    batch.clear();
  };
  auto err = db_->scan(
      family::knowledge_chunks, prefix, [&](std::string_view key, std::string_view value) {
        auto hex = key.substr(prefix.size());
        auto id = static_cast<int64_t>(std::strtoull(std::string{hex}.c_str(), nullptr, 16));
        if (!keep(document_seq_of(id)))
          return true;
        auto doc = parse_json(value);
        auto vec = db_->get(family::knowledge_vectors, key);
        if (!doc || !doc->is_object() || !vec || vec->size() != index.dimension() * sizeof(float)) {
          failure = corrupt("knowledge chunk");
          return false;
        }
        indexed_chunk c;
        c.id = id;
        c.vector.resize(index.dimension());
        std::memcpy(c.vector.data(), vec->data(), vec->size());
        c.terms = terms(reader{*doc}.str("text"));
        batch.push_back(std::move(c));
        if (batch.size() >= 1024)
          flush();
        return true;
      });
  if (err)
    return err;
  if (failure)
    return failure;
  flush();
  return caf::none;
}

caf::expected<std::vector<chunk_record>>
knowledge_store::chunks(const knowledge_base_id& base, const std::vector<int64_t>& ids) const {
  std::vector<chunk_record> out;
  for (auto id : ids) {
    auto bytes = db_->get(family::knowledge_chunks, chunk_key(base, id));
    if (!bytes)
      continue;
    auto doc = parse_json(*bytes);
    if (!doc || !doc->is_object())
      return corrupt("knowledge chunk");
    reader r{*doc};
    out.push_back({id, r.num("page"), r.str("text")});
  }
  return out;
}

caf::expected<std::vector<int64_t>> knowledge_store::chunk_ids_of(const knowledge_base_id& base,
                                                                  int64_t seq) const {
  std::vector<int64_t> out;
  auto prefix = base_prefix(base);
  auto from = chunk_key(base, chunk_id(seq, 0));
  auto end = chunk_id(seq + 1, 0);
  auto err = db_->scan_from(
      family::knowledge_chunks, prefix, from, [&](std::string_view key, std::string_view) {
        auto id = static_cast<int64_t>(
            std::strtoull(std::string{key.substr(prefix.size())}.c_str(), nullptr, 16));
        if (id >= end)
          return false;
        out.push_back(id);
        return true;
      });
  if (err)
    return err;
  return out;
}

caf::expected<std::vector<knowledge_base>> knowledge_store::load_bases() const {
  return load_all<knowledge_base>(*db_, family::knowledge_bases,
                                  [](std::string_view v) { return decode_knowledge_base(v); });
}

void knowledge_store::put_base(write_batch& batch, const knowledge_base& kb) {
  batch.put(family::knowledge_bases, kb.id.value, encode(kb));
}

void knowledge_store::erase_base(write_batch& batch, const knowledge_base_id& id) {
  batch.erase(family::knowledge_bases, id.value);
  batch.erase_prefix(family::knowledge_documents, base_prefix(id));
  batch.erase_prefix(family::knowledge_chunks, base_prefix(id));
  batch.erase_prefix(family::knowledge_vectors, base_prefix(id));
}

void knowledge_store::put_document(write_batch& batch, const knowledge_document& d) {
  batch.put(family::knowledge_documents, base_prefix(d.base) + d.id.value, encode(d));
}

void knowledge_store::erase_document(write_batch& batch, const knowledge_document& d) {
  batch.erase(family::knowledge_documents, base_prefix(d.base) + d.id.value);
}

void knowledge_store::put_chunk(write_batch& batch, const knowledge_base_id& base,
                                const chunk_record& c, const std::vector<float>& vector) {
  auto key = chunk_key(base, c.id);
  batch.put(
      family::knowledge_vectors, key,
      std::string{reinterpret_cast<const char*>(vector.data()), vector.size() * sizeof(float)});
  batch.put(family::knowledge_chunks, std::move(key), encode_chunk(c));
}

void knowledge_store::erase_chunk(write_batch& batch, const knowledge_base_id& base, int64_t id) {
  auto key = chunk_key(base, id);
  batch.erase(family::knowledge_vectors, key);
  batch.erase(family::knowledge_chunks, std::move(key));
}

} // namespace chatagent::storage
