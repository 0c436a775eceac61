#pragma once

// WeCom (企业微信) self-built apps: message callbacks and the message API.
//
// The app's receive-message URL is `/api/v1/webhooks/{bot_id}`. WeCom verifies it with a
// GET (`msg_signature`, `timestamp`, `nonce`, `echostr`) answered with the decrypted
// echostr, then POSTs each message as XML whose `Encrypt` field is
// AES-256-CBC(key = base64(encoding_aes_key + "="), iv = its first 16 bytes) of
// random(16) + length(4, big-endian) + message XML + corp_id, signed by
// `msg_signature` = hex SHA-1 of the sorted token, timestamp, nonce and ciphertext.
// Text messages are answered through `/cgi-bin/message/send` (to the user, as the app's
// agent) with an access_token from `/cgi-bin/gettoken`, renewed before it expires;
// answers are sent once complete, split beyond 2000 bytes. Redelivered `MsgId`s are
// handled once. /help, /reset.
//
// `platform_config`: `corp_id`, `agent_id`, `secret`, `token`, `encoding_aes_key` (43
// characters) (all required), `api_base_url` (default https://qyapi.weixin.qq.com).

#include "protocol/platform.hpp"

#include <optional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

namespace chatagent::adapters {

/// The hex SHA-1 of `token`, `timestamp`, `nonce` and `encrypted`, sorted and joined.
std::string wecom_signature(std::string_view token, std::string_view timestamp,
                            std::string_view nonce, std::string_view encrypted);

/// The message inside `encrypted` when it decrypts with `encoding_aes_key` and was meant
/// for `corp_id`.
std::optional<std::string> wecom_decrypt(std::string_view encoding_aes_key,
                                         std::string_view corp_id, std::string_view encrypted);

/// The text of element `tag` of a flat XML document (CDATA or plain); empty if absent.
std::string xml_element(std::string_view xml, std::string_view tag);

/// Starts the adapter of bot `b`; VALIDATION_ERROR naming the field when its
/// `platform_config` cannot work.
caf::expected<protocol::adapter_actor>
spawn_wecom_adapter(caf::actor_system& sys, const protocol::bot& b,
                    const protocol::platform_services& services);

} // namespace chatagent::adapters
