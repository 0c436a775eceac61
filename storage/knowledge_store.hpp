#pragma once

#include "protocol/knowledge.hpp"
#include "storage/kv_store.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace chatagent::storage {

/// Encodes a knowledge base as the JSON document stored for it (secrets included).
std::string encode(const protocol::knowledge_base& kb);

/// INTERNAL_ERROR when the bytes are not a knowledge base record.
caf::expected<protocol::knowledge_base> decode_knowledge_base(std::string_view bytes);

/// Knowledge bases in the database (key schema in docs/storage.md). Reads are
/// thread-safe; writes go into batches the caller commits.
class knowledge_store {
 public:
  explicit knowledge_store(std::shared_ptr<kv_store> db) : db_(std::move(db)) {}

  /// Every stored knowledge base, in id (creation) order.
  caf::expected<std::vector<protocol::knowledge_base>> load_bases() const;

  static void put_base(write_batch& batch, const protocol::knowledge_base& kb);
  static void erase_base(write_batch& batch, const protocol::knowledge_base_id& id);

 private:
  std::shared_ptr<kv_store> db_;
};

} // namespace chatagent::storage
