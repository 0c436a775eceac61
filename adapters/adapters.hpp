#pragma once

// The platform adapters: one folder per platform, chosen by a bot's `platform_type`.

#include "protocol/json.hpp"
#include "protocol/platform.hpp"

#include <cstddef>
#include <deque>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace chatagent::adapters {

/// A platform's id or text field as text: strings as they are, integers in decimal (chat
/// and user ids come as either); empty for anything else or nothing.
std::string scalar_text(const protocol::json_value* v);

/// The value of header `name` (any case) of a platform's callback; null when absent.
const std::string* find_header(const protocol::platform_event& ev, std::string_view name);

/// For adapters whose platform only POSTs callbacks: the error for anything else (405
/// METHOD_NOT_ALLOWED for another method, 400 for a WebSocket upgrade); none for a POST.
caf::error only_posts(const protocol::platform_event& ev);

/// HMAC-SHA256 of the concatenated `parts` under `key`, in lower-case hex.
std::string hmac_sha256_hex(std::string_view key, std::initializer_list<std::string_view> parts);

/// HMAC-SHA256 of the concatenated `parts` under `key`, in base64.
std::string hmac_sha256_base64(std::string_view key, std::initializer_list<std::string_view> parts);

/// SHA-256 of the concatenated `parts`, in lower-case hex.
std::string sha256_hex(std::initializer_list<std::string_view> parts);

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
bool same_secret(std::string_view a, std::string_view b);

/// The event ids an adapter handled lately: platforms deliver again when unsure, and an
/// event is handled once.
class recent_events {
 public:
  explicit recent_events(size_t capacity = 10000) : capacity_(capacity) {}

  /// True the first time `id` is seen (among the last `capacity` ids).
  bool first_time(const std::string& id) {
    if (!seen_.insert(id).second)
      return false;
    order_.push_back(id);
    if (order_.size() > capacity_) {
      seen_.erase(order_.front());
      order_.pop_front();
    }
    return true;
  }

 private:
  size_t capacity_;
  std::unordered_set<std::string> seen_;
  std::deque<std::string> order_;
};

/// A platform connection an adapter holds, hung up when the adapter ends (the bot
/// stopped): part of its state.
struct peer_link {
  protocol::platform_peer_actor peer;
  peer_link() = default;
  peer_link(const peer_link&) = delete;
  peer_link& operator=(const peer_link&) = delete;
  ~peer_link();
};

/// Which conversation a chat message belongs to: its chat's, or in groups with
/// `per_user` (`platform_config.conversation_scope` = "user") the sender's in that chat.
std::string session_chat_id(const std::string& chat, const std::string& user, bool group,
                            bool per_user);

/// `platform_config.conversation_scope`: "chat" (default: one conversation per chat) or
/// "user" (in groups, one per user in the chat); true for "user", an error otherwise.
caf::expected<bool> per_user_scope(const protocol::json_value& config);

/// A bot's `platform_config` as a JSON object; VALIDATION_ERROR otherwise.
caf::expected<protocol::json_value> platform_config(const protocol::bot& b);

/// `platform_config.api_base_url`, or `fallback` (the platform's own), without a trailing
/// '/'; VALIDATION_ERROR naming the field when it is not an http(s) URL.
caf::expected<std::string> api_base_url(const protocol::json_value& config, std::string fallback);

/// `text` without the spaces, tabs and line breaks around it.
std::string trimmed(std::string_view text);

/// For `reply_surface::failed`: counts the failure in the bot's `error_count`.
std::function<void(const std::string&)> count_failure(const protocol::platform_services& services,
                                                      const protocol::bot_id& bot);

/// Starts the adapter of a bot's platform (see `protocol::adapter_factory`); adapters
/// that connect to their platform over WebSocket dial through `websocket`. Platforms
/// without an adapter yet get none: their bots run offline (`is_online` false).
protocol::adapter_factory make_adapter_factory(protocol::ws_dialer_actor websocket);

} // namespace chatagent::adapters
