#pragma once

#include "protocol/chat.hpp"
#include "storage/kv_store.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace chatagent::storage {

/// Encodes a record as the JSON document stored for it (secrets included).
std::string encode(const protocol::bot& b);
std::string encode(const protocol::conversation& c);
std::string encode(const protocol::chat_message& m);
std::string encode(const protocol::plugin_info& p);

/// Decode stored records; INTERNAL_ERROR when the bytes are not one.
caf::expected<protocol::bot> decode_bot(std::string_view bytes);
caf::expected<protocol::conversation> decode_conversation(std::string_view bytes);
caf::expected<protocol::chat_message> decode_message(std::string_view bytes);
caf::expected<protocol::plugin_info> decode_plugin(std::string_view bytes);

/// The key of message `seq` of a conversation: ordered by `seq` within the conversation.
std::string message_key(const protocol::conversation_id& c, int64_t seq);

/// Bots, conversations and messages in the database (key schema in docs/storage.md).
/// Reads are thread-safe; writes go into batches the caller commits, so one owner per
/// record decides their order.
class chat_store {
 public:
  explicit chat_store(std::shared_ptr<kv_store> db) : db_(std::move(db)) {}

  kv_store& db() noexcept { return *db_; }
  const std::shared_ptr<kv_store>& shared_db() const noexcept { return db_; }

  // -- bots -------------------------------------------------------------------

  /// Every stored bot, in id (creation) order.
  caf::expected<std::vector<protocol::bot>> load_bots() const;

  static void put_bot(write_batch& batch, const protocol::bot& b);
  /// Erases the bot's record and counters.
  static void erase_bot(write_batch& batch, const protocol::bot_id& id);

  /// Every plugin users declared, by owner then id.
  caf::expected<std::vector<protocol::plugin_info>> load_plugins() const;

  static void put_plugin(write_batch& batch, const protocol::plugin_info& p);
  static void erase_plugin(write_batch& batch, const protocol::user_id& owner,
                           const std::string& id);

  /// Every bot's counters (messages, errors, last activity), by bot id.
  caf::expected<std::unordered_map<std::string, counters>> load_bot_activity() const;

  /// Counts `messages` and `errors` for the bot at `at_ms`, in the batch that stores them.
  static void add_bot_activity(write_batch& batch, const protocol::bot_id& id, int64_t messages,
                               int64_t errors, int64_t at_ms);

  // -- conversations ----------------------------------------------------------

  /// The conversation's record, with its message count and times of activity taken from
  /// its last message: `put_conversation` need not go with every message.
  caf::expected<protocol::conversation>
  find_conversation(const protocol::conversation_id& id) const;

  /// The user's conversations that match `q`, newest first, and how many match in all.
  caf::expected<protocol::conversation_page>
  list_conversations(const protocol::user_id& owner, const protocol::conversation_query& q) const;

  /// The ids of a bot's conversations.
  caf::expected<std::vector<protocol::conversation_id>>
  conversations_of_bot(const protocol::bot_id& bot) const;

  /// The conversation of chat `chat` of the bot on `platform` (one per platform chat);
  /// NOT_FOUND when it has none yet. It may name a deleted conversation (see
  /// `erase_conversation`): the caller starts a new one then.
  caf::expected<protocol::conversation_id> find_platform_chat(const protocol::bot_id& bot,
                                                              std::string_view platform,
                                                              std::string_view chat) const;

  /// Erases the platform chat entries of `bot` (when the bot is deleted).
  static void erase_platform_chats(write_batch& batch, const protocol::bot_id& bot);

  /// Writes the record; `is_new` adds its index entries too.
  static void put_conversation(write_batch& batch, const protocol::conversation& c, bool is_new);

  /// Erases the record, its index entries and all its messages.
  static void erase_conversation(write_batch& batch, const protocol::conversation& c);

  // -- messages ---------------------------------------------------------------

  /// Messages `offset + 1 ..` of a conversation, at most `limit`, oldest first.
  caf::expected<std::vector<protocol::chat_message>> messages(const protocol::conversation_id& c,
                                                              int64_t offset, int64_t limit) const;

  static void put_message(write_batch& batch, const protocol::chat_message& m);

 private:
  /// The stored record alone, without `add_activity`.
  caf::expected<protocol::conversation>
  read_conversation(const protocol::conversation_id& id) const;

  /// Takes the message count and times of activity from the conversation's last message
  /// where they are newer.
  caf::error add_activity(protocol::conversation& c) const;

  std::shared_ptr<kv_store> db_;
};

} // namespace chatagent::storage
