#pragma once

// Discord through the Gateway (https://discord.com/developers/docs/events/gateway) and the
// REST API, v10.
//
// `GET /gateway/bot` gives the gateway's URL; the adapter connects, answers Hello with
// Identify (intents: guild messages, direct messages, message content), heartbeats at the
// interval Hello sets (a missed ACK means a dead connection: it reconnects), and after a
// lost connection Resumes its session at `resume_gateway_url` with the last sequence
// number (or identifies anew when Discord invalidates the session). Close codes that no
// retry can fix (4004 authentication failed, 4013/4014 intents) stop the reconnects and
// leave the bot offline with the error counted.
// `MESSAGE_CREATE`: direct messages are answered; in servers, messages that mention the
// bot, reply to it or start with the prefix. Other bots are ignored. Answers stream:
// `POST /channels/{id}/messages` (a reply to the question) with the first piece, then
// `PATCH` at most once a second; 2000 characters per message. Commands: /help, /reset.
//
// `platform_config`: `token` (the bot token, required), `api_base_url` (default
// https://discord.com/api/v10), `prefix`, `conversation_scope`.

#include "protocol/platform.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

namespace chatagent::adapters {

/// Starts the adapter of bot `b`; VALIDATION_ERROR naming the field when its
/// `platform_config` cannot work.
caf::expected<protocol::adapter_actor>
spawn_discord_adapter(caf::actor_system& sys, const protocol::bot& b,
                      const protocol::platform_services& services);

} // namespace chatagent::adapters
