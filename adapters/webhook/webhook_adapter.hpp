#pragma once

// The generic `webhook` platform: any service that can sign and send an HTTP POST.
//
// Inbound: `POST /api/v1/webhooks/{bot_id}` with a JSON event
//   {"event_id", "chat_id", "text", "user_id", "user_name", "chat_type": "private"|"group",
//    "mentioned": bool}
// and the headers `X-ChatAgent-Timestamp: <unix seconds>` and
// `X-ChatAgent-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
// Outbound: the answer is POSTed to `platform_config.webhook_url`, signed the same way:
//   {"type": "reply", "bot_id", "chat_id", "conversation_id", "message_id", "in_reply_to",
//    "text", "timestamp"} (or "type": "error" with "error" when the answer failed).
// Commands: `/help`, and `/reset` (archives the chat's conversation: the next message
// starts a new one).

#include "protocol/platform.hpp"

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

namespace chatagent::adapters {

/// `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body);

/// Starts the adapter of bot `b`; VALIDATION_ERROR when its `platform_config` lacks a
/// valid `webhook_url` or a `secret` of at least 16 characters.
caf::expected<protocol::adapter_actor>
spawn_webhook_adapter(caf::actor_system& sys, const protocol::bot& b,
                      const protocol::platform_services& services);

} // namespace chatagent::adapters
