// The WebSocket endpoint `/api/v1/ws/conversations/{id}` (WebSocket 实时通信): one
// connection actor per connection subscribes to the conversation and turns its stream
// events into the spec's JSON messages; the client's `user_message`s become sends.

#include "http/api_impl.hpp"
#include "protocol/chat_json.hpp"

#include <caf/typed_event_based_actor.hpp>

namespace chatagent::http {

namespace {

using close_atom = caf::atom_constant<caf::atom("close")>;
using inbound_atom = caf::atom_constant<caf::atom("inbound")>;

/// One WebSocket connection: receives the conversation's stream events, sends the
/// client's messages, and ends (quietly, so that its bridge stays) on `close_atom`.
using connection_actor =
    stream_subscriber_actor::extend<caf::reacts_to<inbound_atom, message_draft>,
                                    caf::reacts_to<close_atom>>;

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

connection_actor::behavior_type connection_impl(connection_actor::pointer self,
                                                std::shared_ptr<ws_outlet> outlet, user_id user,
                                                conversation_id conv,
                                                conversation_manager_actor conversations,
                                                std::chrono::milliseconds timeout) {
  return {
      [outlet](const stream_event& ev) {
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
          outlet->send(w.take());
          break;
        case stream_event::complete: {
          w.begin_object()
              .member("type", "stream_complete")
              .member("conversation_id", ev.conversation.value)
              .member("message_id", ev.message.value)
              .member("full_content", ev.content)
              .end_object();
          outlet->send(w.take());
          // The stored answer, as the spec's bot_response message.
          json_writer r;
          r.begin_object()
              .member("type", "bot_response")
              .member("message_id", ev.message.value)
              .member("conversation_id", ev.conversation.value)
              .member("content", ev.content)
              .member("message_type", "text")
              .member("timestamp", format_time(ev.created_at_ms))
              .end_object();
          outlet->send(r.take());
          break;
        }
        case stream_event::failed: {
          error_info info;
          info.message = ev.content;
          outlet->send(render_ws_error(ev.conversation, ev.error_code, info));
          break;
        }
        }
      },
      [self, outlet, user, conv, conversations, timeout](inbound_atom, message_draft& draft) {
        // The answer reaches every subscriber as stream events; only a failure to take
        // the message is this client's alone.
        self->request(conversations, timeout, send_atom::value, user, conv, std::move(draft))
            .then([](const exchange&) {},
                  [outlet, conv](caf::error& err) {
                    auto info = describe(err);
                    // Provider failures were already streamed to every subscriber.
                    if (info.code != errc::bad_gateway && info.code != errc::gateway_timeout &&
                        info.code != errc::service_unavailable)
                      outlet->send(render_ws_error(conv, info));
                  });
      },
      [self](close_atom) { self->quit(); },
  };
}

/// The API's side of one accepted connection.
class inlet : public ws_inlet {
 public:
  inlet(rate_limiter& limiter, int64_t per_minute, std::weak_ptr<ws_outlet> outlet,
        caf::actor connection, token_claims who, conversation_id conv)
      : limiter_(limiter), per_minute_(per_minute), outlet_(std::move(outlet)),
        connection_(std::move(connection)), who_(std::move(who)), conv_(std::move(conv)) {}

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
    auto rate = limiter_.check("u:" + who_.subject.value, per_minute_, now_ms() / 1000);
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
    caf::anon_send(caf::actor_cast<connection_actor>(connection_), inbound_atom::value,
                   std::move(draft));
  }

  void on_close() override {
    caf::anon_send(caf::actor_cast<connection_actor>(connection_), close_atom::value);
  }

 private:
  void reply_error(const error_info& info) {
    if (auto o = outlet_.lock())
      o->send(render_ws_error(conv_, info));
  }

  rate_limiter& limiter_;
  int64_t per_minute_;
  std::weak_ptr<ws_outlet> outlet_;
  caf::actor connection_;
  token_claims who_;
  conversation_id conv_;
};

} // namespace

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
  in_actor(c, [this, c, conv, outlet = std::move(outlet),
               done = std::move(done)](caf::event_based_actor* self) mutable {
    // Linked to this bridge: when the API shuts down, connections go with it.
    auto conn = self->spawn<caf::linked>(connection_impl, outlet, c->auth->subject, conv,
                                         conversations, settings.llm_timeout);
    self->request(conversations, caf::infinite, subscribe_atom::value, c->auth->subject, conv,
                  caf::actor_cast<stream_subscriber_actor>(conn))
        .then(
            [this, c, conv, conn, outlet, done](bool) {
              if (c->answered.exchange(true)) { // the deadline refused it meanwhile
                caf::anon_send(conn, close_atom::value);
                return;
              }
              done(std::nullopt,
                   std::make_shared<inlet>(limiter, limit_for(c->auth->role), outlet,
                                           caf::actor_cast<caf::actor>(conn), *c->auth, conv));
            },
            [this, c, conn](caf::error& err) {
              caf::anon_send(conn, close_atom::value);
              fail(c, err);
            });
  });
}

} // namespace chatagent::http
