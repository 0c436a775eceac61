#include "adapters/discord/discord_adapter.hpp"

#include "adapters/adapters.hpp"
#include "adapters/chat_streams.hpp"
#include "adapters/inbound.hpp"
#include "adapters/live_reply.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/json.hpp"
#include "protocol/validation.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::adapters {

using namespace protocol;

namespace {

using connect_again_atom = caf::atom_constant<caf::atom("reconnect")>;
using beat_atom = caf::atom_constant<caf::atom("beat")>;

constexpr size_t max_message = 2000; // Discord's limit for a message's content
// GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
constexpr int64_t intents = (1 << 9) | (1 << 12) | (1 << 15);

struct settings {
  std::string api; // the REST API's root
  std::string token;
  std::string prefix;
  bool per_user = false;
};

struct adapter_state {
  adapter_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  chat_streams streams;
  recent_events seen;
  peer_link link; // the gateway connection, while there is one
  std::string gateway_url;
  std::string resume_url;
  std::string session_id;
  int64_t seq = -1; // the last dispatch's sequence number; -1: none
  std::string self_id;
  int64_t beat_ms = 0;
  int64_t generation = 0; // of the connection: older heartbeat timers stop
  bool acked = true;      // the last heartbeat was acknowledged
  bool fatal = false;     // Discord refused for good (token, intents)
  int failures = 0;       // consecutive failed connections
};

/// `connect_again_atom`: connects (or resumes); `beat_atom, generation`: the heartbeat of
/// connection `generation` is due; `stream_event`: a piece of an answer.
using discord_actor =
    adapter_actor::extend<caf::reacts_to<connect_again_atom>, caf::reacts_to<beat_atom, int64_t>,
                          caf::reacts_to<stream_event>>;

std::chrono::milliseconds backoff(int failures) {
  return std::chrono::milliseconds(std::min<int64_t>(60000, 1000LL << std::min(failures, 6)));
}

/// Gateway close codes after which reconnecting cannot help.
bool fatal_close(int code) {
  return code == 4004 || code == 4010 || code == 4011 || code == 4012 || code == 4013 ||
         code == 4014;
}

discord_actor::behavior_type adapter_impl(discord_actor::stateful_pointer<adapter_state> self,
                                          bot b, settings cfg, platform_services services) {
  auto rest = [cfg](std::string method, const std::string& path, std::string body) {
    outbound_request r;
    r.method = std::move(method);
    r.url = cfg.api + path;
    r.headers = {"Authorization: Bot " + cfg.token, "Content-Type: application/json",
                 "User-Agent: DiscordBot (https://github.com/chatagent/chatagent, 1.0)"};
    r.body = std::move(body);
    r.timeout_ms = 15000;
    return r;
  };
  auto send_frame = [self](int64_t op, const std::function<void(json_writer&)>& data) {
    if (!self->state.link.peer)
      return;
    json_writer w;
    w.begin_object().member("op", op).key("d");
    data(w);
    w.end_object();
    self->send(self->state.link.peer, frame_atom::value, w.take());
  };
  auto heartbeat = [self, send_frame] {
    auto seq = self->state.seq;
    self->state.acked = false;
    send_frame(1, [seq](json_writer& w) {
      if (seq < 0)
        w.raw("null");
      else
        w.value(seq);
    });
  };
  // The connection is over (`code`: its close code): reconnect unless Discord refused for
  // good. `counted`: a failure (not a reconnect Discord asked for).
  auto lost = [self, b, services](int code, bool counted) {
    auto& st = self->state;
    if (st.link.peer) {
      self->send(st.link.peer, hangup_atom::value, std::string{"4000 reconnecting"});
      st.link.peer = nullptr;
    }
    ++st.generation;
    self->send(services.bots, online_atom::value, b.id, false);
    if (counted) {
      ++st.failures;
      self->send(services.bots, activity_atom::value, b.id, int64_t{0}, int64_t{1});
    }
    if (code == 4007 || code == 4009) { // the session cannot be resumed
      st.session_id.clear();
      st.seq = -1;
    }
    if (fatal_close(code)) {
      st.fatal = true;
      spdlog::error("bot {}: Discord closed the gateway with {} (token or intents): not "
                    "reconnecting until the bot is restarted",
                    b.id.value, code);
      return;
    }
    self->delayed_send(self, counted ? backoff(st.failures) : std::chrono::milliseconds(100),
                       connect_again_atom::value);
  };
  // An answer in `channel`, replying to message `reply_to`.
  auto reply_in = [self, b, services, rest](const std::string& channel,
                                            const std::string& reply_to) {
    reply_surface s;
    s.max_bytes = max_message;
    s.post = [rest, channel, reply_to](const std::string& text, size_t index) {
      json_writer w;
      w.begin_object().member("content", text);
      if (index == 0 && !reply_to.empty())
        w.key("message_reference")
            .begin_object()
            .member("message_id", reply_to)
            .member("fail_if_not_exists", false)
            .end_object();
      w.key("allowed_mentions").begin_object().key("parse").begin_array().end_array().end_object();
      w.end_object();
      return rest("POST", "/channels/" + channel + "/messages", w.take());
    };
    s.posted_id = [](const outbound_response& res) {
      auto doc = parse_json(res.body);
      if (res.status < 200 || res.status >= 300 || !doc || !doc->is_object())
        return std::string{};
      return scalar_text(doc->find("id"));
    };
    s.edit = [rest, channel](const std::string& id, const std::string& text) {
      json_writer w;
      w.begin_object().member("content", text).end_object();
      return rest("PATCH", "/channels/" + channel + "/messages/" + id, w.take());
    };
    s.failed = count_failure(services, b.id);
    return spawn_live_reply(self->system(), services.http, std::move(s));
  };
  auto on_message = [self, b, cfg, services, reply_in](const json_value& d) {
    auto& st = self->state;
    auto author = d.find("author");
    if (author == nullptr || !author->is_object())
      return;
    if (auto bot_flag = author->find("bot"); bot_flag && bot_flag->is_bool() && bot_flag->as_bool())
      return; // bots, itself included
    inbound_message m;
    m.platform = "discord";
    m.message_id = scalar_text(d.find("id"));
    m.chat_id = scalar_text(d.find("channel_id"));
    m.user_id = scalar_text(author->find("id"));
    if (m.message_id.empty() || m.chat_id.empty() || m.user_id.empty() || m.user_id == st.self_id ||
        !st.seen.first_time(m.message_id))
      return;
    m.group = d.find("guild_id") != nullptr && !d.find("guild_id")->is_null();
    m.user_name = scalar_text(author->find("global_name"));
    if (m.user_name.empty())
      m.user_name = scalar_text(author->find("username"));
    if (auto ref = d.find("referenced_message"); ref && ref->is_object()) {
      auto a = ref->find("author");
      m.segments.push_back(segment(segment_kind::quote,
                                   a && a->is_object() ? scalar_text(a->find("id")) : std::string{},
                                   scalar_text(ref->find("id"))));
    }
    // Mentions are <@id> markup in the content; `mentions` names the users.
    auto words = markup_segments(scalar_text(d.find("content")));
    if (auto users = d.find("mentions"); users && users->is_array())
      for (auto& w : words)
        for (auto& u : users->as_array())
          if (w.kind == segment_kind::mention && scalar_text(u.find("id")) == w.ref) {
            w.text = scalar_text(u.find("global_name"));
            if (w.text.empty())
              w.text = scalar_text(u.find("username"));
          }
    m.segments.insert(m.segments.end(), words.begin(), words.end());
    if (auto files = d.find("attachments"); files && files->is_array())
      for (auto& f : files->as_array())
        m.segments.push_back(segment(kind_of_mime(scalar_text(f.find("content_type"))),
                                     scalar_text(f.find("url")), scalar_text(f.find("filename"))));
    auto title = m.group ? "Discord channel " + m.chat_id +
                               (cfg.per_user ? " (" + m.user_name + ")" : std::string{})
                         : "Discord: " + m.user_name;
    auto reply_to = m.group ? m.message_id : std::string{};
    st.streams.deliver(
        self, services, b, m, addressing{st.self_id, cfg.prefix, cfg.per_user}, std::move(title),
        [&] { return reply_in(m.chat_id, reply_to); },
        "I'm " + b.name + ". Message me directly, or mention me in a channel" +
            (cfg.prefix.empty() ? std::string{} : " (or start with " + cfg.prefix + ")") +
            ", and I answer. /reset starts a new conversation.");
  };
  self->send(self, connect_again_atom::value);
  return {
      [self, b, cfg, services, send_frame, heartbeat, lost,
       on_message](inbound_atom, platform_event& ev) -> caf::result<platform_ack> {
        auto& st = self->state;
        if (ev.kind == platform_event::ws_close) {
          if (st.link.peer && ev.peer == st.link.peer) {
            st.link.peer = nullptr;
            int code = 1006;
            std::from_chars(ev.body.data(), ev.body.data() + ev.body.size(), code);
            spdlog::warn("bot {}: the Discord gateway closed: {}", b.id.value, ev.body);
            lost(code, true);
          }
          return platform_ack{};
        }
        if (ev.kind != platform_event::ws_text)
          return api_error(errc::validation_error,
                           "this Discord bot connects to the gateway itself: Discord does not "
                           "call it");
        if (!st.link.peer || ev.peer != st.link.peer)
          return platform_ack{}; // a frame of an old connection
        auto doc = parse_json(ev.body);
        if (!doc || !doc->is_object())
          return platform_ack{};
        auto op_v = doc->find("op");
        auto op = op_v && op_v->is_integer() ? op_v->as_int() : -1;
        if (auto s = doc->find("s"); s && s->is_integer())
          st.seq = s->as_int();
        const json_value* d = doc->find("d");
        switch (op) {
        case 10: { // Hello: heartbeat, then identify or resume
          st.beat_ms =
              d && d->find("heartbeat_interval") && d->find("heartbeat_interval")->is_integer()
                  ? d->find("heartbeat_interval")->as_int()
                  : 41250;
          st.acked = true;
          auto gen = st.generation;
          self->delayed_send(self, std::chrono::milliseconds(st.beat_ms / 2), beat_atom::value,
                             gen);
          if (!st.session_id.empty()) {
            send_frame(6, [&](json_writer& w) {
              w.begin_object()
                  .member("token", cfg.token)
                  .member("session_id", st.session_id)
                  .member("seq", st.seq)
                  .end_object();
            });
          } else {
            send_frame(2, [&](json_writer& w) {
              w.begin_object()
                  .member("token", cfg.token)
                  .member("intents", intents)
                  .key("properties")
                  .begin_object()
                  .member("os", "linux")
                  .member("browser", "chatagent")
                  .member("device", "chatagent")
                  .end_object()
                  .end_object();
            });
          }
          break;
        }
        case 11: // Heartbeat ACK
          st.acked = true;
          break;
        case 1: // Discord asks for a heartbeat now
          heartbeat();
          break;
        case 7: // Reconnect (and resume)
          lost(4000, false);
          break;
        case 9: // Invalid Session: `d` says whether it may be resumed
          if (!(d && d->is_bool() && d->as_bool())) {
            st.session_id.clear();
            st.seq = -1;
          }
          lost(4000, false);
          break;
        case 0: {
          auto t = scalar_text(doc->find("t"));
          if (t == "READY" && d) {
            st.session_id = scalar_text(d->find("session_id"));
            st.resume_url = scalar_text(d->find("resume_gateway_url"));
            if (auto u = d->find("user"); u && u->is_object())
              st.self_id = scalar_text(u->find("id"));
            st.failures = 0;
            self->send(services.bots, online_atom::value, b.id, true);
            spdlog::info("bot {}: connected to the Discord gateway", b.id.value);
          } else if (t == "RESUMED") {
            st.failures = 0;
            self->send(services.bots, online_atom::value, b.id, true);
          } else if (t == "MESSAGE_CREATE" && d && d->is_object()) {
            on_message(*d);
          }
          break;
        }
        default:
          break;
        }
        return platform_ack{};
      },
      [self, heartbeat, lost](beat_atom, int64_t gen) {
        auto& st = self->state;
        if (gen != st.generation || !st.link.peer)
          return;        // a timer of an older connection
        if (!st.acked) { // a zombie connection: no ACK since the last heartbeat
          lost(4000, true);
          return;
        }
        heartbeat();
        self->delayed_send(self, std::chrono::milliseconds(st.beat_ms), beat_atom::value, gen);
      },
      [self, b, cfg, services, rest](connect_again_atom) {
        auto& st = self->state;
        if (st.link.peer || st.fatal)
          return;
        // Dials `url` (the gateway's, or the session's resume URL).
        auto dial = [self, b, services](const std::string& url) {
          self->request(services.websocket, std::chrono::seconds(60), dial_atom::value,
                        url + "/?v=10&encoding=json", std::vector<std::string>{},
                        caf::actor_cast<adapter_actor>(self))
              .then(
                  [self](platform_peer_actor& peer) {
                    auto& st = self->state;
                    st.link.peer = std::move(peer);
                    ++st.generation; // Hello starts the heartbeat
                  },
                  [self, b, services](caf::error& err) {
                    auto& st = self->state;
                    ++st.failures;
                    self->send(services.bots, activity_atom::value, b.id, int64_t{0}, int64_t{1});
                    spdlog::warn("bot {}: Discord gateway: {}", b.id.value, describe(err).message);
                    self->delayed_send(self, backoff(st.failures), connect_again_atom::value);
                  });
        };
        if (!st.session_id.empty() && !st.resume_url.empty()) {
          dial(st.resume_url);
          return;
        }
        if (!st.gateway_url.empty()) {
          dial(st.gateway_url);
          return;
        }
        self->request(services.http, caf::infinite, fetch_atom::value,
                      rest("GET", "/gateway/bot", {}))
            .then([self, b, services, dial](outbound_response& res) {
              auto& st = self->state;
              auto doc = parse_json(res.body);
              auto url =
                  res.status == 200 && doc && doc->is_object() ? scalar_text(doc->find("url")) : "";
              if (url.empty()) {
                ++st.failures;
                self->send(services.bots, online_atom::value, b.id, false);
                self->send(services.bots, activity_atom::value, b.id, int64_t{0}, int64_t{1});
                spdlog::warn("bot {}: Discord GET /gateway/bot failed: {}", b.id.value,
                             res.status == 0 ? res.error : "HTTP " + std::to_string(res.status));
                if (res.status == 401) { // a wrong token stays wrong
                  st.fatal = true;
                  return;
                }
                self->delayed_send(self, backoff(st.failures), connect_again_atom::value);
                return;
              }
              st.gateway_url = url;
              dial(url);
            });
      },
      [self, services](stream_event& ev) { self->state.streams.on_event(self, services, ev); },
  };
}

} // namespace

caf::expected<adapter_actor> spawn_discord_adapter(caf::actor_system& sys, const bot& b,
                                                   const platform_services& services) {
  auto doc = platform_config(b);
  if (!doc)
    return std::move(doc.error());
  settings cfg;
  cfg.token = scalar_text(doc->find("token"));
  cfg.prefix = scalar_text(doc->find("prefix"));
  if (cfg.token.empty() || cfg.token.find_first_of(" \r\n") != std::string::npos)
    return api_error(errc::validation_error,
                     "platform_config.token must be the bot's token (Developer Portal, Bot)",
                     "platform_config.token", "required");
  auto api = api_base_url(*doc, "https://discord.com/api/v10");
  if (!api)
    return std::move(api.error());
  cfg.api = std::move(*api);
  auto scope = per_user_scope(*doc);
  if (!scope)
    return std::move(scope.error());
  cfg.per_user = *scope;
  return sys.spawn(adapter_impl, b, cfg, services);
}

} // namespace chatagent::adapters
