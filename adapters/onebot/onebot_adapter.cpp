#include "adapters/onebot/onebot_adapter.hpp"

#include "adapters/adapters.hpp"
#include "adapters/chat_streams.hpp"
#include "adapters/inbound.hpp"
#include "adapters/live_reply.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/json.hpp"

#include <chrono>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::adapters {

using namespace protocol;

namespace {

using expire_atom = caf::atom_constant<caf::atom("expire")>;

constexpr size_t max_message = 3000; // QQ folds longer messages

struct settings {
  std::string ws_url; // forward WebSocket: the server connects to the implementation
  std::string access_token;
  std::string prefix;
  bool per_user = false;
};

struct adapter_state {
  adapter_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  chat_streams streams;
  recent_events seen;
  peer_link link; // the implementation's connection, while there is one
  platform_peer_actor& peer = link.peer;
  int failures = 0;    // consecutive failed dials (forward WebSocket)
  std::string self_id; // the bot's QQ number
  std::unordered_map<std::string, caf::typed_response_promise<outbound_response>> pending;
  int64_t next_echo = 0;
};

using dial_again_atom = caf::atom_constant<caf::atom("redial")>;

/// `dial_again_atom`: connects to the implementation (forward WebSocket);
/// `fetch_atom, request`: sends action `request.url` with params `request.body` over the
/// connection and answers with its response frame (so live replies send through it);
/// `expire_atom, echo`: action `echo` had no response in time; `stream_event`: a piece of
/// an answer of a conversation it subscribed to.
using onebot_actor =
    adapter_actor::extend<caf::replies_to<fetch_atom, outbound_request>::with<outbound_response>,
                          caf::reacts_to<expire_atom, std::string>, caf::reacts_to<stream_event>,
                          caf::reacts_to<dial_again_atom>>;

std::chrono::milliseconds backoff(int failures) {
  return std::chrono::milliseconds(std::min<int64_t>(60000, 500LL << std::min(failures, 7)));
}

/// Undoes CQ-code escapes (`&#44;` only matters inside codes).
std::string cq_unescape(std::string_view s) {
  static constexpr std::pair<std::string_view, char> entities[] = {
      {"&#91;", '['}, {"&#93;", ']'}, {"&#44;", ','}, {"&amp;", '&'}};
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    bool replaced = false;
    if (s[i] == '&')
      for (auto [from, to] : entities)
        if (s.substr(i, from.size()) == from) {
          out.push_back(to);
          i += from.size();
          replaced = true;
          break;
        }
    if (!replaced)
      out.push_back(s[i++]);
  }
  return out;
}

/// A QQ number or group id as JSON: a number when it is one.
void id_member(json_writer& w, std::string_view key, const std::string& id) {
  w.key(key);
  if (!id.empty() && id.size() < 19 && id.find_first_not_of("0123456789") == std::string::npos)
    w.raw(id);
  else
    w.value(id);
}

onebot_actor::behavior_type adapter_impl(onebot_actor::stateful_pointer<adapter_state> self, bot b,
                                         settings cfg, platform_services services) {
  // The implementation is gone: actions waiting for a response fail.
  auto disconnected = [self, b, cfg, services](bool unexpected) {
    auto& st = self->state;
    st.peer = nullptr;
    for (auto& [echo, rp] : st.pending)
      rp.deliver(outbound_response{0, {}, "the OneBot implementation disconnected"});
    st.pending.clear();
    self->send(services.bots, online_atom::value, b.id, false);
    if (unexpected)
      self->send(services.bots, activity_atom::value, b.id, int64_t{0}, int64_t{1});
    if (!cfg.ws_url.empty()) // forward: connect again
      self->delayed_send(self, backoff(st.failures), dial_again_atom::value);
  };
  self->set_down_handler([self, disconnected](caf::down_msg& dm) {
    if (self->state.peer && dm.source == self->state.peer.address())
      disconnected(true);
  });
  // An answer in a private chat with `user`, or in `group` (replying to `message_id`).
  auto reply_in = [self, b, services](const std::string& group, const std::string& user,
                                      const std::string& message_id) {
    reply_surface s;
    s.max_bytes = max_message;
    s.post = [group, user, message_id](const std::string& text, size_t index) {
      outbound_request r;
      r.method = "WS";
      r.url = group.empty() ? "send_private_msg" : "send_group_msg";
      json_writer w;
      w.begin_object();
      if (group.empty())
        id_member(w, "user_id", user);
      else
        id_member(w, "group_id", group);
      w.key("message").begin_array();
      if (!group.empty() && index == 0 && !message_id.empty()) {
        w.begin_object().member("type", "reply").key("data").begin_object();
        w.member("id", message_id).end_object().end_object();
      }
      w.begin_object().member("type", "text").key("data").begin_object();
      w.member("text", text).end_object().end_object();
      w.end_array().end_object();
      r.body = w.take();
      return r;
    };
    s.posted_id = [](const outbound_response& res) {
      auto doc = parse_json(res.body);
      if (res.status != 200 || !doc || !doc->is_object())
        return std::string{};
      auto code = doc->find("retcode");
      auto data = doc->find("data");
      if (code == nullptr || !code->is_integer() || code->as_int() != 0)
        return std::string{};
      auto id = data && data->is_object() ? scalar_text(data->find("message_id")) : std::string{};
      return id.empty() ? std::string{"sent"} : id; // some implementations omit the id
    };
    s.failed = count_failure(services, b.id);
    return spawn_live_reply(self->system(), caf::actor_cast<http_client_actor>(self), std::move(s));
  };
  auto on_message = [self, b, cfg, services, reply_in](const json_value& ev) {
    auto& st = self->state;
    auto type = scalar_text(ev.find("message_type"));
    auto user = scalar_text(ev.find("user_id"));
    auto group = type == "group" ? scalar_text(ev.find("group_id")) : std::string{};
    auto message_id = scalar_text(ev.find("message_id"));
    auto self_id = scalar_text(ev.find("self_id"));
    if (!self_id.empty())
      st.self_id = self_id;
    if ((type != "private" && type != "group") || user.empty() || user == st.self_id)
      return;
    if (type == "group" && group.empty())
      return;
    if (!message_id.empty() && !st.seen.first_time(type + ":" + message_id))
      return; // delivered again (after a reconnect)
    // QQ numbers of people and groups overlap: the chat id says which.
    inbound_message m;
    m.platform = "onebot";
    m.message_id = message_id;
    m.group = !group.empty();
    m.chat_id = m.group ? "group:" + group : "private:" + user;
    m.user_id = user;
    if (auto sender = ev.find("sender"); sender && sender->is_object()) {
      m.user_name = scalar_text(sender->find("card"));
      if (m.user_name.empty())
        m.user_name = scalar_text(sender->find("nickname"));
    }
    auto message = ev.find("message");
    for (auto& seg : message ? onebot_segments(*message) : std::vector<onebot_segment>{}) {
      auto file = seg.get("url").empty() ? seg.get("file") : seg.get("url");
      if (seg.type == "text")
        m.segments.push_back(text_segment(seg.get("text")));
      else if (seg.type == "at" && seg.get("qq") == "all")
        m.segments.push_back(segment(segment_kind::mention_all, {}));
      else if (seg.type == "at")
        m.segments.push_back(segment(segment_kind::mention, seg.get("qq"), seg.get("name")));
      else if (seg.type == "reply")
        m.segments.push_back(segment(segment_kind::quote, {}, seg.get("id")));
      else if (seg.type == "image")
        m.segments.push_back(segment(segment_kind::image, file));
      else if (seg.type == "record")
        m.segments.push_back(segment(segment_kind::voice, file));
      else if (seg.type == "video")
        m.segments.push_back(segment(segment_kind::video, file));
      else if (seg.type == "file")
        m.segments.push_back(segment(segment_kind::file, file, seg.get("name")));
      else
        m.segments.push_back(segment(segment_kind::unknown, {}, seg.type));
    }
    auto title =
        m.group ? "QQ group " + group + (cfg.per_user ? " (" + m.user_name + ")" : std::string{})
                : "QQ: " + (m.user_name.empty() ? user : m.user_name);
    st.streams.deliver(
        self, services, b, m, addressing{st.self_id, cfg.prefix, cfg.per_user}, std::move(title),
        [&] { return reply_in(group, user, message_id); },
        "I'm " + b.name + ". Send me a message and I answer" +
            (m.group
                 ? " (in groups, @ me" +
                       (cfg.prefix.empty() ? std::string{} : " or start with " + cfg.prefix) + ")"
                 : std::string{}) +
            ". /reset starts a new conversation.");
  };
  self->send(services.bots, online_atom::value, b.id, false); // until it connects
  if (!cfg.ws_url.empty())
    self->send(self, dial_again_atom::value);
  return {
      [self, b, cfg, services, disconnected,
       on_message](inbound_atom, platform_event& ev) -> caf::result<platform_ack> {
        auto& st = self->state;
        switch (ev.kind) {
        case platform_event::ws_open: {
          if (!cfg.ws_url.empty())
            return api_error(errc::validation_error,
                             "this OneBot bot connects to its implementation itself "
                             "(platform_config.ws_url): configure no reverse WebSocket",
                             "platform_config.ws_url", "forward");
          auto auth = find_header(ev, "Authorization");
          std::string given = auth ? *auth : std::string{};
          for (std::string_view scheme : {"Bearer ", "Token ", "bearer ", "token "})
            if (given.starts_with(scheme))
              given.erase(0, scheme.size());
          if (!same_secret(given, cfg.access_token))
            return api_error(errc::unauthorized,
                             "send Authorization: Bearer <access_token> (the bot's "
                             "platform_config.access_token)");
          auto role = find_header(ev, "X-Client-Role");
          if (role && *role != "Universal")
            return api_error(errc::validation_error,
                             "connect as a Universal reverse WebSocket (one connection for "
                             "events and actions), not " +
                                 *role,
                             "X-Client-Role", "unsupported");
          if (st.peer) // a new connection replaces the old one
            self->send(st.peer, hangup_atom::value, std::string{"replaced by a new connection"});
          st.peer = ev.peer;
          self->monitor(st.peer);
          if (auto id = find_header(ev, "X-Self-ID"))
            st.self_id = *id;
          self->send(services.bots, online_atom::value, b.id, true);
          spdlog::info("bot {}: OneBot implementation connected (QQ {})", b.id.value, st.self_id);
          return platform_ack{101, {}};
        }
        case platform_event::ws_close:
          if (st.peer && ev.peer == st.peer) {
            self->demonitor(st.peer.address());
            disconnected(true);
          }
          return platform_ack{};
        case platform_event::ws_text:
          break;
        default:
          return api_error(errc::validation_error,
                           "this OneBot bot listens on a reverse WebSocket: connect to this URL "
                           "with a WebSocket upgrade",
                           "platform_type", "websocket");
        }
        if (!st.peer || ev.peer != st.peer)
          return platform_ack{}; // a frame of a replaced connection
        auto doc = parse_json(ev.body);
        if (!doc || !doc->is_object())
          return platform_ack{};
        auto post_type = scalar_text(doc->find("post_type"));
        if (post_type.empty()) { // an action's response
          auto echo = scalar_text(doc->find("echo"));
          if (auto i = st.pending.find(echo); i != st.pending.end()) {
            i->second.deliver(outbound_response{200, std::move(ev.body), {}});
            st.pending.erase(i);
          }
          return platform_ack{};
        }
        if (post_type == "message")
          on_message(*doc);
        else if (post_type == "meta_event")
          if (auto id = scalar_text(doc->find("self_id")); !id.empty())
            st.self_id = id;
        return platform_ack{};
      },
      [self](fetch_atom, outbound_request& req) -> caf::result<outbound_response> {
        auto& st = self->state;
        if (!st.peer)
          return outbound_response{0, {}, "the OneBot implementation is not connected"};
        auto echo = std::to_string(++st.next_echo);
        json_writer w;
        w.begin_object()
            .member("action", req.url)
            .key("params")
            .raw(req.body)
            .member("echo", echo)
            .end_object();
        self->send(st.peer, frame_atom::value, w.take());
        auto rp = self->make_response_promise<outbound_response>();
        st.pending.emplace(echo, rp);
        self->delayed_send(self, std::chrono::milliseconds(req.timeout_ms), expire_atom::value,
                           echo);
        return rp;
      },
      [self](expire_atom, const std::string& echo) {
        if (auto i = self->state.pending.find(echo); i != self->state.pending.end()) {
          i->second.deliver(
              outbound_response{0, {}, "the OneBot implementation did not answer the action"});
          self->state.pending.erase(i);
        }
      },
      [self, services](stream_event& ev) { self->state.streams.on_event(self, services, ev); },
      [self, b, cfg, services](dial_again_atom) {
        if (self->state.peer)
          return;
        std::vector<std::string> headers;
        if (!cfg.access_token.empty())
          headers.push_back("Authorization: Bearer " + cfg.access_token);
        self->request(services.websocket, std::chrono::seconds(60), dial_atom::value, cfg.ws_url,
                      std::move(headers), caf::actor_cast<adapter_actor>(self))
            .then(
                [self, b, services](platform_peer_actor& peer) {
                  auto& st = self->state;
                  st.peer = std::move(peer);
                  st.failures = 0;
                  self->monitor(st.peer);
                  self->send(services.bots, online_atom::value, b.id, true);
                  spdlog::info("bot {}: connected to the OneBot implementation", b.id.value);
                },
                [self, b, services](caf::error& err) {
                  auto& st = self->state;
                  ++st.failures;
                  self->send(services.bots, activity_atom::value, b.id, int64_t{0}, int64_t{1});
                  spdlog::warn("bot {}: {}; retrying in {} ms", b.id.value, describe(err).message,
                               backoff(st.failures).count());
                  self->delayed_send(self, backoff(st.failures), dial_again_atom::value);
                });
      },
  };
}

} // namespace

std::string onebot_segment::get(std::string_view key) const {
  for (auto& [k, v] : data)
    if (k == key)
      return v;
  return {};
}

std::vector<onebot_segment> parse_cq_message(std::string_view text) {
  std::vector<onebot_segment> out;
  auto add_text = [&](std::string_view t) {
    if (!t.empty())
      out.push_back({"text", {{"text", cq_unescape(t)}}});
  };
  while (!text.empty()) {
    auto start = text.find("[CQ:");
    auto end = start == std::string_view::npos ? start : text.find(']', start);
    if (end == std::string_view::npos) {
      add_text(text);
      break;
    }
    add_text(text.substr(0, start));
    auto code = text.substr(start + 4, end - start - 4); // type,k=v,k=v
    onebot_segment seg;
    auto comma = code.find(',');
    seg.type = std::string{code.substr(0, comma)};
    while (comma != std::string_view::npos) {
      code = code.substr(comma + 1);
      comma = code.find(',');
      auto pair = code.substr(0, comma);
      auto eq = pair.find('=');
      seg.data.emplace_back(std::string{pair.substr(0, eq)},
                            eq == std::string_view::npos ? std::string{}
                                                         : cq_unescape(pair.substr(eq + 1)));
    }
    out.push_back(std::move(seg));
    text = text.substr(end + 1);
  }
  return out;
}

std::vector<onebot_segment> onebot_segments(const json_value& message) {
  if (message.is_string())
    return parse_cq_message(message.as_string());
  std::vector<onebot_segment> out;
  if (!message.is_array())
    return out;
  for (auto& s : message.as_array()) {
    if (!s.is_object())
      continue;
    onebot_segment seg;
    seg.type = scalar_text(s.find("type"));
    if (auto data = s.find("data"); data && data->is_object())
      for (auto& [k, v] : data->as_object())
        seg.data.emplace_back(k, scalar_text(&v));
    out.push_back(std::move(seg));
  }
  return out;
}

caf::expected<adapter_actor> spawn_onebot_adapter(caf::actor_system& sys, const bot& b,
                                                  const platform_services& services) {
  auto doc = platform_config(b);
  if (!doc)
    return std::move(doc.error());
  settings cfg;
  cfg.access_token = scalar_text(doc->find("access_token"));
  cfg.prefix = scalar_text(doc->find("prefix"));
  cfg.ws_url = scalar_text(doc->find("ws_url"));
  if (!cfg.ws_url.empty() && !cfg.ws_url.starts_with("ws://") && !cfg.ws_url.starts_with("wss://"))
    return api_error(errc::validation_error,
                     "platform_config.ws_url must be the implementation's forward WebSocket "
                     "(ws:// or wss://)",
                     "platform_config.ws_url", "invalid");
  if (cfg.ws_url.empty() && cfg.access_token.size() < 8)
    return api_error(errc::validation_error,
                     "platform_config.access_token must be the reverse WebSocket's access "
                     "token (at least 8 characters; the implementation sends it)",
                     "platform_config.access_token", "required");
  auto scope = per_user_scope(*doc);
  if (!scope)
    return std::move(scope.error());
  cfg.per_user = *scope;
  return sys.spawn(adapter_impl, b, cfg, services);
}

} // namespace chatagent::adapters
