#pragma once

// Lark / Feishu (飞书) through event subscriptions (v2.0 events) and the Open API.
//
// The app's event Request URL is `POST /api/v1/webhooks/{bot_id}`. With an Encrypt Key
// the body is `{"encrypt": base64(iv + AES-256-CBC(SHA-256(encrypt_key), event))}` and the
// request is signed (`X-Lark-Signature` = hex SHA-256 of timestamp + nonce + encrypt_key +
// body); the Verification Token in each event must match. `url_verification` is answered
// with its challenge; redelivered events (same `event_id`) are handled once.
// `im.message.receive_v1`: private (p2p) chats are answered; in groups, messages that @
// the bot or start with the prefix. Answers are replies to the question
// (`/im/v1/messages/{id}/reply`), sent once complete and split when long; the
// tenant_access_token is fetched with the app's id and secret and renewed before it
// expires. Commands: /help, /reset.
//
// `platform_config`: `app_id`, `app_secret` (required), `verification_token`,
// `encrypt_key`, `api_base_url` (default https://open.feishu.cn/open-apis; Lark:
// https://open.larksuite.com/open-apis), `prefix`, `conversation_scope`.

#include "protocol/platform.hpp"

#include <optional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

namespace chatagent::adapters {

/// The event inside a Lark `encrypt` field; nullopt when it does not decrypt.
std::optional<std::string> lark_decrypt(std::string_view encrypt_key, std::string_view encrypted);

/// Starts the adapter of bot `b`; VALIDATION_ERROR naming the field when its
/// `platform_config` cannot work.
caf::expected<protocol::adapter_actor>
spawn_lark_adapter(caf::actor_system& sys, const protocol::bot& b,
                   const protocol::platform_services& services);

} // namespace chatagent::adapters
