#include "adapters/telegram/telegram_adapter.hpp"

#include "adapters/adapters.hpp"
#include "adapters/chat_streams.hpp"
#include "adapters/inbound.hpp"
#include "adapters/live_reply.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/json.hpp"
#include "protocol/time.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::adapters {

using namespace protocol;

namespace {

using poll_atom = caf::atom_constant<caf::atom("poll")>;
using hello_atom = caf::atom_constant<caf::atom("hello")>;

constexpr int64_t long_poll_s = 25;
constexpr int64_t max_message = 4096; // Telegram's limit for one message's text

struct settings {
  std::string api;         // <api_base>/bot<token>
  addressing addr;         // prefix, per_user
  std::string webhook_url; // webhook mode: where Telegram posts updates (else long polling)
  std::string secret;      // webhook mode: the X-Telegram-Bot-Api-Secret-Token expected
};

struct adapter_state {
  adapter_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  chat_streams streams;
  int64_t offset = 0;   // the next update wanted
  addressing addr;      // self_id: the bot's Telegram user id (getMe)
  std::string username; // the bot's @username, without the @
  int failures = 0;     // consecutive failed polls
  recent_events seen;   // webhook mode: update ids handled (Telegram delivers again)
};

/// `hello_atom`: asks getMe (again); `poll_atom`: the next long poll; `stream_event`: a
/// piece of an answer of a conversation it subscribed to.
using telegram_actor = adapter_actor::extend<caf::reacts_to<hello_atom>, caf::reacts_to<poll_atom>,
                                             caf::reacts_to<stream_event>>;

int64_t num(const json_value* v) {
  return v != nullptr && v->is_integer() ? v->as_int() : 0;
}

/// The `result` of a Bot API call that succeeded (HTTP 200, `"ok": true`); none otherwise.
std::optional<json_value> api_result(const outbound_response& res) {
  auto doc = parse_json(res.body);
  if (res.status != 200 || !doc || !doc->is_object())
    return std::nullopt;
  auto ok = doc->find("ok");
  auto result = doc->find("result");
  if (ok == nullptr || !ok->is_bool() || !ok->as_bool() || result == nullptr)
    return std::nullopt;
  return *result;
}

std::chrono::milliseconds backoff(int failures) {
  // 0.5 s after the first failure, doubling to 30 s.
  return std::chrono::milliseconds(
      std::min<int64_t>(30000, 500LL << std::clamp(failures - 1, 0, 6)));
}

telegram_actor::behavior_type adapter_impl(telegram_actor::stateful_pointer<adapter_state> self,
                                           bot b, settings cfg, platform_services services) {
  auto call = [cfg](std::string method, std::string body, int64_t timeout_ms) {
    outbound_request r;
    r.method = "POST";
    r.url = cfg.api + "/" + method;
    r.headers = {"Content-Type: application/json"};
    r.body = std::move(body);
    r.timeout_ms = timeout_ms;
    return r;
  };
  // Chat ids are numbers (private and group chats) or @channel names.
  auto chat_member = [](json_writer& w, const std::string& chat) {
    w.key("chat_id");
    if (!chat.empty() && chat.find_first_not_of("-0123456789") == std::string::npos)
      w.raw(chat);
    else
      w.value(chat);
  };
  // An answer in `chat` (replying to message `reply_to`, 0: none): sent with its first
  // piece, then edited as it grows (Telegram allows about one edit a second).
  auto reply_in = [self, b, services, call, chat_member](const std::string& chat,
                                                         int64_t reply_to) {
    reply_surface s;
    s.max_bytes = max_message;
    s.post = [call, chat_member, chat, reply_to](const std::string& text, size_t index) {
      json_writer w;
      w.begin_object();
      chat_member(w, chat);
      w.member("text", text);
      if (reply_to != 0 && index == 0)
        w.member("reply_to_message_id", reply_to).member("allow_sending_without_reply", true);
      w.end_object();
      return call("sendMessage", w.take(), 15000);
    };
    s.posted_id = [](const outbound_response& res) {
      auto doc = parse_json(res.body);
      const json_value* result = doc && doc->is_object() ? doc->find("result") : nullptr;
      auto id = res.status == 200 && result ? num(result->find("message_id")) : 0;
      return id == 0 ? std::string{} : std::to_string(id);
    };
    s.edit = [call, chat_member, chat](const std::string& id, const std::string& text) {
      json_writer w;
      w.begin_object();
      chat_member(w, chat);
      w.key("message_id").raw(id).member("text", text).end_object();
      return call("editMessageText", w.take(), 15000);
    };
    s.failed = count_failure(services, b.id);
    return spawn_live_reply(self->system(), services.http, std::move(s));
  };

  // One message from Telegram.
  // One message from Telegram, in the common form.
  auto on_message = [self, b, services, reply_in](const json_value& msg) {
    auto& st = self->state;
    auto chat = msg.find("chat");
    if (chat == nullptr || !chat->is_object())
      return;
    inbound_message m;
    m.platform = "telegram";
    m.message_id = scalar_text(msg.find("message_id"));
    m.chat_id = scalar_text(chat->find("id"));
    auto chat_type = scalar_text(chat->find("type"));
    m.group = chat_type == "group" || chat_type == "supergroup";
    m.chat_title = scalar_text(chat->find("title"));
    if (auto from = msg.find("from"); from && from->is_object()) {
      m.user_id = scalar_text(from->find("id"));
      m.user_name = scalar_text(from->find("username"));
      if (m.user_name.empty())
        m.user_name = scalar_text(from->find("first_name"));
    }
    if (auto reply = msg.find("reply_to_message"); reply && reply->is_object()) {
      auto author = reply->find("from");
      m.segments.push_back(segment(segment_kind::quote,
                                   author ? scalar_text(author->find("id")) : std::string{},
                                   scalar_text(reply->find("message_id"))));
    }
    // The words (a photo's or a file's are its caption); "@<the bot>" mentions it.
    auto text = scalar_text(msg.find("text"));
    if (text.empty())
      text = scalar_text(msg.find("caption"));
    auto words = token_segments({text_segment(text)}, st.username.empty() ? "" : "@" + st.username,
                                st.addr.self_id, st.username);
    m.segments.insert(m.segments.end(), words.begin(), words.end());
    if (auto photo = msg.find("photo"); photo && photo->is_array() && !photo->as_array().empty())
      m.segments.push_back(
          segment(segment_kind::image, scalar_text(photo->as_array().back().find("file_id"))));
    static constexpr std::pair<const char*, segment_kind> files[] = {
        {"document", segment_kind::file},
        {"voice", segment_kind::voice},
        {"audio", segment_kind::voice},
        {"video", segment_kind::video}};
    for (auto [field, kind] : files)
      if (auto f = msg.find(field); f && f->is_object())
        m.segments.push_back(
            segment(kind, scalar_text(f->find("file_id")), scalar_text(f->find("file_name"))));
    auto title = m.group ? "Telegram group " + m.chat_title +
                               (st.addr.per_user ? " (" + m.user_name + ")" : std::string{})
                         : "Telegram: " + m.user_name;
    auto chat_id = m.chat_id;
    auto reply_to = m.group ? num(msg.find("message_id")) : 0;
    st.streams.deliver(
        self, services, b, m, st.addr, std::move(title),
        [&] { return reply_in(chat_id, reply_to); },
        "Hello! I'm " + b.name + ". Send me a message and I answer." +
            (m.group ? " In this group, mention @" + st.username + " or reply to me."
                     : std::string{}) +
            " /reset starts a new conversation.");
  };
  // getMe or setWebhook refused: offline, counted, asked again later.
  auto failed = [self, b, services](const char* method, const outbound_response& res) {
    auto& st = self->state;
    ++st.failures;
    self->send(services.bots, online_atom::value, b.id, false);
    self->send(services.bots, activity_atom::value, b.id, int64_t{0}, int64_t{1});
    spdlog::warn("telegram bot {}: {} failed ({}), retrying", b.id.value, method,
                 res.status == 0
                     ? res.error
                     : "HTTP " + std::to_string(res.status) + " " + res.body.substr(0, 200));
    self->delayed_send(self, backoff(st.failures), hello_atom::value);
  };
  self->state.addr = cfg.addr;
  self->send(self, hello_atom::value);
  return {
      [self, cfg, on_message](inbound_atom, const platform_event& ev) -> caf::result<platform_ack> {
        if (cfg.webhook_url.empty())
          return api_error(errc::validation_error,
                           "this telegram bot uses long polling (no platform_config.webhook_url): "
                           "Telegram does not call it",
                           "platform_config.webhook_url", "polling");
        if (auto err = only_posts(ev))
          return err;
        auto given = find_header(ev, "X-Telegram-Bot-Api-Secret-Token");
        if (given == nullptr || !same_secret(*given, cfg.secret))
          return api_error(errc::unauthorized, "missing or wrong X-Telegram-Bot-Api-Secret-Token");
        auto update = parse_json(ev.body);
        if (!update || !update->is_object())
          return api_error(errc::validation_error, "the update is not a JSON object", "body",
                           "invalid");
        auto id = scalar_text(update->find("update_id"));
        if (id.empty() || self->state.seen.first_time(id))
          if (auto msg = update->find("message"); msg && msg->is_object())
            on_message(*msg);
        return platform_ack{};
      },
      [self, services](stream_event& ev) { self->state.streams.on_event(self, services, ev); },
      [self, b, cfg, services, call, failed](hello_atom) {
        self->request(services.http, caf::infinite, fetch_atom::value, call("getMe", "{}", 15000))
            .then(
                [self, b, cfg, services, call, failed](outbound_response& res) {
                  auto& st = self->state;
                  auto result = api_result(res);
                  if (!result || !result->is_object())
                    return failed("getMe", res);
                  st.addr.self_id = scalar_text(result->find("id"));
                  st.username = scalar_text(result->find("username"));
                  if (cfg.webhook_url.empty()) {
                    st.failures = 0;
                    self->send(services.bots, online_atom::value, b.id, true);
                    self->send(self, poll_atom::value);
                    return;
                  }
                  // Webhook mode: Telegram posts updates to the callback from now on (those
                  // that waited while the bot was stopped included).
                  json_writer w;
                  w.begin_object()
                      .member("url", cfg.webhook_url)
                      .member("secret_token", cfg.secret)
                      .key("allowed_updates")
                      .begin_array()
                      .value("message")
                      .end_array()
                      .end_object();
                  self->request(services.http, caf::infinite, fetch_atom::value,
                                call("setWebhook", w.take(), 15000))
                      .then(
                          [self, b, services, failed](outbound_response& res) {
                            if (!api_result(res))
                              return failed("setWebhook", res);
                            self->state.failures = 0;
                            self->send(services.bots, online_atom::value, b.id, true);
                          },
                          [self](caf::error&) {
                            self->delayed_send(self, backoff(++self->state.failures),
                                               hello_atom::value);
                          });
                },
                [self](caf::error&) {
                  self->delayed_send(self, backoff(++self->state.failures), hello_atom::value);
                });
      },
      [self, b, services, call, on_message](poll_atom) {
        json_writer w;
        w.begin_object()
            .member("offset", self->state.offset)
            .member("timeout", long_poll_s)
            .key("allowed_updates")
            .begin_array()
            .value("message")
            .end_array()
            .end_object();
        self->request(services.http, caf::infinite, fetch_atom::value,
                      call("getUpdates", w.take(), (long_poll_s + 10) * 1000))
            .then(
                [self, b, services, call, on_message](outbound_response& res) {
                  auto& st = self->state;
                  if (res.status == 409 && res.body.find("webhook") != std::string::npos) {
                    // A webhook of an earlier run in webhook mode: polling needs it gone.
                    spdlog::info("telegram bot {}: deleting the webhook set earlier to poll",
                                 b.id.value);
                    self->request(services.http, caf::infinite, fetch_atom::value,
                                  call("deleteWebhook", "{}", 15000))
                        .then([self](outbound_response&) { self->send(self, poll_atom::value); },
                              [self](caf::error&) {
                                self->delayed_send(self, backoff(++self->state.failures),
                                                   poll_atom::value);
                              });
                    return;
                  }
                  auto doc = parse_json(res.body);
                  const json_value* result =
                      doc && doc->is_object() ? doc->find("result") : nullptr;
                  if (res.status != 200 || result == nullptr || !result->is_array()) {
                    if (++st.failures == 3) // a blip is not an outage
                      self->send(services.bots, online_atom::value, b.id, false);
                    self->send(services.bots, activity_atom::value, b.id, int64_t{0}, int64_t{1});
                    spdlog::warn("telegram bot {}: getUpdates failed ({}), retrying", b.id.value,
                                 res.status == 0 ? res.error
                                                 : "HTTP " + std::to_string(res.status));
                    self->delayed_send(self, backoff(st.failures), poll_atom::value);
                    return;
                  }
                  if (st.failures >= 3)
                    self->send(services.bots, online_atom::value, b.id, true);
                  st.failures = 0;
                  for (auto& update : result->as_array()) {
                    auto id = num(update.find("update_id"));
                    if (id < st.offset)
                      continue; // handled already
                    st.offset = id + 1;
                    if (auto msg = update.find("message"); msg && msg->is_object())
                      on_message(*msg);
                  }
                  self->send(self, poll_atom::value);
                },
                [self](caf::error&) {
                  self->delayed_send(self, backoff(++self->state.failures), poll_atom::value);
                });
      },
  };
}

} // namespace

caf::expected<adapter_actor> spawn_telegram_adapter(caf::actor_system& sys, const bot& b,
                                                    const platform_services& services) {
  auto doc = platform_config(b);
  if (!doc)
    return std::move(doc.error());
  auto token = scalar_text(doc->find("token"));
  auto base = scalar_text(doc->find("api_base_url"));
  if (base.empty())
    base = scalar_text(doc->find("api_base")); // the name of earlier versions
  if (base.empty())
    base = "https://api.telegram.org";
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  if (token.empty() || token.find_first_of("/?# ") != std::string::npos)
    return api_error(errc::validation_error,
                     "platform_config.token must be the bot's token from @BotFather",
                     "platform_config.token", "required");
  if (auto why = check_http_url(base); !why.empty())
    return api_error(errc::validation_error, "platform_config.api_base_url " + why,
                     "platform_config.api_base_url", "invalid");
  settings cfg;
  cfg.api = base + "/bot" + token;
  // Webhook mode when a public URL is given: Telegram posts to it (it must reach
  // POST /api/v1/webhooks/{bot_id}) with the secret token; long polling otherwise.
  cfg.webhook_url = scalar_text(doc->find("webhook_url"));
  if (!cfg.webhook_url.empty())
    if (auto why = check_http_url(cfg.webhook_url); !why.empty())
      return api_error(errc::validation_error, "platform_config.webhook_url " + why,
                       "platform_config.webhook_url", "invalid");
  cfg.secret = scalar_text(doc->find("secret_token"));
  if (cfg.secret.empty()) // derived from the token: the same at every start
    cfg.secret = hmac_sha256_hex(token, {"chatagent telegram webhook"});
  if (cfg.secret.size() > 256 ||
      cfg.secret.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789_-") != std::string::npos)
    return api_error(errc::validation_error,
                     "platform_config.secret_token must be 1-256 characters of A-Z, a-z, 0-9, "
                     "_ and -",
                     "platform_config.secret_token", "invalid");
  cfg.addr.prefix = scalar_text(doc->find("prefix"));
  auto scope = per_user_scope(*doc);
  if (!scope)
    return std::move(scope.error());
  cfg.addr.per_user = *scope;
  return sys.spawn(adapter_impl, b, cfg, services);
}

} // namespace chatagent::adapters
