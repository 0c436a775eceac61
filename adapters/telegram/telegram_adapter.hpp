#pragma once

// Telegram through the Bot API (https://core.telegram.org/bots/api), long polling:
// `getMe` once, then `getUpdates` (25 s long polls, offset past the last update, so an
// update is handled once). Answers stream into one message (replying to the message in
// groups): `sendMessage` with the first piece, then `editMessageText` at most once a
// second until the answer is complete.
// In groups the bot answers when mentioned (@username), replied to, or addressed by the
// optional prefix. Commands: /start and /help, /reset (a new conversation for the chat).
//
// `platform_config`: `token` (required, from @BotFather), `api_base_url` (default
// https://api.telegram.org; tests point it at a fake), `prefix` (optional).

#include "protocol/platform.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

namespace chatagent::adapters {

/// Starts the adapter of bot `b`; VALIDATION_ERROR when its `platform_config` has no
/// `token` or an invalid `api_base_url`.
caf::expected<protocol::adapter_actor>
spawn_telegram_adapter(caf::actor_system& sys, const protocol::bot& b,
                       const protocol::platform_services& services);

} // namespace chatagent::adapters
