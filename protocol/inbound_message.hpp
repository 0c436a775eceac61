#pragma once

// The common inbound message: what every platform adapter makes of a chat message before
// it reaches a conversation, whatever the platform's own format.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace chatagent::protocol {

/// What a segment of a chat message is.
enum class segment_kind : uint8_t {
  text,        // `text`: the words
  mention,     // `ref`: the user id mentioned; `text`: the name shown (when known)
  mention_all, // @everyone / @all
  image,       // `ref`: a URL or the platform's file id; `text`: a file name (when known)
  voice,
  video,
  file,
  quote,   // a reply to a message: `ref` its author's id (when known), `text` its message id
  unknown, // `text`: the platform's own type (stickers, cards, ...)
};

/// One piece of a chat message, in the order the user wrote them.
struct message_segment {
  segment_kind kind = segment_kind::text;
  std::string text;
  std::string ref;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message_segment& x) {
  return f(caf::meta::type_name("message_segment"), x.kind, x.text, x.ref);
}

/// A chat message from a platform: who wrote it where, and its segments.
struct inbound_message {
  std::string platform;   // the bot's platform_type ("telegram", "onebot", ...)
  std::string message_id; // the platform's id of the message (redeliveries share it)
  std::string chat_id;
  bool group = false;     // a group chat or channel (else a private, direct chat)
  std::string chat_title; // when the platform tells
  std::string user_id;
  std::string user_name; // when the platform tells
  std::vector<message_segment> segments;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inbound_message& x) {
  return f(caf::meta::type_name("inbound_message"), x.platform, x.message_id, x.chat_id, x.group,
           x.chat_title, x.user_id, x.user_name, x.segments);
}

} // namespace chatagent::protocol
