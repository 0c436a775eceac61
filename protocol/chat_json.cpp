#include "protocol/chat_json.hpp"

#include "protocol/error.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/plugin_json.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace chatagent::protocol {

using namespace fields;

namespace {

constexpr std::array<std::string_view, 12> platforms{"web",      "telegram", "slack",   "discord",
                                                     "qq",       "onebot",   "lark",    "feishu",
                                                     "dingtalk", "wecom",    "webhook", "wechat"};

constexpr std::array<std::string_view, 10> providers{
    "local",    "openai",   "openai_compatible", "deepseek", "vllm",
    "llamacpp", "lmstudio", "anthropic",         "ollama",   "azure_openai"};

caf::error apply_llm_json(llm_config& c, const json_value& obj) {
  std::string provider = c.provider;
  if (auto err = read_text(obj, "provider", "llm_config.provider", 1, 64, provider))
    return err;
  if (!is_known_provider(provider))
    return bad("llm_config.provider",
               "is not a known provider (local, openai, openai_compatible, deepseek, vllm, "
               "llamacpp, lmstudio, anthropic, ollama, azure_openai)");
  std::string base_url = c.base_url;
  bool url_sent = false;
  if (auto err = read_text(obj, "base_url", "llm_config.base_url", 0, chat_limits::url_max,
                           base_url, url_sent))
    return err;
  if (url_sent && !base_url.empty())
    if (auto why = check_http_url(base_url); !why.empty())
      return bad("llm_config.base_url", why);
  llm_config next = c;
  next.provider = std::move(provider);
  next.base_url = std::move(base_url);
  for (auto err : {
           read_text(obj, "model", "llm_config.model", 0, chat_limits::model_max, next.model),
           read_text(obj, "api_key", "llm_config.api_key", 0, chat_limits::secret_max,
                     next.api_key),
           read_number(obj, "temperature", "llm_config.temperature", 0.0, 2.0, next.temperature),
           read_integer(obj, "max_tokens", "llm_config.max_tokens", 1, chat_limits::max_tokens_max,
                        next.max_tokens),
           read_text(obj, "system_prompt", "llm_config.system_prompt", 0,
                     chat_limits::system_prompt_max, next.system_prompt),
           read_integer(obj, "context_tokens", "llm_config.context_tokens",
                        chat_limits::context_tokens_min, chat_limits::context_tokens_max,
                        next.context_tokens),
       })
    if (err)
      return err;
  c = std::move(next);
  return caf::none;
}

} // namespace

bool is_known_platform(std::string_view name) noexcept {
  return std::find(platforms.begin(), platforms.end(), name) != platforms.end();
}

bool is_known_provider(std::string_view name) noexcept {
  return std::find(providers.begin(), providers.end(), name) != providers.end();
}

bool is_secret_key(std::string_view key) noexcept {
  auto k = to_lower_ascii(key);
  for (std::string_view word : {"secret", "token", "password", "api_key", "apikey", "aes_key",
                                "encrypt_key", "private_key", "credential"})
    if (k.find(word) != std::string::npos)
      return true;
  return false;
}

std::string check_http_url(std::string_view s) {
  std::string_view rest;
  if (s.starts_with("http://"))
    rest = s.substr(7);
  else if (s.starts_with("https://"))
    rest = s.substr(8);
  else
    return "must be an http:// or https:// URL";
  if (s.size() > chat_limits::url_max)
    return "must be at most " + std::to_string(chat_limits::url_max) + " characters";
  for (unsigned char c : s)
    if (c <= 0x20 || c == 0x7F)
      return "must not contain spaces or control characters";
  auto host_end = rest.find_first_of("/?#");
  auto authority = rest.substr(0, host_end);
  if (auto at = authority.rfind('@'); at != std::string_view::npos)
    authority = authority.substr(at + 1);
  auto host = authority;
  if (host.starts_with('[')) {
    auto close = host.find(']');
    if (close == std::string_view::npos)
      return "has a malformed host";
    host = host.substr(0, close + 1);
  } else if (auto colon = host.find(':'); colon != std::string_view::npos) {
    auto port = host.substr(colon + 1);
    host = host.substr(0, colon);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string{port}) > 65535)
      return "has an invalid port";
  }
  if (host.empty())
    return "must name a host";
  return {};
}

caf::error apply_bot_json(bot& b, const json_value& body, bool creating) {
  bot next = b;
  for (auto err : {
           read_text(body, "name", "name", 1, chat_limits::bot_name_max, next.name),
           read_text(body, "description", "description", 0, chat_limits::description_max,
                     next.description),
           read_text(body, "avatar_url", "avatar_url", 0, chat_limits::url_max, next.avatar_url),
           read_text(body, "platform_type", "platform_type", 1, 32, next.platform_type),
           merge_object(body, "platform_config", "platform_config", chat_limits::object_text_max,
                        next.platform_config),
           read_id_list(body, "knowledge_base_ids", chat_limits::id_list_max,
                        next.knowledge_base_ids),
       })
    if (err)
      return err;
  // Plugins named here keep their installation; new ones are installed with their defaults
  // by the bots service, which knows the registry.
  if (auto v = body.find("plugins"); v != nullptr && !v->is_null()) {
    std::vector<std::string> ids;
    if (auto err = read_id_list(body, "plugins", chat_limits::id_list_max, ids))
      return err;
    std::vector<plugin_install> installs;
    for (auto& id : ids) {
      if (auto err = check_plugin_id(id))
        return bad("plugins", "names '" + id + "', which is not a plugin id");
      auto old = std::find_if(b.plugins.begin(), b.plugins.end(),
                              [&](const plugin_install& p) { return p.plugin_id == id; });
      if (old != b.plugins.end()) {
        installs.push_back(*old);
      } else {
        plugin_install fresh;
        fresh.plugin_id = id;
        installs.push_back(std::move(fresh));
      }
    }
    next.plugins = std::move(installs);
  }
  if (creating && next.name.empty())
    return bad("name", "is required");
  if (!next.avatar_url.empty() && next.avatar_url != b.avatar_url)
    if (auto why = check_http_url(next.avatar_url); !why.empty())
      return bad("avatar_url", why);
  if (!is_known_platform(next.platform_type))
    return bad("platform_type", "is not a known platform (web, telegram, slack, discord, qq, "
                                "onebot, lark, feishu, dingtalk, wecom, webhook, wechat)");
  if (auto v = body.find("llm_config"); v != nullptr && !v->is_null()) {
    if (!v->is_object())
      return wrong_type("llm_config", *v, "an object");
    if (auto err = apply_llm_json(next.llm, *v))
      return err;
  }
  b = std::move(next);
  return caf::none;
}

caf::error apply_conversation_json(conversation& c, const json_value& body, bool creating) {
  conversation next = c;
  std::string bot;
  for (auto err : {
           read_text(body, "title", "title", 0, chat_limits::title_max, next.title),
           read_text(body, "status", "status", 1, 16, next.status),
           read_object(body, "context", "context", chat_limits::object_text_max, next.context),
       })
    if (err)
      return err;
  if (next.status != "active" && next.status != "archived")
    return bad("status", "must be active or archived");
  if (creating) {
    for (auto err : {
             read_text(body, "bot_id", "bot_id", 1, 64, bot),
             read_text(body, "platform", "platform", 1, 32, next.platform),
             read_text(body, "platform_chat_id", "platform_chat_id", 0, chat_limits::chat_id_max,
                       next.platform_chat_id),
         })
      if (err)
        return err;
    if (bot.empty())
      return bad("bot_id", "is required");
    if (!is_known_platform(next.platform))
      return bad("platform", "is not a known platform");
    next.bot = bot_id{std::move(bot)};
  }
  c = std::move(next);
  return caf::none;
}

caf::error read_message_draft(message_draft& d, const json_value& body) {
  message_draft next;
  bool present = false;
  if (auto err =
          read_text(body, "content", "content", 1, chat_limits::content_max, next.content, present))
    return err;
  if (!present)
    return bad("content", "is required");
  if (next.content.find_first_not_of(" \t\r\n") == std::string::npos)
    return bad("content", "must not be blank");
  if (auto err = read_text(body, "message_type", "message_type", 1, 16, next.message_type))
    return err;
  if (next.message_type != "text")
    return bad("message_type", "must be text (files go through the file processing API)");
  if (auto err =
          read_object(body, "metadata", "metadata", chat_limits::object_text_max, next.metadata))
    return err;
  d = std::move(next);
  return caf::none;
}

void write_bot(json_writer& w, const bot& b, bool summary) {
  w.begin_object()
      .member("id", b.id.value)
      .member("name", b.name)
      .member("description", b.description)
      .member("avatar_url", b.avatar_url)
      .member("user_id", b.owner.value)
      .member("platform_type", b.platform_type)
      .member("is_active", b.is_active);
  if (!summary) {
    w.key("platform_config").begin_object();
    if (auto cfg = parse_json(b.platform_config); cfg && cfg->is_object())
      for (auto& [key, value] : cfg->as_object())
        if (!is_secret_key(key))
          w.member(key, value);
    w.end_object();
    w.key("llm_config")
        .begin_object()
        .member("provider", b.llm.provider)
        .member("model", b.llm.model)
        .member("base_url", b.llm.base_url)
        .member("temperature", b.llm.temperature)
        .member("max_tokens", b.llm.max_tokens)
        .member("system_prompt", b.llm.system_prompt)
        .member("context_tokens", b.llm.context_tokens)
        .member("has_api_key", !b.llm.api_key.empty())
        .end_object();
  }
  w.key("knowledge_base_ids").begin_array();
  for (auto& id : b.knowledge_base_ids)
    w.value(id);
  w.end_array().key("plugins").begin_array();
  for (auto& p : b.plugins)
    w.value(p.plugin_id);
  w.end_array();
  w.member("created_at", format_time(b.created_at_ms))
      .member("updated_at", format_time(b.updated_at_ms))
      .end_object();
}

namespace {

void time_or_null(json_writer& w, std::string_view key, int64_t ms) {
  w.key(key);
  if (ms > 0)
    w.value(format_time(ms));
  else
    w.null();
}

} // namespace

void write_bot_status(json_writer& w, const bot_status& s) {
  w.begin_object()
      .member("bot_id", s.id.value)
      .member("is_running", s.is_running)
      .member("is_online", s.is_online);
  time_or_null(w, "start_time", s.start_time_ms);
  w.member("message_count", s.message_count).member("error_count", s.error_count);
  time_or_null(w, "last_activity", s.last_activity_ms);
  w.end_object();
}

void write_conversation(json_writer& w, const conversation& c) {
  w.begin_object()
      .member("id", c.id.value)
      .member("user_id", c.owner.value)
      .member("bot_id", c.bot.value)
      .member("title", c.title)
      .member("platform", c.platform)
      .member("platform_chat_id", c.platform_chat_id)
      .member("status", c.status);
  w.key("context").raw(c.context);
  w.member("message_count", c.message_count);
  time_or_null(w, "last_message_at", c.last_message_at_ms);
  w.member("created_at", format_time(c.created_at_ms))
      .member("updated_at", format_time(c.updated_at_ms))
      .end_object();
}

void write_message(json_writer& w, const chat_message& m) {
  w.begin_object()
      .member("id", m.id.value)
      .member("conversation_id", m.conversation.value)
      .member("content", m.content)
      .member("message_type", m.message_type)
      .member("sender_type", m.sender_type)
      .member("sender_id", m.sender_id);
  w.key("metadata").raw(m.metadata);
  w.member("created_at", format_time(m.created_at_ms)).end_object();
}

} // namespace chatagent::protocol
