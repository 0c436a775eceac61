#include "actors/llm_providers.hpp"

#include "actors/http_engine.hpp"
#include "actors/llm_wire.hpp"
#include "actors/local_model.hpp"
#include "protocol/error.hpp"
#include "protocol/time.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::actors {

namespace {

/// How one attempt of a remote completion ended, as the engine's thread saw it.
struct attempt_outcome {
  long status = 0;
  std::string transport_error; // empty: the exchange completed
  bool timed_out = false;
  caf::error stream_error;
  std::string error_body;
  std::string content;
  std::string finish_reason;
  bool finished = false;
  int64_t chunks = 0;
  int64_t retry_after_s = -1; // the provider's Retry-After (seconds), -1: none
  std::vector<protocol::tool_call> tool_calls;
};

} // namespace
} // namespace chatagent::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::actors::attempt_outcome)

namespace chatagent::actors {

using namespace protocol;

namespace {

/// The prompt's size in tokens: as the requester counted it, else counted here.
int64_t prompt_tokens(const llm_request& req) {
  if (req.prompt_tokens > 0)
    return req.prompt_tokens;
  int64_t n = 0;
  for (auto& t : req.turns)
    n += local_model::count_tokens(t->content);
  return n;
}

/// The `local` provider: answers at once, streamed in word-sized chunks.
llm_actor::behavior_type local_provider_impl(llm_actor::pointer self, int) {
  return {
      [self](generate_atom, const llm_request& req) {
        auto res = local_model::respond(req, now_ms());
        res.prompt_tokens = prompt_tokens(req);
        res.completion_tokens = local_model::count_tokens(res.content);
        auto to = caf::actor_cast<caf::actor>(self->current_sender());
        if (to && req.stream) {
          int64_t index = 0;
          for (auto& piece : local_model::pieces(res.content))
            caf::anon_send(to, llm_chunk{++index, std::move(piece), req.tag});
        }
        return res;
      },
  };
}

// -- remote providers over HTTP ---------------------------------------------------------

using done_atom = caf::atom_constant<caf::atom("done")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;

using remote_provider_actor = llm_actor::extend<caf::reacts_to<done_atom, int64_t, attempt_outcome>,
                                                caf::reacts_to<retry_atom, int64_t>>;

constexpr int max_attempts = 3;
// A provider asking to wait longer than this (Retry-After) is not waited for: the user
// gets the error at once rather than a reply that long after.
constexpr int64_t max_retry_after_s = 20;
constexpr int breaker_threshold = 5;
constexpr auto breaker_open_for = std::chrono::seconds(30);

struct pending_completion {
  caf::typed_response_promise<llm_result> rp;
  caf::actor requester;
  llm_request req;
  wire_request wire;
  std::string endpoint;
  int attempt = 0;
};

/// Consecutive failures of one endpoint; open: fail fast until `open_until`.
struct breaker {
  int failures = 0;
  std::chrono::steady_clock::time_point open_until;
};

struct remote_state {
  remote_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  std::unordered_map<int64_t, pending_completion> pending;
  std::unordered_map<std::string, breaker> breakers;
  int64_t next_id = 0;
};

/// Turns a failed attempt into the API's error.
caf::error describe_failure(const pending_completion& p, const attempt_outcome& o) {
  const auto& provider = p.req.config.provider;
  if (o.stream_error)
    return o.stream_error;
  if (o.timed_out)
    return api_error(errc::gateway_timeout,
                     "the " + provider + " provider did not answer in time (" + p.endpoint + ")");
  if (!o.transport_error.empty()) {
    if (o.chunks > 0)
      return api_error(errc::bad_gateway,
                       "the " + provider + " provider's stream broke off: " + o.transport_error);
    return api_error(errc::service_unavailable, "cannot reach the " + provider + " provider at " +
                                                    p.endpoint + ": " + o.transport_error);
  }
  auto detail = provider_error_message(o.error_body);
  if (o.status == 401 || o.status == 403)
    return api_error(errc::bad_gateway, "the " + provider + " provider refused the API key (" +
                                            std::to_string(o.status) + "): " + detail);
  if (o.status == 429)
    return api_error(errc::service_unavailable,
                     "the " + provider + " provider is rate limiting requests" +
                         (o.retry_after_s >= 0 ? " (it asks to retry after " +
                                                     std::to_string(o.retry_after_s) + " s)"
                                               : std::string{}) +
                         ": " + detail);
  if (o.status >= 400)
    return api_error(errc::bad_gateway, "the " + provider + " provider answered " +
                                            std::to_string(o.status) + ": " + detail);
  return api_error(errc::bad_gateway, "the " + provider + " provider's stream ended early");
}

remote_provider_actor::behavior_type
remote_provider_impl(remote_provider_actor::stateful_pointer<remote_state> self,
                     std::shared_ptr<http_engine> engine, std::chrono::milliseconds timeout) {
  // Starts attempt `p.attempt` of completion `id`. The engine's callbacks run on its
  // thread: they stream chunks straight to the requester and report the end to us.
  auto launch = [self, engine, timeout](int64_t id, pending_completion& p) {
    ++p.attempt;
    struct stream_ctx {
      stream_parser parser;
      attempt_outcome outcome;
      caf::actor requester; // of the chunks; null when the request does not stream
      int64_t tag = 0;
      explicit stream_ctx(wire_format f) : parser(f) {}
    };
    auto ctx = std::make_shared<stream_ctx>(wire_of(p.req.config.provider));
    if (p.req.stream)
      ctx->requester = p.requester;
    ctx->tag = p.req.tag;
    http_call call;
    call.url = p.wire.url;
    call.headers = p.wire.headers;
    call.body = p.wire.body;
    call.timeout = timeout;
    call.on_status = [ctx](long status) { ctx->outcome.status = status; };
    call.on_header = [ctx](std::string_view name, std::string_view value) {
      // Retry-After in seconds (the HTTP-date form is not used by LLM APIs).
      if (name.size() == 11 &&
          std::equal(name.begin(), name.end(), "retry-after", [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == b;
          })) {
        int64_t s = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
        if (ec == std::errc{} && end == value.data() + value.size() && s >= 0)
          ctx->outcome.retry_after_s = s;
      }
    };
    call.on_data = [ctx](std::string_view bytes) {
      auto& o = ctx->outcome;
      if (o.status >= 400) {
        if (o.error_body.size() < 65536)
          o.error_body.append(bytes);
        return true;
      }
      auto err = ctx->parser.feed(bytes, [&](std::string text) {
        o.content += text;
        ++o.chunks;
        if (ctx->requester)
          caf::anon_send(ctx->requester, llm_chunk{o.chunks, std::move(text), ctx->tag});
      });
      if (err) {
        o.stream_error = std::move(err);
        return false;
      }
      return true;
    };
    auto me = caf::actor_cast<caf::actor>(self);
    call.on_done = [ctx, me, id](long status, const std::string& error, bool timed_out) {
      auto& o = ctx->outcome;
      if (status != 0)
        o.status = status;
      if (!error.empty() && !o.stream_error)
        o.transport_error = error;
      o.timed_out = timed_out;
      // A stream without its final newline still ends its last event.
      if (!o.stream_error && error.empty() && o.status < 400) {
        auto err = ctx->parser.feed("\n\n", [&](std::string text) {
          o.content += text;
          ++o.chunks;
          if (ctx->requester)
            caf::anon_send(ctx->requester, llm_chunk{o.chunks, std::move(text), ctx->tag});
        });
        if (err)
          o.stream_error = std::move(err);
      }
      o.finished = ctx->parser.finished();
      o.tool_calls = ctx->parser.tool_calls();
      o.finish_reason = ctx->parser.finish_reason();
      caf::anon_send(me, done_atom::value, id, std::move(o));
    };
    engine->submit(std::move(call));
  };

  return {
      [self, launch](generate_atom, llm_request& req) -> caf::result<llm_result> {
        auto wire = build_request(req);
        if (!wire)
          return std::move(wire.error());
        auto endpoint = wire->url;
        auto& b = self->state.breakers[endpoint];
        if (b.failures >= breaker_threshold && std::chrono::steady_clock::now() < b.open_until)
          return api_error(errc::service_unavailable,
                           "the " + req.config.provider + " provider at " + endpoint + " failed " +
                               std::to_string(b.failures) +
                               " times in a row; not calling it for a while");
        // (Before the promise: making it takes the sender out of the current message.)
        auto requester = caf::actor_cast<caf::actor>(self->current_sender());
        auto rp = self->make_response_promise<llm_result>();
        auto id = ++self->state.next_id;
        auto& p = self->state.pending[id];
        p.rp = rp;
        p.requester = std::move(requester);
        p.req = std::move(req);
        p.wire = std::move(*wire);
        p.endpoint = std::move(endpoint);
        launch(id, p);
        return rp;
      },
      [self, launch](done_atom, int64_t id, attempt_outcome& o) {
        auto i = self->state.pending.find(id);
        if (i == self->state.pending.end())
          return;
        auto& p = i->second;
        auto& b = self->state.breakers[p.endpoint];
        bool ok = o.transport_error.empty() && !o.stream_error && o.status >= 200 &&
                  o.status < 300 && (o.finished || !o.finish_reason.empty());
        if (ok) {
          b.failures = 0;
          llm_result res;
          res.content = std::move(o.content);
          res.finish_reason = o.finish_reason.empty() ? "stop" : o.finish_reason;
          res.tool_calls = std::move(o.tool_calls);
          res.prompt_tokens = prompt_tokens(p.req);
          res.completion_tokens = local_model::count_tokens(res.content);
          p.rp.deliver(std::move(res));
          self->state.pending.erase(i);
          return;
        }
        // Retry what may pass on a second try, as long as nothing was streamed yet.
        bool transient =
            (!o.transport_error.empty() && !o.timed_out) || o.status == 429 || o.status >= 500;
        if (transient && o.chunks == 0 && !o.stream_error && p.attempt < max_attempts &&
            o.retry_after_s <= max_retry_after_s) {
          // Exponential backoff, or longer when the provider says when to come back.
          auto backoff = std::max<std::chrono::milliseconds>(
              std::chrono::milliseconds(200) * (1 << (p.attempt - 1)),
              std::chrono::seconds(std::max<int64_t>(0, o.retry_after_s)));
          spdlog::warn("{} provider at {}: attempt {} failed ({}), retrying in {} ms",
                       p.req.config.provider, p.endpoint, p.attempt,
                       o.transport_error.empty() ? "HTTP " + std::to_string(o.status)
                                                 : o.transport_error,
                       backoff.count());
          self->delayed_send(self, backoff, retry_atom::value, id);
          return;
        }
        if (transient || o.timed_out) {
          if (++b.failures >= breaker_threshold)
            b.open_until = std::chrono::steady_clock::now() + breaker_open_for;
        }
        auto err = describe_failure(p, o);
        spdlog::warn("{} provider at {}: {}", p.req.config.provider, p.endpoint,
                     describe(err).message);
        p.rp.deliver(std::move(err));
        self->state.pending.erase(i);
      },
      [self, launch](retry_atom, int64_t id) {
        if (auto i = self->state.pending.find(id); i != self->state.pending.end())
          launch(id, i->second);
      },
  };
}

} // namespace

llm_providers::llm_providers(caf::actor_system& sys, std::chrono::milliseconds timeout)
    : engine_(std::make_shared<http_engine>()), local_(sys.spawn(local_provider_impl, 0)),
      remote_(sys.spawn(remote_provider_impl, engine_, timeout)) {}

llm_providers::~llm_providers() = default;

std::vector<caf::actor> llm_providers::actors() const {
  return {caf::actor_cast<caf::actor>(local_), caf::actor_cast<caf::actor>(remote_)};
}

llm_actor llm_providers::select(const llm_config& config) const {
  return config.provider == "local" ? local_ : remote_;
}

} // namespace chatagent::actors
