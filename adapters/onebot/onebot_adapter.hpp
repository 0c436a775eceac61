#pragma once

// QQ through OneBot v11 implementations (NapCat, Lagrange.OneBot, LLOneBot, go-cqhttp),
// over one Universal WebSocket, either
// - reverse: the implementation connects to `ws(s)://<server>/api/v1/webhooks/{bot_id}`
//   with `Authorization: Bearer <access_token>` (or `Token <access_token>`) and
//   `X-Self-ID`; or
// - forward (`ws_url`): the server connects to the implementation's WebSocket server
//   (with the access token, when set), and reconnects with backoff when it drops.
// Events arrive as frames (`post_type` message / meta_event / notice / request); actions
// (`send_private_msg`, `send_group_msg`) go back over the same connection, each with an
// `echo` that its response carries.
// Messages come as arrays of segments or as CQ-code strings (`[CQ:at,qq=123] hi`); the
// bot answers private messages, and in groups when @-mentioned or addressed by the
// prefix, replying to the message. QQ cannot edit a sent message: an answer is sent once
// complete, long ones split into several messages. Commands: /help, /reset.
//
// `platform_config`: `ws_url` (forward), `access_token` (required for the reverse
// WebSocket: at least 8 characters), `prefix`, `conversation_scope`.

#include "protocol/platform.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

namespace chatagent::protocol {
class json_value;
}

namespace chatagent::adapters {

/// One segment of a OneBot message: `text` (data `text`), `at` (`qq`), `reply` (`id`),
/// `image` (`file`, `url`), `face`, `record`, `file`, ...
struct onebot_segment {
  std::string type;
  std::vector<std::pair<std::string, std::string>> data;

  /// The value of data field `key`; empty when absent.
  std::string get(std::string_view key) const;
};

/// The segments of a message in CQ-code form (`hi [CQ:at,qq=123]`), unescaped
/// (`&amp;` `&#91;` `&#93;` `&#44;`).
std::vector<onebot_segment> parse_cq_message(std::string_view text);

/// The segments of an event's `message`: an array of `{"type", "data"}` or a CQ string.
std::vector<onebot_segment> onebot_segments(const protocol::json_value& message);

/// Starts the adapter of bot `b`; VALIDATION_ERROR naming the field when its
/// `platform_config` cannot work.
caf::expected<protocol::adapter_actor>
spawn_onebot_adapter(caf::actor_system& sys, const protocol::bot& b,
                     const protocol::platform_services& services);

} // namespace chatagent::adapters
