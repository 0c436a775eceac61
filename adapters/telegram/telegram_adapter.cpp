#include "adapters/telegram/telegram_adapter.hpp"

#include "adapters/adapters.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/json.hpp"
#include "protocol/time.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <unordered_map>

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
  std::string api; // <api_base>/bot<token>
  std::string prefix;
};

/// An answer being streamed into one Telegram message: sent at its first piece, then
/// edited (at most once a second, as Telegram allows) until it is complete.
struct live_reply {
  std::string chat;
  int64_t reply_to = 0;
  int64_t message_id = 0; // Telegram's, once sendMessage answered
  bool sending = false;   // sendMessage in flight
  bool editing = false;   // an edit is scheduled or in flight
  bool complete = false;  // the whole answer is in `text`
  std::string text;       // the answer so far
  std::string shown;      // what the Telegram message shows
  std::chrono::steady_clock::time_point last_edit;
};

struct adapter_state {
  adapter_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  std::unordered_map<int64_t, live_reply> live;                   // by reply id
  std::unordered_map<std::string, std::deque<int64_t>> answering; // conversation → replies
  int64_t next_reply = 0;
  int64_t offset = 0;   // the next update wanted
  int64_t self_id = 0;  // the bot's Telegram user id (getMe)
  std::string username; // the bot's @username, without the @
  int failures = 0;     // consecutive failed polls
};

using flush_atom = caf::atom_constant<caf::atom("flush")>;

/// `hello_atom`: asks getMe (again); `poll_atom`: the next long poll; `stream_event`: a
/// piece of an answer of a conversation it subscribed to; `flush_atom, reply, edit_done`:
/// shows what a live reply has so far (`edit_done`: the pending edit is over).
using telegram_actor =
    adapter_actor::extend<caf::reacts_to<hello_atom>, caf::reacts_to<poll_atom>,
                          caf::reacts_to<stream_event>, caf::reacts_to<flush_atom, int64_t, bool>>;

int64_t num(const json_value* v) {
  return v != nullptr && v->is_integer() ? v->as_int() : 0;
}

std::chrono::milliseconds backoff(int failures) {
  return std::chrono::milliseconds(std::min<int64_t>(30000, 500LL << std::min(failures, 6)));
}

/// The text Telegram gets: at most 4096 characters (cut on a UTF-8 boundary).
std::string fit(std::string text) {
  if (text.empty())
    return "(empty answer)";
  if (text.size() <= static_cast<size_t>(max_message))
    return text;
  size_t n = static_cast<size_t>(max_message) - 3;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80)
    --n;
  text.resize(n);
  return text + "…";
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
  // Brings live reply `id`'s Telegram message up to date: sends it, or edits it (at most
  // once a second); forgets the reply once it is complete and shown.
  auto flush = [self, services, call, chat_member](int64_t id) {
    auto& st = self->state;
    auto i = st.live.find(id);
    if (i == st.live.end())
      return;
    auto& r = i->second;
    if (r.sending || r.editing)
      return;
    if (r.message_id == 0) {
      r.sending = true;
      r.shown = fit(r.text);
      json_writer w;
      w.begin_object();
      chat_member(w, r.chat);
      w.member("text", r.shown);
      if (r.reply_to != 0)
        w.member("reply_to_message_id", r.reply_to).member("allow_sending_without_reply", true);
      w.end_object();
      self->request(services.http, caf::infinite, fetch_atom::value,
                    call("sendMessage", w.take(), 15000))
          .then(
              [self, id](outbound_response& res) {
                auto i = self->state.live.find(id);
                if (i == self->state.live.end())
                  return;
                auto& r = i->second;
                r.sending = false;
                r.last_edit = std::chrono::steady_clock::now();
                auto doc = parse_json(res.body);
                const json_value* result = doc && doc->is_object() ? doc->find("result") : nullptr;
                if (res.status != 200 || result == nullptr) {
                  spdlog::warn("telegram sendMessage to chat {} failed: {}", r.chat,
                               res.status == 0 ? res.error : "HTTP " + std::to_string(res.status));
                  self->state.live.erase(i);
                  return;
                }
                r.message_id = num(result->find("message_id"));
                self->send(self, flush_atom::value, id, false);
              },
              [self, id](caf::error&) { self->state.live.erase(id); });
      return;
    }
    auto text = fit(r.text);
    if (text == r.shown) {
      if (r.complete)
        st.live.erase(i);
      return;
    }
    auto wait =
        std::chrono::milliseconds(1000) - std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now() - r.last_edit);
    r.editing = true;
    if (wait.count() > 0) { // Telegram allows about one edit a second
      self->delayed_send(self, wait, flush_atom::value, id, true);
      return;
    }
    r.shown = text;
    r.last_edit = std::chrono::steady_clock::now();
    json_writer w;
    w.begin_object();
    chat_member(w, r.chat);
    w.member("message_id", r.message_id).member("text", text).end_object();
    self->request(services.http, caf::infinite, fetch_atom::value,
                  call("editMessageText", w.take(), 15000))
        .then([self, id](outbound_response&) { self->send(self, flush_atom::value, id, true); },
              [self, id](caf::error&) { self->state.live.erase(id); });
  };
  // Sends `text` whole to `chat`, replying to message `reply_to` (0: none): a live reply
  // that is complete from the start.
  auto send_text = [self, flush](const std::string& chat, int64_t reply_to, std::string text) {
    auto id = ++self->state.next_reply;
    live_reply r;
    r.chat = chat;
    r.reply_to = reply_to;
    r.text = std::move(text);
    r.complete = true;
    self->state.live.emplace(id, std::move(r));
    flush(id);
  };
  // One message from Telegram.
  auto on_message = [self, b, cfg, services, send_text](const json_value& msg) {
    auto text = scalar_text(msg.find("text"));
    auto chat = msg.find("chat");
    if (text.empty() || chat == nullptr)
      return; // photos, stickers, joins...: nothing to answer yet
    auto chat_id = scalar_text(chat->find("id"));
    auto chat_type = scalar_text(chat->find("type"));
    auto message_id = num(msg.find("message_id"));
    auto from = msg.find("from");
    auto user_name = from ? scalar_text(from->find("username")) : std::string{};
    if (user_name.empty() && from)
      user_name = scalar_text(from->find("first_name"));
    bool group = chat_type == "group" || chat_type == "supergroup";
    auto& st = self->state;
    auto mention = "@" + st.username;
    if (group) {
      bool mentioned = !st.username.empty() && text.find(mention) != std::string::npos;
      auto reply = msg.find("reply_to_message");
      bool replied = reply && reply->find("from") &&
                     num(reply->find("from")->find("id")) == st.self_id && st.self_id != 0;
      bool prefixed = !cfg.prefix.empty() && text.starts_with(cfg.prefix);
      if (!mentioned && !replied && !prefixed)
        return;
      if (prefixed)
        text.erase(0, cfg.prefix.size());
    }
    // "/help@fake_bot" and "@fake_bot hi" address the bot: the name itself is noise.
    if (!st.username.empty())
      for (size_t p; (p = text.find(mention)) != std::string::npos;)
        text.erase(p, mention.size());
    while (!text.empty() && text.front() == ' ')
      text.erase(0, 1);
    if (text.empty())
      return;
    auto reply_to = group ? message_id : 0;
    conversation draft;
    draft.bot = b.id;
    draft.platform = "telegram";
    draft.platform_chat_id = chat_id;
    draft.title =
        group ? "Telegram group " + scalar_text(chat->find("title")) : "Telegram: " + user_name;
    auto owner = b.owner;
    if (text == "/start" || text == "/help") {
      send_text(chat_id, reply_to,
                "Hello! I'm " + b.name + ". Send me a message and I answer." +
                    (group ? " In this group, mention @" + st.username + " or reply to me." : "") +
                    " /reset starts a new conversation.");
      return;
    }
    if (text == "/reset") {
      self->request(services.conversations, std::chrono::seconds(30), open_atom::value, owner,
                    draft)
          .then(
              [self, services, owner, chat_id, reply_to, send_text](conversation& conv) {
                self->request(services.conversations, std::chrono::seconds(30), update_atom::value,
                              owner, conv.id, std::string{R"({"status":"archived"})"})
                    .then(
                        [chat_id, reply_to, send_text](conversation&) {
                          send_text(chat_id, reply_to, "Done: let's start over.");
                        },
                        [](caf::error&) {});
              },
              [](caf::error&) {});
      return;
    }
    json_writer meta;
    meta.begin_object()
        .member("platform", "telegram")
        .member("telegram_message_id", message_id)
        .member("platform_user_id", from ? scalar_text(from->find("id")) : std::string{})
        .member("platform_user_name", user_name)
        .end_object();
    message_draft m;
    m.content = text;
    m.metadata = meta.take();
    // The answer streams into one message: subscribed to the conversation for as long as
    // it answers this chat (see the stream_event handler).
    self->request(services.conversations, std::chrono::seconds(30), open_atom::value, owner, draft)
        .then(
            [self, services, owner, m, chat_id, reply_to, send_text](conversation& conv) {
              auto id = ++self->state.next_reply;
              live_reply r;
              r.chat = chat_id;
              r.reply_to = reply_to;
              self->state.live.emplace(id, std::move(r));
              self->state.answering[conv.id.value].push_back(id);
              auto me = caf::actor_cast<stream_subscriber_actor>(self);
              auto ask = [self, services, owner, m, conv, id, chat_id, reply_to, send_text] {
                self->request(services.conversations, caf::infinite, send_atom::value, owner,
                              conv.id, m)
                    .then(
                        [self, id, chat_id, reply_to, send_text](exchange& x) {
                          // Not streamed (no subscription): sent whole.
                          if (auto i = self->state.live.find(id);
                              i != self->state.live.end() && i->second.text.empty() &&
                              !i->second.sending && i->second.message_id == 0) {
                            self->state.live.erase(i);
                            send_text(chat_id, reply_to, x.bot_response.content);
                          }
                        },
                        [self, id, chat_id, reply_to, send_text](caf::error& err) {
                          if (self->state.live.erase(id) > 0)
                            send_text(chat_id, reply_to,
                                      "Sorry, I could not answer: " + describe(err).message);
                        });
              };
              self->request(services.conversations, std::chrono::seconds(30), subscribe_atom::value,
                            owner, conv.id, me)
                  .then([ask](bool) { ask(); }, [ask](caf::error&) { ask(); });
            },
            [chat_id](caf::error& err) {
              spdlog::warn("telegram chat {}: no conversation: {}", chat_id, describe(err).message);
            });
  };
  self->send(self, hello_atom::value);
  return {
      [](inbound_atom, const platform_event&) -> caf::result<platform_ack> {
        return api_error(errc::validation_error,
                         "this telegram bot uses long polling: Telegram does not call it",
                         "platform_config", "polling");
      },
      [self, services, flush](stream_event& ev) {
        auto& st = self->state;
        auto q = st.answering.find(ev.conversation.value);
        if (q == st.answering.end() || q->second.empty())
          return; // an answer to someone else (the API) in this chat's conversation
        auto id = q->second.front();
        auto r = st.live.find(id);
        if (ev.kind == stream_event::chunk) {
          if (r != st.live.end() && !ev.content.empty()) {
            r->second.text += ev.content;
            flush(id);
          }
          return;
        }
        if (ev.kind != stream_event::complete && ev.kind != stream_event::failed)
          return; // tool activity is not shown on Telegram
        q->second.pop_front();
        if (q->second.empty()) {
          st.answering.erase(q);
          self->send(services.conversations, unsubscribe_atom::value, ev.conversation,
                     caf::actor_cast<stream_subscriber_actor>(self));
        }
        if (r == st.live.end())
          return;
        r->second.complete = true;
        r->second.text = ev.kind == stream_event::complete
                             ? ev.content
                             : "Sorry, I could not answer: " + ev.content;
        flush(id);
      },
      [self, flush](flush_atom, int64_t id, bool edit_done) {
        if (auto i = self->state.live.find(id); i != self->state.live.end() && edit_done)
          i->second.editing = false;
        flush(id);
      },
      [self, b, services, call](hello_atom) {
        self->request(services.http, caf::infinite, fetch_atom::value, call("getMe", "{}", 15000))
            .then(
                [self, b, services](outbound_response& res) {
                  auto& st = self->state;
                  auto doc = parse_json(res.body);
                  const json_value* result =
                      doc && doc->is_object() ? doc->find("result") : nullptr;
                  if (res.status == 200 && result != nullptr && result->is_object()) {
                    st.self_id = num(result->find("id"));
                    st.username = scalar_text(result->find("username"));
                    st.failures = 0;
                    self->send(services.bots, online_atom::value, b.id, true);
                    self->send(self, poll_atom::value);
                    return;
                  }
                  ++st.failures;
                  self->send(services.bots, online_atom::value, b.id, false);
                  self->send(services.bots, activity_atom::value, b.id, int64_t{0}, int64_t{1});
                  spdlog::warn("telegram bot {}: getMe failed ({}), retrying", b.id.value,
                               res.status == 0 ? res.error : "HTTP " + std::to_string(res.status));
                  self->delayed_send(self, backoff(st.failures), hello_atom::value);
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
                [self, b, services, on_message](outbound_response& res) {
                  auto& st = self->state;
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
  auto doc = parse_json(b.platform_config);
  if (!doc || !doc->is_object())
    return api_error(errc::validation_error, "platform_config must be a JSON object",
                     "platform_config", "invalid");
  auto token = scalar_text(doc->find("token"));
  auto base = scalar_text(doc->find("api_base"));
  if (base.empty())
    base = "https://api.telegram.org";
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  if (token.empty() || token.find_first_of("/?# ") != std::string::npos)
    return api_error(errc::validation_error,
                     "platform_config.token must be the bot's token from @BotFather",
                     "platform_config.token", "required");
  if (auto why = check_http_url(base); !why.empty())
    return api_error(errc::validation_error, "platform_config.api_base " + why,
                     "platform_config.api_base", "invalid");
  settings cfg;
  cfg.api = base + "/bot" + token;
  cfg.prefix = scalar_text(doc->find("prefix"));
  return sys.spawn(adapter_impl, b, cfg, services);
}

} // namespace chatagent::adapters
