#pragma once

// The typed interfaces of the bot and conversation services.

#include "protocol/chat.hpp"
#include "protocol/llm.hpp"
#include "protocol/platform_event.hpp"

#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace chatagent::protocol {

using create_atom = caf::atom_constant<caf::atom("create")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using find_atom = caf::atom_constant<caf::atom("find")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using delete_atom = caf::atom_constant<caf::atom("delete")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using config_atom = caf::atom_constant<caf::atom("config")>;
using activity_atom = caf::atom_constant<caf::atom("activity")>;
using send_atom = caf::atom_constant<caf::atom("send")>;
using history_atom = caf::atom_constant<caf::atom("history")>;
using purge_atom = caf::atom_constant<caf::atom("purge")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using unsubscribe_atom = caf::atom_constant<caf::atom("unsubscrib")>;
using open_atom = caf::atom_constant<caf::atom("open")>;
using online_atom = caf::atom_constant<caf::atom("online")>;

/// A live listener to a conversation (a WebSocket connection): receives every piece of
/// every answer as it is produced.
using stream_subscriber_actor = caf::typed_actor<caf::reacts_to<stream_event>>;

/// The bots service: owns every bot's record and a bot actor per bot.
///
/// Requests name the acting user; another user's bot answers NOT_FOUND, as a missing one.
/// - `create_atom, user_id, bot` → the stored bot (id and times assigned).
/// - `list_atom, user_id, bot_query` → a page of the user's bots.
/// - `find_atom, user_id, bot_id` → the bot.
/// - `update_atom, user_id, bot_id, patch` → the merged bot; `patch` is the JSON object
///   of `PUT /bots/{id}`: members not sent keep their values (`llm_config` too, member by
///   member), VALIDATION_ERROR names the first bad field.
/// - `delete_atom, user_id, bot_id` → true; its conversations and messages go too.
/// - `start_atom` / `stop_atom` / `status_atom, user_id, bot_id` → the bot's status.
/// - `config_atom, bot_id` → the bot with its secrets, for the conversations that talk
///   through it (no owner check: internal).
/// - `activity_atom, bot_id, messages, errors` → counts a conversation's work.
/// - `install_atom, user_id, bot_id, plugin_id, body, creating` → the installation;
///   `body` is the JSON object of `POST` (`creating`) or `PUT /bots/{id}/plugins/{plugin}`
///   (`config`, merged into the stored one, and `enabled`). NOT_FOUND for an unknown plugin
///   (or, updating, one the bot does not have), DUPLICATE_RESOURCE when `creating` finds it
///   installed, VALIDATION_ERROR naming the bad `config.<setting>`.
/// - `uninstall_atom, user_id, bot_id, plugin_id` → true.
/// - `plugins_atom, user_id, bot_id` → the bot's installed plugins.
/// - `online_atom, bot_id, reachable` → a running bot's adapter says whether its platform
///   answers (`status.is_online`).
/// - `inbound_atom, bot_id, platform_event` → the answer for the platform: the running
///   bot's adapter authenticates and handles the event (no user: platforms call this).
using bot_manager_actor = caf::typed_actor<
    caf::replies_to<create_atom, user_id, bot>::with<bot>,
    caf::replies_to<list_atom, user_id, bot_query>::with<bot_page>,
    caf::replies_to<find_atom, user_id, bot_id>::with<bot>,
    caf::replies_to<update_atom, user_id, bot_id, std::string>::with<bot>,
    caf::replies_to<delete_atom, user_id, bot_id>::with<bool>,
    caf::replies_to<start_atom, user_id, bot_id>::with<bot_status>,
    caf::replies_to<stop_atom, user_id, bot_id>::with<bot_status>,
    caf::replies_to<status_atom, user_id, bot_id>::with<bot_status>,
    caf::replies_to<config_atom, bot_id>::with<bot>,
    caf::replies_to<install_atom, user_id, bot_id, std::string, std::string,
                    bool>::with<installed_plugin>,
    caf::replies_to<uninstall_atom, user_id, bot_id, std::string>::with<bool>,
    caf::replies_to<plugins_atom, user_id, bot_id>::with<std::vector<installed_plugin>>,
    caf::replies_to<inbound_atom, bot_id, platform_event>::with<platform_ack>,
    caf::reacts_to<activity_atom, bot_id, int64_t, int64_t>,
    caf::reacts_to<online_atom, bot_id, bool>>;

/// The conversations service: routes each request to the conversation's actor, spawning
/// it from storage on demand and passivating it when idle.
///
/// Another user's conversation answers NOT_FOUND, as a missing one.
/// - `create_atom, user_id, conversation` → the stored conversation; the bot must be the
///   user's.
/// - `list_atom, user_id, conversation_query` → a page of the user's conversations.
/// - `find_atom, user_id, conversation_id` → the conversation.
/// - `update_atom, user_id, conversation_id, patch` → the updated conversation; `patch`
///   is the JSON object of `PUT /conversations/{id}` (`title`, `status`, `context`).
/// - `delete_atom, user_id, conversation_id` → true; its messages go too.
/// - `send_atom, user_id, conversation_id, message_draft` → the stored user message and
///   the bot's stored reply. The model is asked while the user message is stored; every
///   answer waits until it is durable, so a model failure answers its error and keeps the
///   user message.
/// - `history_atom, user_id, conversation_id, limit, offset` → a page of messages.
/// - `purge_atom, bot_id` → true once the bot's conversations and messages are deleted.
/// - `subscribe_atom, user_id, conversation_id, subscriber` → true; from then on the
///   subscriber receives a `stream_event` for every piece of every answer of the
///   conversation (whoever sent the message), until it terminates. A conversation with
///   subscribers stays in memory. Subscribing again changes nothing (one subscriber, one
///   copy of each event).
/// - `unsubscribe_atom, conversation_id, subscriber`: the subscriber receives nothing more.
/// - `open_atom, user_id, conversation` → the conversation of the bot's platform chat
///   that the draft names (`bot`, `platform`, `platform_chat_id`): the stored one, or a new
///   one with the draft's title when it has none (or its last one was archived or deleted). The bot
///   must be the user's. Opens of one chat are serialized, so a chat never gets two conversations.
using conversation_manager_actor = caf::typed_actor<
    caf::replies_to<create_atom, user_id, conversation>::with<conversation>,
    caf::replies_to<list_atom, user_id, conversation_query>::with<conversation_page>,
    caf::replies_to<find_atom, user_id, conversation_id>::with<conversation>,
    caf::replies_to<update_atom, user_id, conversation_id, std::string>::with<conversation>,
    caf::replies_to<delete_atom, user_id, conversation_id>::with<bool>,
    caf::replies_to<send_atom, user_id, conversation_id, message_draft>::with<exchange>,
    caf::replies_to<history_atom, user_id, conversation_id, int64_t, int64_t>::with<message_page>,
    caf::replies_to<purge_atom, bot_id>::with<bool>,
    caf::replies_to<subscribe_atom, user_id, conversation_id, stream_subscriber_actor>::with<bool>,
    caf::reacts_to<unsubscribe_atom, conversation_id, stream_subscriber_actor>,
    caf::replies_to<open_atom, user_id, conversation>::with<conversation>>;

} // namespace chatagent::protocol
