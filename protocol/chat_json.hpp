#pragma once

// The chat API's JSON: how bots, conversations and messages look in responses, and how
// request bodies become records (validated, and merged for updates).

#include "protocol/chat.hpp"
#include "protocol/json.hpp"

#include <string>
#include <string_view>

#include <caf/error.hpp>

namespace chatagent::protocol {

/// Limits of chat fields, shared by validation and documentation.
struct chat_limits {
  static constexpr size_t bot_name_max = 100;
  static constexpr size_t description_max = 2000;
  static constexpr size_t url_max = 2048;
  static constexpr size_t model_max = 200;
  static constexpr size_t secret_max = 4096;
  static constexpr size_t system_prompt_max = 32000;
  static constexpr int64_t max_tokens_max = 200000;
  static constexpr int64_t context_tokens_min = 256;
  static constexpr int64_t context_tokens_max = 2000000;
  static constexpr size_t id_list_max = 100;
  static constexpr size_t title_max = 200;
  static constexpr size_t chat_id_max = 256;
  static constexpr size_t content_max = 32000;
  static constexpr size_t object_text_max = 16384; // platform_config, context, metadata
  static constexpr int64_t page_max = 100;
};

/// The platforms a bot can live on (`platform_type`, a conversation's `platform`).
bool is_known_platform(std::string_view name) noexcept;

/// The LLM providers a bot can use (`llm_config.provider`).
bool is_known_provider(std::string_view name) noexcept;

/// True for `platform_config` members that hold credentials: stored, never shown.
bool is_secret_key(std::string_view key) noexcept;

/// Empty when `s` is an absolute http(s) URL with a host, else the reason it is not.
std::string check_http_url(std::string_view s);

/// Applies the members of a `POST /bots/` (`creating`) or `PUT /bots/{id}` body to `b`:
/// members that are absent keep their values, `llm_config` and `platform_config` merge
/// member by member. VALIDATION_ERROR names the first bad field (`llm_config.temperature`).
caf::error apply_bot_json(bot& b, const json_value& body, bool creating);

/// Applies a `POST /conversations/` (`creating`) or `PUT /conversations/{id}` body.
caf::error apply_conversation_json(conversation& c, const json_value& body, bool creating);

/// Reads a `POST /conversations/{id}/messages` body (or a WebSocket `user_message`).
caf::error read_message_draft(message_draft& d, const json_value& body);

/// A bot as the API shows it: no secrets. `summary` is the list view.
void write_bot(json_writer& w, const bot& b, bool summary);

void write_bot_status(json_writer& w, const bot_status& s);

void write_conversation(json_writer& w, const conversation& c);

void write_message(json_writer& w, const chat_message& m);

} // namespace chatagent::protocol
