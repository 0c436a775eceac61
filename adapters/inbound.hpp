#pragma once

// Reading common inbound messages (protocol/inbound_message.hpp): whether a message
// addresses the bot, what it asks, and what it carries. Every adapter turns its
// platform's messages into the common form and leaves these rules to this file.

#include "protocol/inbound_message.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace chatagent::adapters {

/// How users address a bot on its platform (part of an adapter's settings and state).
struct addressing {
  std::string self_id;   // the bot's user id there: mentions of it and replies to it address it
  std::string prefix;    // in group chats, a message starting with it addresses the bot
  bool per_user = false; // in group chats, one conversation per user (conversation_scope)
};

/// What a message says to the bot.
struct reading {
  /// A private chat, or in a group: the bot is mentioned, replied to, or the message
  /// starts with the prefix (@all does not count: it is for people).
  bool addressed = false;
  /// Its words: text segments, other users' mentions as "@name"; the bot's own mention
  /// and the prefix left out; trimmed.
  std::string text;
  /// Its images, voice, video and files as "<kind>:<URL or file id>".
  std::vector<std::string> attachments;
};

/// How `m` reads for a bot addressed by `a`.
reading read_message(const protocol::inbound_message& m, const addressing& a);

/// The metadata of the user message `m`: `platform`, `platform_message_id`,
/// `platform_user_id`, `platform_user_name` (when known), `chat_type` ("private" or
/// "group"), `reply_to` (the quoted message's id, when any), `mentions` (user ids, when
/// any), `attachments` (when any), and `event_id` when not empty.
std::string message_metadata(const protocol::inbound_message& m, const reading& r,
                             const std::string& event_id = {});

/// `text` with each mention markup `<@id>`, `<@!id>` or `<@id|name>` (Slack, Discord) as a
/// mention segment, the rest as text segments.
std::vector<protocol::message_segment> markup_segments(std::string_view text);

/// `segments` with each occurrence of `token` in their text (a bot's "@username", a
/// mention's placeholder) as a mention of `id` named `name`.
std::vector<protocol::message_segment>
token_segments(std::vector<protocol::message_segment> segments, std::string_view token,
               const std::string& id, const std::string& name);

/// The segment kind of a file of MIME type `mime`: image, voice (audio), video or file.
protocol::segment_kind kind_of_mime(std::string_view mime);

/// A text segment with `words`.
protocol::message_segment text_segment(std::string words);

/// A segment of `kind` with `ref` (and `text`).
protocol::message_segment segment(protocol::segment_kind kind, std::string ref,
                                  std::string text = {});

} // namespace chatagent::adapters
