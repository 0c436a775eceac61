#pragma once

// The actors in front of the chat records in RocksDB. Internal to `actors/`: their
// messages carry storage types and never leave the process.

#include "protocol/chat.hpp"
#include "protocol/chat_api.hpp"
#include "storage/kv_store.hpp"

#include <memory>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace chatagent::storage {
class chat_store;
} // namespace chatagent::storage

namespace chatagent::actors {

using commit_atom = caf::atom_constant<caf::atom("commit")>;
using load_atom = caf::atom_constant<caf::atom("load")>;

/// A conversation as its actor starts from: the record and its latest messages.
struct conversation_snapshot {
  protocol::conversation record;
  std::vector<protocol::chat_message> recent; // oldest first
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, conversation_snapshot& x) {
  return f(caf::meta::type_name("conversation_snapshot"), x.record, x.recent);
}

/// Commits write batches durably, sharing one WAL sync among all the batches that arrive
/// while the previous sync runs (group commit). Detached: it blocks on the disk.
/// - `commit_atom, write_batch` → true once durable.
using store_writer_actor =
    caf::typed_actor<caf::replies_to<commit_atom, storage::write_batch>::with<bool>>;

/// Reads chat records. Detached; several run side by side.
/// - `load_atom, conversation_id, recent` → the record and its last `recent` messages.
/// - `list_atom, user_id, conversation_query` → a page of conversations.
/// - `history_atom, conversation_id, offset, limit` → messages, oldest first.
/// - `purge_atom, bot_id` → a batch erasing the bot's conversations and their messages,
///   and the ids of those conversations.
/// - `open_atom, bot_id, platform, chat` → the conversation of that platform chat
///   (NOT_FOUND when it has none).
using store_reader_actor = caf::typed_actor<
    caf::replies_to<load_atom, protocol::conversation_id, int64_t>::with<conversation_snapshot>,
    caf::replies_to<protocol::list_atom, protocol::user_id,
                    protocol::conversation_query>::with<protocol::conversation_page>,
    caf::replies_to<protocol::history_atom, protocol::conversation_id, int64_t,
                    int64_t>::with<std::vector<protocol::chat_message>>,
    caf::replies_to<protocol::purge_atom, protocol::bot_id>::with<
        storage::write_batch, std::vector<protocol::conversation_id>>,
    caf::replies_to<protocol::open_atom, protocol::bot_id, std::string,
                    std::string>::with<protocol::conversation_id>>;

/// The store actors, spawned together.
struct chat_store_actors {
  store_writer_actor writer;
  std::vector<store_reader_actor> readers;

  /// A reader, spreading the load over all of them.
  const store_reader_actor& reader() const;
};

/// Spawns one writer and `readers` readers over `store`.
chat_store_actors spawn_chat_store_actors(caf::actor_system& sys,
                                          std::shared_ptr<storage::chat_store> store,
                                          size_t readers);

} // namespace chatagent::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::storage::write_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::actors::conversation_snapshot)
