#pragma once

#include "protocol/knowledge.hpp"
#include "storage/knowledge_index.hpp"
#include "storage/kv_store.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/expected.hpp>

namespace chatagent::storage {

/// Encodes a knowledge base / document as the JSON document stored for it (secrets
/// included).
std::string encode(const protocol::knowledge_base& kb);
std::string encode(const protocol::knowledge_document& d);

/// INTERNAL_ERROR when the bytes are not such a record.
caf::expected<protocol::knowledge_base> decode_knowledge_base(std::string_view bytes);
caf::expected<protocol::knowledge_document> decode_knowledge_document(std::string_view bytes);

/// A stored chunk of a document.
struct chunk_record {
  int64_t id = 0;   // (document seq << 20) | index
  int64_t page = 0; // 0: the format has no pages
  std::string text;
};

/// The id of chunk `index` of document `seq`.
constexpr int64_t chunk_id(int64_t document_seq, int64_t index) {
  return (document_seq << 20) | index;
}
constexpr int64_t document_seq_of(int64_t chunk) {
  return chunk >> 20;
}
constexpr int64_t chunk_index_of(int64_t chunk) {
  return chunk & ((int64_t{1} << 20) - 1);
}
constexpr int64_t max_chunks_per_document = int64_t{1} << 20;

/// Knowledge bases, their documents, chunks and vectors in the database (key schema in
/// docs/storage.md). Reads are thread-safe; writes go into batches the caller commits.
class knowledge_store {
 public:
  explicit knowledge_store(std::shared_ptr<kv_store> db) : db_(std::move(db)) {}

  kv_store& db() noexcept { return *db_; }

  /// Every stored knowledge base, in id (creation) order.
  caf::expected<std::vector<protocol::knowledge_base>> load_bases() const;
  /// Every document of every base.
  caf::expected<std::vector<protocol::knowledge_document>> load_documents() const;

  /// Builds the index of `base` from its stored chunks whose document seq `keep` accepts;
  /// `terms` gives a chunk text's terms.
  caf::error
  load_index(const protocol::knowledge_base_id& base, knowledge_index& index,
             const std::function<bool(int64_t)>& keep,
             const std::function<std::vector<std::string>(std::string_view)>& terms) const;

  /// The stored chunks `ids` of `base` (missing ones are skipped), in the order asked.
  caf::expected<std::vector<chunk_record>> chunks(const protocol::knowledge_base_id& base,
                                                  const std::vector<int64_t>& ids) const;

  /// The ids of the chunks stored for document `seq`.
  caf::expected<std::vector<int64_t>> chunk_ids_of(const protocol::knowledge_base_id& base,
                                                   int64_t seq) const;

  static void put_base(write_batch& batch, const protocol::knowledge_base& kb);
  /// Erases the base with its documents, chunks and vectors.
  static void erase_base(write_batch& batch, const protocol::knowledge_base_id& id);

  static void put_document(write_batch& batch, const protocol::knowledge_document& d);
  static void erase_document(write_batch& batch, const protocol::knowledge_document& d);

  static void put_chunk(write_batch& batch, const protocol::knowledge_base_id& base,
                        const chunk_record& c, const std::vector<float>& vector);
  static void erase_chunk(write_batch& batch, const protocol::knowledge_base_id& base, int64_t id);

 private:
  std::shared_ptr<kv_store> db_;
};

} // namespace chatagent::storage
