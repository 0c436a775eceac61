#include "adapters/adapters.hpp"

#include "adapters/dingtalk/dingtalk_adapter.hpp"
#include "adapters/discord/discord_adapter.hpp"
#include "adapters/lark/lark_adapter.hpp"
#include "adapters/onebot/onebot_adapter.hpp"
#include "adapters/slack/slack_adapter.hpp"
#include "adapters/telegram/telegram_adapter.hpp"
#include "adapters/webhook/webhook_adapter.hpp"
#include "adapters/wecom/wecom_adapter.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <caf/send.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

namespace chatagent::adapters {

using namespace protocol;

std::string scalar_text(const json_value* v) {
  if (v == nullptr)
    return {};
  if (v->is_string())
    return v->as_string();
  if (v->is_integer())
    return std::to_string(v->as_int());
  return {};
}

const std::string* find_header(const platform_event& ev, std::string_view name) {
  for (auto& [k, v] : ev.headers)
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        }))
      return &v;
  return nullptr;
}

namespace {

std::array<unsigned char, crypto_auth_hmacsha256_BYTES>
hmac_sha256(std::string_view key, std::initializer_list<std::string_view> parts) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  for (auto part : parts)
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(part.data()),
                                  part.size());
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac;
  crypto_auth_hmacsha256_final(&st, mac.data());
  return mac;
}

std::string hex(const unsigned char* data, size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 15]);
  }
  return out;
}

} // namespace

std::string hmac_sha256_hex(std::string_view key, std::initializer_list<std::string_view> parts) {
  auto mac = hmac_sha256(key, parts);
  return hex(mac.data(), mac.size());
}

std::string hmac_sha256_base64(std::string_view key,
                               std::initializer_list<std::string_view> parts) {
  auto mac = hmac_sha256(key, parts);
  std::string out(sodium_base64_ENCODED_LEN(mac.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), mac.data(), mac.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.find('\0'));
  return out;
}

std::string sha256_hex(std::initializer_list<std::string_view> parts) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  for (auto part : parts)
    crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(part.data()),
                              part.size());
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, digest);
  return hex(digest, sizeof(digest));
}

bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

peer_link::~peer_link() {
  if (peer)
    caf::anon_send(peer, hangup_atom::value, std::string{"the bot stopped"});
}

caf::expected<json_value> platform_config(const bot& b) {
  auto doc = parse_json(b.platform_config);
  if (!doc || !doc->is_object())
    return api_error(errc::validation_error, "platform_config must be a JSON object",
                     "platform_config", "invalid");
  return std::move(*doc);
}

caf::expected<std::string> api_base_url(const json_value& config, std::string fallback) {
  auto url = scalar_text(config.find("api_base_url"));
  if (url.empty())
    url = std::move(fallback);
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  if (auto why = check_http_url(url); !why.empty())
    return api_error(errc::validation_error, "platform_config.api_base_url " + why,
                     "platform_config.api_base_url", "invalid");
  return url;
}

std::string trimmed(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    return {};
  auto last = text.find_last_not_of(" \t\r\n");
  return std::string{text.substr(first, last - first + 1)};
}

caf::error only_posts(const platform_event& ev) {
  if (ev.kind != platform_event::callback)
    return api_error(errc::validation_error,
                     "this platform calls with HTTP POST, not over a WebSocket");
  if (ev.method != "POST")
    return api_error(errc::method_not_allowed,
                     "this platform's callbacks are HTTP POST, not " + ev.method);
  return caf::none;
}

std::function<void(const std::string&)> count_failure(const platform_services& services,
                                                      const bot_id& bot) {
  return [bots = services.bots, bot](const std::string&) {
    caf::anon_send(bots, activity_atom::value, bot, int64_t{0}, int64_t{1});
  };
}

std::string session_chat_id(const std::string& chat, const std::string& user, bool group,
                            bool per_user) {
  return group && per_user && !user.empty() ? chat + "/" + user : chat;
}

caf::expected<bool> per_user_scope(const json_value& config) {
  auto v = config.find("conversation_scope");
  if (v == nullptr || v->is_null())
    return false;
  if (v->is_string() && (v->as_string() == "chat" || v->as_string() == "user"))
    return v->as_string() == "user";
  return api_error(errc::validation_error,
                   "platform_config.conversation_scope must be \"chat\" (one conversation per "
                   "chat) or \"user\" (in groups, one per user in the chat)",
                   "platform_config.conversation_scope", "invalid");
}

adapter_factory make_adapter_factory(ws_dialer_actor websocket) {
  return [websocket](caf::actor_system& sys, const bot& b,
                     const platform_services& given) -> caf::expected<adapter_actor> {
    auto services = given;
    services.websocket = websocket;
    if (b.platform_type == "web")
      return adapter_actor{};
    if (b.platform_type == "webhook")
      return spawn_webhook_adapter(sys, b, services);
    if (b.platform_type == "telegram")
      return spawn_telegram_adapter(sys, b, services);
    if (b.platform_type == "slack")
      return spawn_slack_adapter(sys, b, services);
    if (b.platform_type == "discord")
      return spawn_discord_adapter(sys, b, services);
    if (b.platform_type == "lark" || b.platform_type == "feishu")
      return spawn_lark_adapter(sys, b, services);
    if (b.platform_type == "dingtalk")
      return spawn_dingtalk_adapter(sys, b, services);
    if (b.platform_type == "wecom")
      return spawn_wecom_adapter(sys, b, services);
    if (b.platform_type == "onebot" || b.platform_type == "qq")
      return spawn_onebot_adapter(sys, b, services);
    // Not connected yet: the bot runs (the API can use it) but stays offline.
    spdlog::warn("bot {}: the {} platform has no adapter in this version yet; the bot runs "
                 "offline",
                 b.id.value, b.platform_type);
    return adapter_actor{};
  };
}

} // namespace chatagent::adapters
