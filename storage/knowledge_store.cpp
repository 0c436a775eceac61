#include "storage/knowledge_store.hpp"

#include "storage/records.hpp"

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
  kb.created_at_ms = r.num("created_at_ms");
  kb.updated_at_ms = r.num("updated_at_ms");
  return kb;
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
}

} // namespace chatagent::storage
