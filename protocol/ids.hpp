#pragma once

#include <compare>
#include <string>
#include <string_view>

#include <caf/meta/type_name.hpp>

namespace chatagent::protocol {

/// A strongly typed identifier: a string that cannot be mixed up with another kind of id.
template <class Tag>
struct basic_id {
  std::string value;

  basic_id() = default;
  explicit basic_id(std::string v) : value(std::move(v)) {}

  bool empty() const noexcept { return value.empty(); }
  friend auto operator<=>(const basic_id&, const basic_id&) = default;
  friend std::string to_string(const basic_id& x) { return x.value; }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, basic_id& x) {
    return f(caf::meta::type_name(Tag::name), x.value);
  }
};

struct user_id_tag {
  static constexpr const char* name = "user_id";
  static constexpr std::string_view prefix = "usr_";
};

/// Identifies a registered user.
using user_id = basic_id<user_id_tag>;

struct bot_id_tag {
  static constexpr const char* name = "bot_id";
  static constexpr std::string_view prefix = "bot_";
};

/// Identifies a bot.
using bot_id = basic_id<bot_id_tag>;

struct conversation_id_tag {
  static constexpr const char* name = "conversation_id";
  static constexpr std::string_view prefix = "conv_";
};

/// Identifies a conversation.
using conversation_id = basic_id<conversation_id_tag>;

struct message_id_tag {
  static constexpr const char* name = "message_id";
  static constexpr std::string_view prefix = "msg_";
};

/// Identifies a message of a conversation.
using message_id = basic_id<message_id_tag>;

/// Creates a new unique, time-ordered identifier: the prefix followed by a ULID
/// (48-bit millisecond timestamp and 80 random bits in Crockford base32), so ids sort by
/// creation time in RocksDB.
std::string make_ulid(std::string_view prefix);

/// Creates a new id of the given kind.
template <class Tag>
basic_id<Tag> new_id() {
  return basic_id<Tag>{make_ulid(Tag::prefix)};
}

} // namespace chatagent::protocol
