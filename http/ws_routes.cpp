// The WebSocket endpoint `/api/v1/ws/conversations/{id}` (WebSocket 实时通信). Connections
// are not actors of their own: a few hub actors (one per scheduler thread) each serve the
// conversations hashed to them. A hub subscribes once per conversation, renders every
// stream event once into the spec's JSON and hands it to each client's outlet; it sends
// the clients' `user_message`s and answers their failures. An idle connection therefore
// costs its socket and a few hundred bytes here, not an actor.

#include "http/api_impl.hpp"
#include "protocol/chat_json.hpp"

#include <unordered_map>

#include <caf/typed_event_based_actor.hpp>

namespace chatagent::http::detail {

/// A client of conversation `conv` joins its hub; `admit` runs once the conversation
/// accepted the subscription (or refused it) and says whether the client is still there.
struct hub_join {
  conversation_id conv;
  user_id user;
  uint64_t client = 0;
  std::shared_ptr<ws_outlet> outlet;
  std::function<bool(const caf::error&)> admit;
};

/// Client `client` of `conv` is gone.
struct hub_leave {
  conversation_id conv;
  uint64_t client = 0;
};

/// A message from a client, to be sent as `user`.
struct hub_inbound {
  conversation_id conv;
  user_id user;
  std::shared_ptr<ws_outlet> outlet;
  message_draft draft;
};

} // namespace chatagent::http::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::http::detail::hub_join)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::http::detail::hub_leave)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::http::detail::hub_inbound)

namespace chatagent::http {

namespace {

/// A WebSocket error event; `code` is the spec's code string.
std::string render_ws_error(const conversation_id& conv, std::string_view code,
                            const error_info& info) {
  json_writer w;
  w.begin_object().member("type", "error").member("conversation_id", conv.value);
  write_error_member(w, code, info);
  w.member("timestamp", format_time(now_ms())).end_object();
  return w.take();
}

std::string render_ws_error(const conversation_id& conv, const error_info& info) {
  return render_ws_error(conv, code_name(info.code), info);
}

/// The spec's JSON messages for one stream event, in order.
std::vector<std::string> render_event(const stream_event& ev) {
  std::vector<std::string> out;
  json_writer w;
  switch (ev.kind) {
  case stream_event::chunk:
    w.begin_object()
        .member("type", "stream_chunk")
        .member("conversation_id", ev.conversation.value)
        .member("chunk_id", ev.chunk_id)
        .member("content", ev.content)
        .member("is_final", ev.is_final)
        .end_object();
    out.push_back(w.take());
    break;
  case stream_event::complete: {
    w.begin_object()
        .member("type", "stream_complete")
        .member("conversation_id", ev.conversation.value)
        .member("message_id", ev.message.value)
        .member("full_content", ev.content)
        .end_object();
    out.push_back(w.take());
    // The stored answer, as the spec's bot_response message.
    json_writer r;
    r.begin_object()
        .member("type", "bot_response")
        .member("message_id", ev.message.value)
        .member("conversation_id", ev.conversation.value)
        .member("content", ev.content)
        .member("message_type", "text");
    r.key("metadata").raw(ev.metadata);
    r.member("timestamp", format_time(ev.created_at_ms)).end_object();
    out.push_back(r.take());
    break;
  }
  case stream_event::tool_call: {
    // The model asked for a tool; `arguments` as the model wrote them (an object when
    // they are JSON, else its text).
    w.begin_object()
        .member("type", "tool_call")
        .member("conversation_id", ev.conversation.value)
        .member("call_id", ev.call_id)
        .member("tool", ev.tool);
    if (auto args = parse_json(ev.content); args && args->is_object())
      w.member("arguments", *args);
    else
      w.member("arguments", ev.content);
    w.member("timestamp", format_time(ev.created_at_ms)).end_object();
    out.push_back(w.take());
    break;
  }
  case stream_event::tool_result:
    w.begin_object()
        .member("type", "tool_result")
        .member("conversation_id", ev.conversation.value)
        .member("call_id", ev.call_id)
        .member("tool", ev.tool)
        .member("success", ev.is_final)
        .member("result", ev.content)
        .member("timestamp", format_time(ev.created_at_ms))
        .end_object();
    out.push_back(w.take());
    break;
  case stream_event::failed: {
    error_info info;
    info.message = ev.content;
    out.push_back(render_ws_error(ev.conversation, ev.error_code, info));
    break;
  }
  }
  return out;
}

struct hub_client {
  uint64_t id;
  std::shared_ptr<ws_outlet> outlet;
};

/// The clients of one conversation on a hub.
struct hub_room {
  std::vector<hub_client> clients;
  int64_t joining = 0; // subscriptions asked for and not answered yet
};

struct hub_state {
  hub_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  std::unordered_map<std::string, hub_room> rooms;
};

caf::behavior hub_impl(caf::stateful_actor<hub_state>* self,
                       conversation_manager_actor conversations,
                       std::chrono::milliseconds timeout) {
  auto me = caf::actor_cast<stream_subscriber_actor>(self);
  // The hub stays subscribed while a room has clients or is about to.
  auto release_if_empty = [self, conversations, me](const conversation_id& conv) {
    auto& rooms = self->state.rooms;
    auto i = rooms.find(conv.value);
    if (i != rooms.end() && i->second.clients.empty() && i->second.joining == 0) {
      rooms.erase(i);
      self->send(conversations, unsubscribe_atom::value, conv, me);
    }
  };
  return {
      [self, conversations, me, release_if_empty](hub_join& j) {
        ++self->state.rooms[j.conv.value].joining;
        self->request(conversations, caf::infinite, subscribe_atom::value, j.user, j.conv, me)
            .then(
                [self, j, release_if_empty](bool) {
                  auto& room = self->state.rooms[j.conv.value];
                  --room.joining;
                  if (j.admit(caf::none))
                    room.clients.push_back({j.client, j.outlet});
                  release_if_empty(j.conv);
                },
                [self, j, release_if_empty](caf::error& err) {
                  --self->state.rooms[j.conv.value].joining;
                  j.admit(err);
                  release_if_empty(j.conv);
                });
      },
      [self, release_if_empty](hub_leave& l) {
        if (auto i = self->state.rooms.find(l.conv.value); i != self->state.rooms.end())
          std::erase_if(i->second.clients, [&](const hub_client& c) { return c.id == l.client; });
        release_if_empty(l.conv);
      },
      [self](const stream_event& ev) {
        auto i = self->state.rooms.find(ev.conversation.value);
        if (i == self->state.rooms.end() || i->second.clients.empty())
          return;
        auto texts = render_event(ev);
        auto& clients = i->second.clients;
        for (size_t k = 0; k < clients.size(); ++k)
          for (auto& t : texts)
            clients[k].outlet->send(k + 1 == clients.size() ? std::move(t) : t);
      },
      [self, conversations, timeout](hub_inbound& in) {
        // The answer reaches every client as stream events; only a failure to take the
        // message is this client's alone.
        self->request(conversations, timeout, send_atom::value, in.user, in.conv,
                      std::move(in.draft))
            .then([](const exchange&) {},
                  [outlet = in.outlet, conv = in.conv](caf::error& err) {
                    auto info = describe(err);
                    // Provider failures were already streamed to every subscriber.
                    if (info.code != errc::bad_gateway && info.code != errc::gateway_timeout &&
                        info.code != errc::service_unavailable)
                      outlet->send(render_ws_error(conv, info));
                  });
      },
  };
}

/// The API's side of one accepted connection.
class inlet : public ws_inlet {
 public:
  inlet(rate_limiter& limiter, int64_t per_minute, std::weak_ptr<ws_outlet> outlet, caf::actor hub,
        uint64_t client, user_id user, conversation_id conv)
      : limiter_(limiter), per_minute_(per_minute), outlet_(std::move(outlet)),
        hub_(std::move(hub)), client_(client), user_(std::move(user)), conv_(std::move(conv)) {}

  void on_text(std::string text) override {
    auto doc = parse_json(text);
    if (!doc || !doc->is_object()) {
      reply_error(
          doc ? describe(api_error(errc::validation_error, "a message must be a JSON object"))
              : describe(doc.error()));
      return;
    }
    std::string type;
    if (auto t = doc->find("type"); t && t->is_string())
      type = t->as_string();
    if (type == "ping") {
      if (auto o = outlet_.lock())
        o->send(R"({"type":"pong","timestamp":")" + format_time(now_ms()) + "\"}");
      return;
    }
    if (type != "user_message") {
      reply_error(error_info{errc::validation_error,
                             "unknown message type '" + type + "'; send user_message or ping",
                             "type", "unknown type"});
      return;
    }
    // Each message counts against the user's rate limit, as a REST send would.
    auto rate = limiter_.check("u:" + user_.value, per_minute_, now_ms() / 1000);
    if (!rate.allowed) {
      reply_error(error_info{errc::rate_limit_exceeded,
                             "rate limit of " + std::to_string(rate.limit) +
                                 " requests per minute exceeded",
                             {},
                             {}});
      return;
    }
    message_draft draft;
    if (auto err = read_message_draft(draft, *doc)) {
      reply_error(describe(err));
      return;
    }
    if (auto o = outlet_.lock())
      caf::anon_send(hub_, hub_inbound{conv_, user_, std::move(o), std::move(draft)});
  }

  void on_close() override { caf::anon_send(hub_, hub_leave{conv_, client_}); }

 private:
  void reply_error(const error_info& info) {
    if (auto o = outlet_.lock())
      o->send(render_ws_error(conv_, info));
  }

  rate_limiter& limiter_;
  int64_t per_minute_;
  std::weak_ptr<ws_outlet> outlet_;
  caf::actor hub_;
  uint64_t client_;
  user_id user_;
  conversation_id conv_;
};

/// A platform's WebSocket connection as an actor its adapter can send frames to.
platform_peer_actor::behavior_type peer_impl(platform_peer_actor::pointer self,
                                             std::weak_ptr<ws_outlet> outlet) {
  return {
      [outlet](frame_atom, std::string& text) {
        if (auto o = outlet.lock())
          o->send(std::move(text));
      },
      [self, outlet](hangup_atom, std::string& reason) {
        if (auto o = outlet.lock())
          o->close(std::move(reason));
        self->quit();
      },
  };
}

/// The API's side of a platform's connection: its frames go to the bot's adapter.
class platform_inlet : public ws_inlet {
 public:
  platform_inlet(bot_manager_actor bots, bot_id bot, platform_peer_actor peer)
      : bots_(std::move(bots)), bot_(std::move(bot)), peer_(std::move(peer)) {}

  void on_text(std::string text) override { forward(platform_event::ws_text, std::move(text)); }

  void on_close() override {
    forward(platform_event::ws_close, {});
    caf::anon_send_exit(peer_, caf::exit_reason::normal);
  }

 private:
  void forward(platform_event::kind_t kind, std::string body) {
    platform_event ev;
    ev.kind = kind;
    ev.body = std::move(body);
    ev.peer = peer_;
    caf::anon_send(bots_, inbound_atom::value, bot_, std::move(ev));
  }

  bot_manager_actor bots_;
  bot_id bot_;
  platform_peer_actor peer_;
};

} // namespace

void api::impl::platform_upgrade(const call_ptr& c, bot_id bot, std::shared_ptr<ws_outlet> outlet,
                                 upgrade_responder done) {
  // The bot's adapter decides (it checks the platform's credentials in the headers).
  auto peer = sys.spawn(peer_impl, std::weak_ptr<ws_outlet>{outlet});
  platform_event ev;
  ev.kind = platform_event::ws_open;
  ev.method = c->req.method;
  if (auto q = c->req.target.find('?'); q != std::string::npos)
    ev.query = c->req.target.substr(q + 1);
  ev.headers = c->req.headers;
  ev.peer = peer;
  in_actor(c, [this, c, bot, peer, ev = std::move(ev),
               done = std::move(done)](caf::event_based_actor* self) mutable {
    self->request(bots, caf::infinite, inbound_atom::value, bot, std::move(ev))
        .then(
            [this, c, bot, peer, done](platform_ack& ack) {
              if (ack.status != 101) {
                caf::anon_send_exit(peer, caf::exit_reason::normal);
                finish(c, static_cast<unsigned>(ack.status), ack.body);
                return;
              }
              if (c->answered.exchange(true)) { // the deadline refused it meanwhile
                caf::anon_send_exit(peer, caf::exit_reason::normal);
                return;
              }
              done(std::nullopt, std::make_shared<platform_inlet>(bots, bot, peer));
            },
            [this, c, peer](caf::error& err) {
              caf::anon_send_exit(peer, caf::exit_reason::normal);
              fail(c, err);
            });
  });
}

void api::impl::spawn_hubs(size_t n) {
  for (size_t i = 0; i < n; ++i)
    hubs.push_back(sys.spawn(hub_impl, conversations, settings.llm_timeout));
}

void api::impl::upgrade(api_request req, std::shared_ptr<ws_outlet> outlet,
                        upgrade_responder done) {
  // Browsers cannot set headers on a WebSocket: the token comes in the query string.
  if (req.authorization.empty())
    for (auto& [name, value] : query_params(req.target))
      if (name == "token" && !value.empty())
        req.authorization = "Bearer " + value;
  auto c = begin(std::move(req), [done](api_response res) { done(std::move(res), nullptr); });
  if (!c->rate.allowed) {
    fail(c, errc::rate_limit_exceeded,
         "rate limit of " + std::to_string(c->rate.limit) + " requests per minute exceeded");
    return;
  }
  auto segments = split_path(c->req.target);
  if (segments.size() == 4 && segments[0] == "api" && segments[1] == "v1" &&
      segments[2] == "webhooks") {
    platform_upgrade(c, bot_id{std::string{segments[3]}}, std::move(outlet), std::move(done));
    return;
  }
  if (segments.size() != 5 || segments[0] != "api" || segments[1] != "v1" || segments[2] != "ws" ||
      segments[3] != "conversations") {
    fail(c, errc::not_found, "no WebSocket endpoint here; use /api/v1/ws/conversations/{id}");
    return;
  }
  if (!c->auth) {
    fail(c, errc::unauthorized,
         c->auth_problem.empty() ? "authentication required: add ?token=<access_token>"
                                 : c->auth_problem);
    return;
  }
  conversation_id conv{std::string{segments[4]}};
  auto hub = hubs[std::hash<std::string>{}(conv.value) % hubs.size()];
  auto client = next_ws_client.fetch_add(1, std::memory_order_relaxed);
  // Through a bridge, which refuses the upgrade if the hub does not answer in time.
  in_actor(c, [this, c, conv, hub, client, outlet = std::move(outlet),
               done = std::move(done)](caf::event_based_actor*) mutable {
    std::weak_ptr<ws_outlet> weak = outlet;
    auto admit = [this, c, conv, hub, client, weak, done](const caf::error& err) {
      if (err) {
        fail(c, err);
        return false;
      }
      if (c->answered.exchange(true)) // the deadline refused it meanwhile
        return false;
      done(std::nullopt, std::make_shared<inlet>(limiter, limit_for(c->auth->role), weak, hub,
                                                 client, c->auth->subject, conv));
      return true;
    };
    caf::anon_send(hub,
                   hub_join{conv, c->auth->subject, client, std::move(outlet), std::move(admit)});
  });
}

} // namespace chatagent::http
