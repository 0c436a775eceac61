#pragma once

// The knowledge service's workers: detached actors that do its blocking work (reading
// files, embedding, FAISS searches, RocksDB reads), so that the service itself never
// blocks. Internal to `actors/`: their messages carry pointers and never leave the process.

#include "actors/text_extract.hpp"
#include "protocol/json.hpp"
#include "protocol/knowledge.hpp"
#include "storage/knowledge_index.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace chatagent::storage {
class knowledge_store;
} // namespace chatagent::storage

namespace chatagent::actors {

using extract_atom = caf::atom_constant<caf::atom("extract")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;

class remote_embedder;

/// Where a base's index lives once its vectors' dimension is known (the first embedding
/// tells, for embedding APIs). Shared by the service and its workers.
class index_slot {
 public:
  explicit index_slot(storage::index_options options = {}) : options_(options) {}
  std::shared_ptr<storage::knowledge_index> get() const {
    std::lock_guard guard{mtx_};
    return index_;
  }
  /// The index, created for `dimension` if there is none yet.
  std::shared_ptr<storage::knowledge_index> get_or_create(size_t dimension) {
    std::lock_guard guard{mtx_};
    if (!index_)
      index_ = std::make_shared<storage::knowledge_index>(dimension, options_);
    return index_;
  }
  void set(std::shared_ptr<storage::knowledge_index> index) {
    std::lock_guard guard{mtx_};
    index_ = std::move(index);
  }

 private:
  storage::index_options options_;
  mutable std::mutex mtx_;
  std::shared_ptr<storage::knowledge_index> index_;
};

/// A file's text and the SHA-256 of its bytes (hex).
struct extracted_document {
  extracted_text text;
  std::string content_hash;
};

/// Where ingestion of a document ended: the chunks it stored (all of them when `error` is
/// empty and it was not cancelled).
struct ingest_outcome {
  protocol::knowledge_base_id base;
  protocol::document_id document;
  std::vector<int64_t> chunk_ids;
  int64_t dimension = 0;
  std::string error;
  bool cancelled = false;
};

/// What the knowledge service tells its workers' reports to.
using knowledge_reports_actor = caf::typed_actor<
    caf::reacts_to<progress_atom, protocol::knowledge_base_id, protocol::document_id, int64_t>,
    caf::reacts_to<ingest_outcome>>;

/// Chunks, embeds and stores a document, then adds it to the base's index.
struct embed_job {
  protocol::knowledge_base base;
  protocol::knowledge_document document;
  std::vector<extracted_page> pages;
  std::shared_ptr<index_slot> index;
  std::shared_ptr<std::atomic<bool>> cancelled;
  knowledge_reports_actor report_to;
};

/// What a search shows of a document.
struct document_info {
  std::string id;
  std::string title;
  std::string source;
  protocol::json_value::object_t metadata; // parsed once, when the document changes
};

/// Searches a base's index and reads the chunks found.
struct search_job {
  protocol::knowledge_base base;
  protocol::search_request request;
  std::shared_ptr<const storage::knowledge_index> index;
  std::shared_ptr<const std::map<int64_t, document_info>> documents; // by document seq
};

/// Searches several bases of one user for a conversation's question.
struct retrieve_job {
  std::vector<search_job> bases; // each with the same request
};

/// - `extract_atom, document_upload` → the file's text and hash.
/// - `embed_job` → reports progress and an `ingest_outcome` to the job's `report_to`.
/// - `search_job` → the results.
/// - `retrieve_job` → the best passages of all its bases, best first.
using knowledge_worker_actor = caf::typed_actor<
    caf::replies_to<extract_atom, protocol::document_upload>::with<extracted_document>,
    caf::reacts_to<embed_job>, caf::replies_to<search_job>::with<protocol::search_result>,
    caf::replies_to<retrieve_job>::with<std::vector<protocol::retrieved_chunk>>>;

/// Spawns one detached worker over `store`; `embedder` serves bases whose embedding model
/// is not the built-in one.
knowledge_worker_actor spawn_knowledge_worker(caf::actor_system& sys,
                                              std::shared_ptr<storage::knowledge_store> store,
                                              std::shared_ptr<const remote_embedder> embedder);

/// The terms the index keeps for a text (see `text_terms`).
std::vector<std::string> index_terms(std::string_view text);

} // namespace chatagent::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::actors::extracted_document)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::actors::ingest_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::actors::embed_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::actors::search_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::actors::retrieve_job)
