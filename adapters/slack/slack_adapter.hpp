#pragma once

// Slack through the Events API (https://api.slack.com/apis/events-api) and the Web API.
//
// Slack calls `POST /api/v1/webhooks/{bot_id}` (the app's Request URL for events and for
// slash commands); every request must carry a valid `X-Slack-Signature`
// (`v0=<hex HMAC-SHA256(signing_secret, "v0:" + X-Slack-Request-Timestamp + ":" + body)>`)
// made within 5 minutes. `url_verification` is answered with its challenge; redelivered
// events (same `event_id`) are handled once.
// The bot answers direct messages (`message` events in `im` channels), mentions
// (`app_mention`) and, in channels, messages starting with the optional prefix; its own
// and other bots' messages are ignored. In channels it answers in the message's thread.
// Answers stream: `chat.postMessage` with the first piece, then `chat.update` at most once
// a second; long answers continue in further messages. Commands: `/help` and `/reset` as
// message text or as slash commands.
// `auth.test` at start tells the bot's user id (and whether the token works: `is_online`).
//
// `platform_config`: `bot_token` (xoxb-…, required), `signing_secret` (required),
// `api_base_url` (default https://slack.com/api), `prefix`, `conversation_scope`.

#include "protocol/inbound_message.hpp"
#include "protocol/platform.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

namespace chatagent::adapters {

/// `v0=<hex HMAC-SHA256(signing_secret, "v0:" + timestamp + ":" + body)>`, as Slack signs.
std::string slack_signature(std::string_view signing_secret, std::string_view timestamp,
                            std::string_view body);

/// A message's `text` as segments: Slack's markup read (`<@U1>` mentions, `<!here>`
/// mention-all, `<#C1|general>` as "#general", `<url|label>` as "label (url)") and its
/// escapes (`&lt;` `&gt;` `&amp;`) undone in the words.
std::vector<protocol::message_segment> slack_segments(std::string_view text);

/// Starts the adapter of bot `b`; VALIDATION_ERROR naming the field when its
/// `platform_config` lacks `bot_token` or `signing_secret` or has an invalid URL.
caf::expected<protocol::adapter_actor>
spawn_slack_adapter(caf::actor_system& sys, const protocol::bot& b,
                    const protocol::platform_services& services);

} // namespace chatagent::adapters
