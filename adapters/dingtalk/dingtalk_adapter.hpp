#pragma once

// DingTalk (钉钉) robots of internal apps, HTTP callback mode.
//
// DingTalk POSTs each message to `POST /api/v1/webhooks/{bot_id}` with the headers
// `timestamp` (ms) and `sign` = base64(HMAC-SHA256(app_secret, timestamp + "\n" +
// app_secret)), within an hour of now. Private chats (`conversationType` "1") and group
// messages that @ the robot ("2"; DingTalk forwards only those) are answered by POSTing to
// the message's `sessionWebhook`, which must lie under `api_base_url` (DingTalk's own
// host: the URL comes from the request). Answers are sent once complete, split when long;
// `@` of the asker in groups. Redelivered `msgId`s are handled once. /help, /reset.
//
// `platform_config`: `app_secret` (required), `app_key` (optional, for reference),
// `api_base_url` (default https://oapi.dingtalk.com), `conversation_scope`.

#include "protocol/platform.hpp"

#include <string>
#include <string_view>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

namespace chatagent::adapters {

/// base64(HMAC-SHA256(app_secret, timestamp + "\n" + app_secret)), as DingTalk signs.
std::string dingtalk_signature(std::string_view app_secret, std::string_view timestamp);

/// Starts the adapter of bot `b`; VALIDATION_ERROR naming the field when its
/// `platform_config` cannot work.
caf::expected<protocol::adapter_actor>
spawn_dingtalk_adapter(caf::actor_system& sys, const protocol::bot& b,
                       const protocol::platform_services& services);

} // namespace chatagent::adapters
