#include "adapters/webhook/webhook_adapter.hpp"

#include "adapters/adapters.hpp"
#include "adapters/inbound.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/json.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"

#include <charconv>
#include <cstdlib>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::adapters {

using namespace protocol;

namespace {

using retry_atom = caf::atom_constant<caf::atom("retry")>;

constexpr int64_t max_skew_s = 300; // a signed event older (or newer) than this is refused
constexpr int delivery_attempts = 3;

struct settings {
  std::string webhook_url;
  std::string secret;
  std::string prefix;    // group chats: a message starting with it addresses the bot
  bool per_user = false; // in groups, one conversation per user
};

/// A delivery to the platform, retried on 5xx and unreachable.
struct delivery {
  outbound_request req;
  int attempt = 0;
};

struct adapter_state {
  adapter_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  recent_events seen;
  std::unordered_map<int64_t, delivery> deliveries; // by id
  int64_t next_delivery = 0;
};

/// `retry_atom, id`: (re)tries delivery `id`.
using webhook_actor = adapter_actor::extend<caf::reacts_to<retry_atom, int64_t>>;

/// A refused event, answered in the API's standard error format.
caf::error reply(errc code, const std::string& message, const std::string& field = {}) {
  return api_error(code, message, field, field.empty() ? std::string{} : "invalid");
}

std::string string_member(const json_value& obj, const char* name) {
  return scalar_text(obj.find(name));
}

webhook_actor::behavior_type adapter_impl(webhook_actor::stateful_pointer<adapter_state> self,
                                          bot b, settings cfg, platform_services services) {
  // Posts `payload` to the platform, signed; retries what may pass later.
  auto deliver = [self, cfg](std::string payload) {
    auto id = ++self->state.next_delivery;
    auto& d = self->state.deliveries[id];
    auto ts = std::to_string(now_ms() / 1000);
    d.req.url = cfg.webhook_url;
    d.req.headers = {"Content-Type: application/json", "X-ChatAgent-Timestamp: " + ts,
                     "X-ChatAgent-Signature: " + webhook_signature(cfg.secret, ts, payload)};
    d.req.body = std::move(payload);
    self->send(self, retry_atom::value, id);
  };
  return {
      [self, b, cfg, services, deliver](inbound_atom,
                                        const platform_event& ev) -> caf::result<platform_ack> {
        if (auto err = only_posts(ev))
          return err;
        auto ts = find_header(ev, "X-ChatAgent-Timestamp");
        auto sig = find_header(ev, "X-ChatAgent-Signature");
        if (ts == nullptr || sig == nullptr)
          return reply(errc::unauthorized,
                       "sign the event: X-ChatAgent-Timestamp and X-ChatAgent-Signature are "
                       "required");
        int64_t when = 0;
        auto [end, ec] = std::from_chars(ts->data(), ts->data() + ts->size(), when);
        if (ec != std::errc{} || end != ts->data() + ts->size() ||
            std::abs(now_ms() / 1000 - when) > max_skew_s)
          return reply(errc::unauthorized,
                       "X-ChatAgent-Timestamp must be the current unix time (within 5 minutes)");
        auto expected = webhook_signature(cfg.secret, *ts, ev.body);
        if (!same_secret(*sig, expected))
          return reply(errc::unauthorized, "the signature does not match the body");
        auto doc = parse_json(ev.body);
        if (!doc || !doc->is_object())
          return reply(errc::validation_error, "the event must be a JSON object");
        auto event_id = string_member(*doc, "event_id");
        auto chat_id = string_member(*doc, "chat_id");
        auto text = string_member(*doc, "text");
        if (event_id.empty() || event_id.size() > 128)
          return reply(errc::validation_error, "event_id is required (at most 128 bytes)",
                       "event_id");
        if (chat_id.empty() || chat_id.size() > chat_limits::chat_id_max)
          return reply(errc::validation_error, "chat_id is required (at most 256 bytes)",
                       "chat_id");
        if (text.empty() || text.size() > chat_limits::content_max ||
            utf8_length(text) == std::string_view::npos)
          return reply(errc::validation_error, "text is required: UTF-8, at most 32000 bytes",
                       "text");
        // Platforms deliver again when unsure: an event is handled once.
        if (!self->state.seen.first_time(event_id))
          return platform_ack{200, R"({"accepted":false,"reason":"duplicate event"})"};
        // In groups the bot answers when it is mentioned or addressed by the prefix.
        inbound_message m;
        m.platform = "webhook";
        m.message_id = event_id;
        m.chat_id = chat_id;
        m.group = string_member(*doc, "chat_type") == "group";
        m.user_id = string_member(*doc, "user_id");
        m.user_name = string_member(*doc, "user_name");
        if (auto v = doc->find("mentioned"); v && v->is_bool() && v->as_bool())
          m.segments.push_back(segment(segment_kind::mention, "bot"));
        if (auto quoted = string_member(*doc, "reply_to"); !quoted.empty())
          m.segments.push_back(segment(segment_kind::quote, {}, quoted));
        m.segments.push_back(text_segment(text));
        if (auto files = doc->find("attachments"); files && files->is_array())
          for (auto& f : files->as_array()) {
            auto type = string_member(f, "type");
            auto kind = type == "image"   ? segment_kind::image
                        : type == "voice" ? segment_kind::voice
                        : type == "video" ? segment_kind::video
                                          : segment_kind::file;
            m.segments.push_back(segment(kind, string_member(f, "url"), string_member(f, "name")));
          }
        auto r = read_message(m, addressing{"bot", cfg.prefix, cfg.per_user});
        if (!r.addressed)
          return platform_ack{200, R"({"accepted":false,"reason":"not addressed to the bot"})"};
        if (r.text.empty())
          return platform_ack{200, R"({"accepted":false,"reason":"empty message"})"};
        conversation draft;
        draft.bot = b.id;
        draft.platform = "webhook";
        draft.platform_chat_id = session_chat_id(chat_id, m.user_id, m.group, cfg.per_user);
        draft.title = (m.group ? "webhook group " : "webhook: ") +
                      (m.user_name.empty() || m.group ? draft.platform_chat_id : m.user_name);
        text = r.text;
        message_draft msg;
        msg.content = text;
        msg.metadata = message_metadata(m, r, event_id);
        auto owner = b.owner;
        auto bot_id = b.id;
        // Posts a reply (`m`, or `text` of a command) or the failure `err` to the platform.
        auto answer = [deliver, bot_id, chat_id,
                       event_id](const conversation_id& conv, const chat_message* m,
                                 const caf::error* err, std::string text = {}) {
          json_writer w;
          w.begin_object()
              .member("type", err ? "error" : "reply")
              .member("bot_id", bot_id.value)
              .member("chat_id", chat_id)
              .member("conversation_id", conv.value)
              .member("in_reply_to", event_id);
          if (m)
            w.member("message_id", m->id.value).member("text", m->content);
          else if (err)
            w.member("error", describe(*err).message);
          else
            w.member("text", text);
          w.member("timestamp", format_time(now_ms())).end_object();
          deliver(w.take());
        };
        auto accepted = platform_ack{202, "{\"accepted\":true,\"event_id\":" + [&] {
                                       std::string q;
                                       append_json_string(q, event_id);
                                       return q;
                                     }() + "}"};
        // Commands: /help, and /reset (the chat's next message starts a new conversation).
        if (text == "/help" || text.starts_with("/help ")) {
          answer(conversation_id{}, nullptr, nullptr,
                 "Send a message and " + b.name +
                     " answers. Commands: /reset starts a new conversation (the bot forgets "
                     "this chat's context), /help shows this." +
                     (cfg.prefix.empty()
                          ? std::string{}
                          : " In groups, mention the bot or start with " + cfg.prefix + "."));
          return accepted;
        }
        if (text == "/reset" || text.starts_with("/reset ")) {
          self->request(services.conversations, std::chrono::seconds(30), open_atom::value, owner,
                        draft)
              .then(
                  [self, services, owner, answer](conversation& conv) {
                    self->request(services.conversations, std::chrono::seconds(30),
                                  update_atom::value, owner, conv.id,
                                  std::string{R"({"status":"archived"})"})
                        .then(
                            [answer](conversation& c) {
                              answer(c.id, nullptr, nullptr,
                                     "Done: the next message starts a new conversation.");
                            },
                            [answer, id = conv.id](caf::error& err) { answer(id, nullptr, &err); });
                  },
                  [answer](caf::error& err) { answer(conversation_id{}, nullptr, &err); });
          return accepted;
        }
        self->request(services.conversations, std::chrono::seconds(30), open_atom::value, owner,
                      draft)
            .then(
                [self, services, owner, msg, answer](conversation& conv) {
                  self->request(services.conversations, caf::infinite, send_atom::value, owner,
                                conv.id, msg)
                      .then([answer,
                             id = conv.id](exchange& x) { answer(id, &x.bot_response, nullptr); },
                            [answer, id = conv.id](caf::error& err) { answer(id, nullptr, &err); });
                },
                [answer](caf::error& err) { answer(conversation_id{}, nullptr, &err); });
        return accepted;
      },
      [self, services, bot_id = b.id](retry_atom, int64_t id) {
        auto i = self->state.deliveries.find(id);
        if (i == self->state.deliveries.end())
          return;
        ++i->second.attempt;
        self->request(services.http, caf::infinite, fetch_atom::value, i->second.req)
            .then(
                [self, services, bot_id, id](outbound_response& res) {
                  auto i = self->state.deliveries.find(id);
                  if (i == self->state.deliveries.end())
                    return;
                  auto& d = i->second;
                  bool transient = res.status == 0 || res.status == 429 || res.status >= 500;
                  if (transient && d.attempt < delivery_attempts) {
                    self->delayed_send(self, std::chrono::milliseconds(500) * d.attempt,
                                       retry_atom::value, id);
                    return;
                  }
                  if (transient || res.status >= 300) {
                    self->send(services.bots, activity_atom::value, bot_id, int64_t{0}, int64_t{1});
                    spdlog::warn("webhook delivery to {} failed: {}", d.req.url,
                                 res.status == 0 ? res.error
                                                 : "HTTP " + std::to_string(res.status));
                  }
                  self->state.deliveries.erase(i);
                },
                [self, id](caf::error& err) {
                  spdlog::warn("webhook delivery failed: {}", describe(err).message);
                  self->state.deliveries.erase(id);
                });
      },
  };
}

} // namespace

std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body) {
  return "sha256=" + hmac_sha256_hex(secret, {timestamp, ".", body});
}

caf::expected<adapter_actor> spawn_webhook_adapter(caf::actor_system& sys, const bot& b,
                                                   const platform_services& services) {
  auto cfg_doc = parse_json(b.platform_config);
  if (!cfg_doc || !cfg_doc->is_object())
    return api_error(errc::validation_error, "platform_config must be a JSON object",
                     "platform_config", "invalid");
  settings cfg;
  cfg.webhook_url = string_member(*cfg_doc, "webhook_url");
  cfg.secret = string_member(*cfg_doc, "secret");
  cfg.prefix = string_member(*cfg_doc, "prefix");
  auto scope = per_user_scope(*cfg_doc);
  if (!scope)
    return std::move(scope.error());
  cfg.per_user = *scope;
  if (cfg.webhook_url.empty() || !check_http_url(cfg.webhook_url).empty())
    return api_error(errc::validation_error,
                     "platform_config.webhook_url must be the http(s) URL that receives the "
                     "bot's answers",
                     "platform_config.webhook_url", "invalid");
  if (cfg.secret.size() < 16)
    return api_error(errc::validation_error,
                     "platform_config.secret must be a shared secret of at least 16 characters "
                     "(it signs both directions)",
                     "platform_config.secret", "too short");
  return sys.spawn(adapter_impl, b, cfg, services);
}

} // namespace chatagent::adapters
