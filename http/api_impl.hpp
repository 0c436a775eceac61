#pragma once

// The API's internals, shared by the translation units that implement its routes
// (api.cpp: pipeline and accounts; chat_routes.cpp: bots and conversations).

#include "http/api.hpp"
#include "http/rate_limiter.hpp"
#include "protocol/chat_api.hpp"
#include "protocol/form.hpp"
#include "protocol/json.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"

#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <deque>
#include <optional>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::http {

using namespace protocol;

namespace detail {

/// One request in flight, shared by the continuations that answer it.
struct call {
  api_request req;
  std::string request_id;
  rate_decision rate;
  std::optional<token_claims> auth;
  std::string auth_problem; // why a presented token was refused
  std::vector<std::string> params;
  responder done;
  std::chrono::steady_clock::time_point deadline; // set when it enters a bridge
  std::atomic<bool> answered{false};              // the first answer wins: a reply or the deadline
};

using call_ptr = std::shared_ptr<call>;

/// Work that must run inside an actor (to use request/then) on behalf of an I/O thread.
struct bridge_job {
  call_ptr c;
  std::chrono::milliseconds timeout;
  std::function<void(caf::event_based_actor*)> run;
};

} // namespace detail
} // namespace chatagent::http

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::http::detail::bridge_job)

namespace chatagent::http {

namespace detail {

using tick_atom = caf::atom_constant<caf::atom("tick")>;
using steady = std::chrono::steady_clock;

constexpr auto deadline_tick = std::chrono::milliseconds(100);

struct bridge_state {
  bridge_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  // Calls in arrival order, one queue per timeout: within a queue, deadlines are in order.
  std::vector<std::pair<std::chrono::milliseconds,
                        std::deque<std::pair<steady::time_point, std::weak_ptr<call>>>>>
      deadlines;
  bool ticking = false;
};

/// Runs jobs from I/O threads in an actor context, and enforces their deadlines itself:
/// one timer tick per bridge instead of a timeout registered with CAF's clock thread for
/// every request (which wakes that thread each time).
inline caf::behavior bridge_impl(caf::stateful_actor<bridge_state>* self,
                                 std::function<void(const call_ptr&)> expire) {
  return {
      [self](bridge_job& job) {
        auto& queues = self->state.deadlines;
        auto q = std::find_if(queues.begin(), queues.end(),
                              [&](auto& x) { return x.first == job.timeout; });
        if (q == queues.end()) {
          queues.emplace_back(job.timeout,
                              std::deque<std::pair<steady::time_point, std::weak_ptr<call>>>{});
          q = queues.end() - 1;
        }
        job.c->deadline = steady::now() + job.timeout;
        q->second.emplace_back(job.c->deadline, job.c);
        if (!self->state.ticking) {
          self->state.ticking = true;
          self->delayed_send(self, deadline_tick, tick_atom::value);
        }
        job.run(self);
      },
      [self, expire](tick_atom) {
        auto now = steady::now();
        bool left = false;
        for (auto& [timeout, d] : self->state.deadlines) {
          while (!d.empty()) {
            auto c = d.front().second.lock();
            if (c && d.front().first > now && !c->answered.load())
              break;
            if (c && !c->answered.load())
              expire(c);
            d.pop_front();
          }
          left = left || !d.empty();
        }
        if (!left)
          self->state.ticking = false;
        else
          self->delayed_send(self, deadline_tick, tick_atom::value);
      },
  };
}

inline std::string make_request_id() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  auto v = gen();
  std::string id = "req_";
  for (int i = 0; i < 16; ++i)
    id.push_back(hex[(v >> (4 * i)) & 0xF]);
  return id;
}

/// Accepts a client's X-Request-Id when it is short and plain, so that ids can be traced
/// across services; anything else is replaced.
inline bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok)
      return false;
  }
  return true;
}

inline std::vector<std::string_view> split_path(std::string_view target) {
  auto q = target.find('?');
  auto path = target.substr(0, q);
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    auto j = path.find('/', i);
    if (j == std::string_view::npos)
      j = path.size();
    if (j > i)
      out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

/// Writes the member `"error": {"code", "message", "details"}` of an error body (REST) or
/// error event (WebSocket).
inline void write_error_member(json_writer& w, std::string_view code, const error_info& info) {
  w.key("error").begin_object();
  w.member("code", code).member("message", info.message);
  w.key("details").begin_object();
  if (!info.field.empty())
    w.member("field", info.field);
  if (!info.reason.empty())
    w.member("reason", info.reason);
  w.end_object().end_object();
}

inline std::string render_error(const error_info& info, const std::string& request_id) {
  json_writer w;
  w.begin_object();
  write_error_member(w, code_name(info.code), info);
  w.member("timestamp", format_time(now_ms())).member("request_id", request_id);
  w.end_object();
  return w.take();
}

inline void write_user(json_writer& w, const user& u, bool full) {
  w.begin_object()
      .member("id", u.id.value)
      .member("username", u.username)
      .member("nickname", u.nickname)
      .member("email", u.email)
      .member("role", role_name(u.role));
  if (full)
    w.member("is_active", u.is_active);
  w.member("created_at", format_time(u.created_at_ms));
  if (full)
    w.member("updated_at", format_time(u.updated_at_ms));
  w.end_object();
}

inline error_info unknown_role() {
  return {errc::validation_error, "role must be one of user, premium, enterprise, admin", "role",
          "unknown role"};
}

/// Reads an optional string member; an error names the field when it has another type.
inline caf::error read_string(const json_value& obj, const char* name, bool required,
                              std::string& out) {
  auto v = obj.find(name);
  if (v == nullptr || v->is_null()) {
    if (required)
      return api_error(errc::validation_error, std::string{name} + " is required", name,
                       "required");
    return caf::none;
  }
  if (!v->is_string())
    return api_error(errc::validation_error,
                     std::string{name} + " must be a string, not " + std::string{v->type_name()},
                     name, "must be a string");
  out = v->as_string();
  return caf::none;
}

/// The query string's parameters, percent-decoded ('+' is a space).
inline std::vector<std::pair<std::string, std::string>> query_params(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return {};
  return parse_form(target.substr(q + 1));
}

/// Reads the paging and filter parameters of a list request.
class query_reader {
 public:
  explicit query_reader(std::string_view target) : params_(query_params(target)) {}

  const std::string* find(std::string_view name) const {
    for (auto i = params_.rbegin(); i != params_.rend(); ++i)
      if (i->first == name)
        return &i->second;
    return nullptr;
  }

  caf::error integer(std::string_view name, int64_t min, int64_t max, int64_t& out) const {
    auto v = find(name);
    if (v == nullptr)
      return caf::none;
    int64_t n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc{} || end != v->data() + v->size() || n < min || n > max)
      return api_error(errc::validation_error,
                       std::string{name} + " must be an integer from " + std::to_string(min) +
                           " to " + std::to_string(max),
                       std::string{name}, "out of range");
    out = n;
    return caf::none;
  }

  caf::error boolean(std::string_view name, int8_t& out) const {
    auto v = find(name);
    if (v == nullptr || v->empty())
      return caf::none;
    if (*v == "true" || *v == "1")
      out = 1;
    else if (*v == "false" || *v == "0")
      out = 0;
    else
      return api_error(errc::validation_error, std::string{name} + " must be true or false",
                       std::string{name}, "not a boolean");
    return caf::none;
  }

  caf::error text(std::string_view name, size_t max, std::string& out) const {
    auto v = find(name);
    if (v == nullptr)
      return caf::none;
    if (v->size() > max || utf8_length(*v) == std::string_view::npos)
      return api_error(errc::validation_error,
                       std::string{name} + " must be UTF-8 text of at most " + std::to_string(max) +
                           " bytes",
                       std::string{name}, "invalid");
    out = *v;
    return caf::none;
  }

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

inline void write_page_tail(json_writer& w, int64_t total, int64_t limit, int64_t offset) {
  w.member("total", total).member("limit", limit).member("offset", offset);
}

} // namespace detail

using namespace detail;

struct api::impl {
  using handler = void (impl::*)(const call_ptr&);

  struct route {
    std::string_view method;
    std::vector<std::string_view> pattern; // "{}" matches one segment
    bool needs_auth;
    handler fn;
  };

  caf::actor_system& sys;
  account_actor accounts;
  bot_manager_actor bots;
  conversation_manager_actor conversations;
  knowledge_manager_actor knowledge;
  plugin_registry_actor plugins;
  token_service tokens;
  api_settings settings;
  rate_limiter limiter;
  std::vector<caf::actor> bridges;
  std::atomic<size_t> next_bridge{0};
  std::vector<caf::actor> hubs; // WebSocket fan-out, by conversation (ws_routes.cpp)
  std::atomic<uint64_t> next_ws_client{1};
  std::atomic<bool> stopped{false};
  std::vector<route> routes;
  int64_t started_at_ms = now_ms();

  impl(caf::actor_system& s, services svc, token_service t, api_settings cfg)
      : sys(s), accounts(std::move(svc.accounts)), bots(std::move(svc.bots)),
        conversations(std::move(svc.conversations)), knowledge(std::move(svc.knowledge)),
        plugins(std::move(svc.plugins)), tokens(std::move(t)), settings(std::move(cfg)) {
    auto n = std::max<size_t>(sys.scheduler().num_workers(), 1);
    // (CAF 0.17.6 dereferences a null argument tuple when a function-based actor is spawned
    // without arguments, which UBSan reports: these have arguments.)
    auto expire = [this](const call_ptr& c) {
      fail(c, errc::service_unavailable, "the service did not answer in time");
    };
    for (size_t i = 0; i < n; ++i)
      bridges.push_back(sys.spawn(bridge_impl, expire));
    spawn_hubs(n);
    routes = {
        {"GET", {"api", "v1", "health"}, false, &impl::health},
        {"POST", {"api", "v1", "auth", "register"}, false, &impl::register_user},
        {"POST", {"api", "v1", "auth", "login"}, false, &impl::login},
        {"GET", {"api", "v1", "auth", "me"}, true, &impl::me},
        {"PUT", {"api", "v1", "admin", "users", "{}", "role"}, true, &impl::set_role},
        {"POST", {"api", "v1", "bots"}, true, &impl::create_bot},
        {"GET", {"api", "v1", "bots"}, true, &impl::list_bots},
        {"GET", {"api", "v1", "bots", "{}"}, true, &impl::get_bot},
        {"PUT", {"api", "v1", "bots", "{}"}, true, &impl::update_bot},
        {"DELETE", {"api", "v1", "bots", "{}"}, true, &impl::delete_bot},
        {"POST", {"api", "v1", "bots", "{}", "start"}, true, &impl::start_bot},
        {"POST", {"api", "v1", "bots", "{}", "stop"}, true, &impl::stop_bot},
        {"GET", {"api", "v1", "bots", "{}", "status"}, true, &impl::get_bot_status},
        {"GET", {"api", "v1", "bots", "{}", "plugins"}, true, &impl::list_bot_plugins},
        {"POST", {"api", "v1", "bots", "{}", "plugins", "{}"}, true, &impl::install_plugin},
        {"GET", {"api", "v1", "bots", "{}", "plugins", "{}"}, true, &impl::get_bot_plugin},
        {"PUT", {"api", "v1", "bots", "{}", "plugins", "{}"}, true, &impl::update_bot_plugin},
        {"DELETE", {"api", "v1", "bots", "{}", "plugins", "{}"}, true, &impl::uninstall_plugin},
        {"GET", {"api", "v1", "plugins", "available"}, true, &impl::list_available_plugins},
        {"POST", {"api", "v1", "plugins"}, true, &impl::create_plugin},
        {"POST", {"api", "v1", "webhooks", "{}"}, false, &impl::platform_callback},
        {"GET", {"api", "v1", "webhooks", "{}"}, false, &impl::platform_callback},
        {"GET", {"api", "v1", "plugins", "{}"}, true, &impl::get_plugin},
        {"PUT", {"api", "v1", "plugins", "{}"}, true, &impl::update_plugin},
        {"DELETE", {"api", "v1", "plugins", "{}"}, true, &impl::delete_plugin},
        {"POST", {"api", "v1", "conversations"}, true, &impl::create_conversation},
        {"GET", {"api", "v1", "conversations"}, true, &impl::list_conversations},
        {"GET", {"api", "v1", "conversations", "{}"}, true, &impl::get_conversation},
        {"PUT", {"api", "v1", "conversations", "{}"}, true, &impl::update_conversation},
        {"DELETE", {"api", "v1", "conversations", "{}"}, true, &impl::delete_conversation},
        {"POST", {"api", "v1", "conversations", "{}", "messages"}, true, &impl::send_message},
        {"GET", {"api", "v1", "conversations", "{}", "messages"}, true, &impl::list_messages},
        {"POST", {"api", "v1", "knowledge", "bases"}, true, &impl::create_knowledge_base},
        {"GET", {"api", "v1", "knowledge", "bases"}, true, &impl::list_knowledge_bases},
        {"GET", {"api", "v1", "knowledge", "bases", "{}"}, true, &impl::get_knowledge_base},
        {"PUT", {"api", "v1", "knowledge", "bases", "{}"}, true, &impl::update_knowledge_base},
        {"DELETE", {"api", "v1", "knowledge", "bases", "{}"}, true, &impl::delete_knowledge_base},
        {"POST",
         {"api", "v1", "knowledge", "bases", "{}", "documents"},
         true,
         &impl::upload_document},
        {"GET",
         {"api", "v1", "knowledge", "bases", "{}", "documents"},
         true,
         &impl::list_documents},
        {"GET",
         {"api", "v1", "knowledge", "bases", "{}", "documents", "{}"},
         true,
         &impl::get_document},
        {"DELETE",
         {"api", "v1", "knowledge", "bases", "{}", "documents", "{}"},
         true,
         &impl::delete_document},
        {"POST",
         {"api", "v1", "knowledge", "bases", "{}", "search"},
         true,
         &impl::search_knowledge_base},
    };
  }

  /// Runs `fn` inside one of the bridge actors, which answers `c` with a timeout if `fn`'s
  /// requests do not answer it in time. `fn` therefore requests with `caf::infinite`.
  template <class F>
  void in_actor(const call_ptr& c, F&& fn) {
    in_actor(c, settings.actor_timeout, std::forward<F>(fn));
  }

  /// Like `in_actor(c, fn)`, with a deadline of its own.
  template <class F>
  void in_actor(const call_ptr& c, std::chrono::milliseconds timeout, F&& fn) {
    auto& bridge = bridges[next_bridge.fetch_add(1, std::memory_order_relaxed) % bridges.size()];
    caf::anon_send(bridge, bridge_job{c, timeout, std::forward<F>(fn)});
  }

  // -- responses --------------------------------------------------------------

  void finish(const call_ptr& c, unsigned status, std::string body) {
    if (c->answered.exchange(true))
      return; // the deadline answered first
    api_response res;
    res.status = status;
    res.body = std::move(body);
    res.headers.reserve(5);
    res.headers.emplace_back("X-Request-Id", c->request_id);
    res.headers.emplace_back("X-RateLimit-Limit", std::to_string(c->rate.limit));
    res.headers.emplace_back("X-RateLimit-Remaining", std::to_string(c->rate.remaining));
    res.headers.emplace_back("X-RateLimit-Reset", std::to_string(c->rate.reset_at));
    if (status == 429)
      res.headers.emplace_back(
          "Retry-After", std::to_string(std::max<int64_t>(1, c->rate.reset_at - now_ms() / 1000)));
    c->done(std::move(res));
  }

  /// Answers 200 with the full profile of `u`.
  void send_user(const call_ptr& c, const user& u) {
    json_writer w;
    write_user(w, u, true);
    finish(c, 200, w.take());
  }

  void fail(const call_ptr& c, error_info info) {
    if (info.code == errc::internal_error)
      spdlog::error("{} {} {}: {}", c->request_id, c->req.method, c->req.target, info.message);
    auto status = http_status(info.code);
    finish(c, status, render_error(info, c->request_id));
  }

  void fail(const call_ptr& c, const caf::error& err) { fail(c, describe(err)); }

  void fail(const call_ptr& c, errc code, std::string message) {
    fail(c, error_info{code, std::move(message), {}, {}});
  }

  // -- request pipeline -------------------------------------------------------

  call_ptr begin(api_request req, responder done) {
    auto c = std::make_shared<call>();
    c->request_id = acceptable_request_id(req.request_id) ? req.request_id : make_request_id();
    c->req = std::move(req);
    c->done = std::move(done);
    authenticate(*c);
    limit(*c);
    return c;
  }

  void authenticate(call& c) {
    std::string_view h = c.req.authorization;
    if (h.empty())
      return;
    constexpr std::string_view scheme = "Bearer ";
    if (h.size() <= scheme.size() ||
        !std::equal(scheme.begin(), scheme.end(), h.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      c.auth_problem = "the Authorization header must be 'Bearer <token>'";
      return;
    }
    auto claims = tokens.verify(h.substr(scheme.size()), now_ms() / 1000);
    if (claims)
      c.auth = std::move(*claims);
    else
      c.auth_problem = describe(claims.error()).message;
  }

  /// Requests per minute for a user of role `r`.
  int64_t limit_for(role r) const noexcept {
    switch (r) {
    case role::user:
      break;
    case role::premium:
      return settings.limits.premium;
    case role::enterprise:
    case role::admin:
      return settings.limits.enterprise;
    }
    return settings.limits.user;
  }

  void limit(call& c) {
    auto now = now_ms() / 1000;
    // Platforms call from a few addresses for many users: their callbacks are limited per
    // bot, at the highest rate, not per address.
    if (std::string_view t = c.req.target; t.starts_with("/api/v1/webhooks/")) {
      c.rate = limiter.check("w:" + std::string{t.substr(0, t.find('?'))},
                             settings.limits.enterprise, now);
      return;
    }
    if (c.auth) {
      c.rate = limiter.check("u:" + c.auth->subject.value, limit_for(c.auth->role), now);
    } else {
      c.rate = limiter.check("a:" + c.req.client_address, settings.limits.anonymous, now);
    }
  }

  void dispatch(const call_ptr& c) {
    if (!c->rate.allowed) {
      fail(c, errc::rate_limit_exceeded,
           "rate limit of " + std::to_string(c->rate.limit) + " requests per minute exceeded");
      return;
    }
    auto segments = split_path(c->req.target);
    std::string allowed;
    for (auto& r : routes) {
      if (r.pattern.size() != segments.size())
        continue;
      bool match = true;
      for (size_t i = 0; i < segments.size() && match; ++i)
        match = r.pattern[i] == "{}" || r.pattern[i] == segments[i];
      if (!match)
        continue;
      if (r.method != c->req.method) {
        if (!allowed.empty())
          allowed += ", ";
        allowed += r.method;
        continue;
      }
      for (size_t i = 0; i < segments.size(); ++i)
        if (r.pattern[i] == "{}")
          c->params.emplace_back(segments[i]);
      if (r.needs_auth && !c->auth) {
        fail(c, errc::unauthorized,
             c->auth_problem.empty() ? "authentication required: send 'Authorization: Bearer "
                                       "<access_token>'"
                                     : c->auth_problem);
        return;
      }
      (this->*r.fn)(c);
      return;
    }
    if (!allowed.empty()) {
      auto done = c->done;
      c->done = [done, allowed](api_response res) {
        res.headers.emplace_back("Allow", allowed);
        done(std::move(res));
      };
      fail(c, errc::method_not_allowed, c->req.method + " is not allowed here; use " + allowed);
      return;
    }
    fail(c, errc::not_found,
         "no such endpoint: " + c->req.method + " " +
             std::string{c->req.target.substr(0, c->req.target.find('?'))});
  }

  /// Parses a JSON object body, or answers the error and returns nullopt.
  std::optional<json_value> json_body(const call_ptr& c) {
    // JSON under curl's default form type or text/plain is accepted too: quick command-line
    // calls send that. Other types (multipart, XML, ...) are surely not JSON.
    std::string_view ct = c->req.content_type;
    if (!ct.empty() && ct.find("json") == std::string_view::npos &&
        ct.find("application/x-www-form-urlencoded") == std::string_view::npos &&
        ct.find("text/plain") == std::string_view::npos) {
      fail(c, errc::unsupported_media_type, "the request body must be application/json");
      return std::nullopt;
    }
    auto doc = parse_json(c->req.body);
    if (!doc) {
      fail(c, doc.error());
      return std::nullopt;
    }
    if (!doc->is_object()) {
      fail(c, error_info{errc::validation_error, "the request body must be a JSON object", "",
                         "expected an object"});
      return std::nullopt;
    }
    return std::move(*doc);
  }

  std::string token_response(const user& u) {
    auto now = now_ms() / 1000;
    json_writer w;
    w.begin_object()
        .member("success", true)
        .member("access_token", tokens.issue(u, now))
        .member("token_type", "bearer")
        .member("expires_in", tokens.ttl_seconds());
    w.key("user_info");
    write_user(w, u, false);
    w.end_object();
    return w.take();
  }

  // -- handlers ---------------------------------------------------------------

  void health(const call_ptr& c) {
    json_writer w;
    w.begin_object()
        .member("status", "ok")
        .member("version", settings.version)
        .member("uptime_seconds", (now_ms() - started_at_ms) / 1000)
        .member("timestamp", format_time(now_ms()))
        .end_object();
    finish(c, 200, w.take());
  }

  void register_user(const call_ptr& c) {
    auto body = json_body(c);
    if (!body)
      return;
    registration r;
    std::string requested_role;
    for (auto err : {read_string(*body, "username", true, r.username),
                     read_string(*body, "email", true, r.email),
                     read_string(*body, "password", true, r.password),
                     read_string(*body, "nickname", false, r.nickname),
                     read_string(*body, "role", false, requested_role)}) {
      if (err) {
        fail(c, err);
        return;
      }
    }
    if (!requested_role.empty()) {
      auto wanted = parse_role(requested_role);
      if (!wanted) {
        fail(c, unknown_role());
        return;
      }
      if (*wanted != role::user) {
        fail(c, error_info{errc::forbidden,
                           "the " + requested_role +
                               " role is granted by an administrator; "
                               "register as user",
                           "role", "not self-assignable"});
        return;
      }
    }
    in_actor(c, [this, c, r = std::move(r)](caf::event_based_actor* self) mutable {
      self->request(accounts, caf::infinite, register_atom::value, std::move(r))
          .then([this, c](user& u) { finish(c, 201, token_response(u)); },
                [this, c](caf::error& err) { fail(c, err); });
    });
  }

  void login(const call_ptr& c) {
    auto body = json_body(c);
    if (!body)
      return;
    std::string username;
    std::string password;
    for (auto err : {read_string(*body, "username", true, username),
                     read_string(*body, "password", true, password)}) {
      if (err) {
        fail(c, err);
        return;
      }
    }
    in_actor(c, [this, c, username = std::move(username),
                 password = std::move(password)](caf::event_based_actor* self) mutable {
      self->request(accounts, caf::infinite, login_atom::value, std::move(username),
                    std::move(password))
          .then([this, c](user& u) { finish(c, 200, token_response(u)); },
                [this, c](caf::error& err) { fail(c, err); });
    });
  }

  void me(const call_ptr& c) {
    in_actor(c, [this, c](caf::event_based_actor* self) {
      self->request(accounts, caf::infinite, get_atom::value, c->auth->subject)
          .then(
              [this, c](user& u) {
                if (!u.is_active) {
                  fail(c, errc::unauthorized, "this account is disabled");
                  return;
                }
                send_user(c, u);
              },
              [this, c](caf::error& err) {
                if (err == errc::not_found)
                  fail(c, errc::unauthorized, "the account of this token no longer exists");
                else
                  fail(c, err);
              });
    });
  }

  void set_role(const call_ptr& c) {
    auto body = json_body(c);
    if (!body)
      return;
    std::string name;
    if (auto err = read_string(*body, "role", true, name)) {
      fail(c, err);
      return;
    }
    auto r = parse_role(name);
    if (!r) {
      fail(c, unknown_role());
      return;
    }
    in_actor(c, [this, c, r = *r](caf::event_based_actor* self) {
      self->request(accounts, caf::infinite, set_role_atom::value, c->auth->subject,
                    user_id{c->params[0]}, r)
          .then([this, c](user& u) { send_user(c, u); },
                [this, c](caf::error& err) {
                  if (err == errc::not_found)
                    fail(c, errc::not_found, "no such user");
                  else
                    fail(c, err);
                });
    });
  }

  // -- WebSocket (ws_routes.cpp) ------------------------------------------------

  void upgrade(api_request req, std::shared_ptr<ws_outlet> outlet, upgrade_responder done);
  /// A platform connects to bot `bot` over WebSocket (`/api/v1/webhooks/{bot_id}`).
  void platform_upgrade(const call_ptr& c, bot_id bot, std::shared_ptr<ws_outlet> outlet,
                        upgrade_responder done);
  void spawn_hubs(size_t n);

  // -- bots and conversations (chat_routes.cpp) ---------------------------------

  /// Asks `dest` (from a bridge) and answers `status` with `render(writer, reply)`, or the
  /// error. `T` is the reply's type.
  template <class T, class Dest, class Render, class... Ts>
  void ask(const call_ptr& c, const Dest& dest, unsigned status, Render render, Ts... args) {
    in_actor(c, [this, c, dest, status, render, args...](caf::event_based_actor* self) mutable {
      self->request(dest, caf::infinite, std::move(args)...)
          .then(
              [this, c, status, render](T& reply) {
                json_writer w;
                render(w, reply);
                finish(c, status, w.take());
              },
              [this, c](caf::error& err) { fail(c, err); });
    });
  }

  void create_bot(const call_ptr& c);
  void list_bots(const call_ptr& c);
  void get_bot(const call_ptr& c);
  void update_bot(const call_ptr& c);
  void delete_bot(const call_ptr& c);
  void start_bot(const call_ptr& c);
  void stop_bot(const call_ptr& c);
  void get_bot_status(const call_ptr& c);
  void list_bot_plugins(const call_ptr& c);
  void install_plugin(const call_ptr& c);
  void get_bot_plugin(const call_ptr& c);
  void update_bot_plugin(const call_ptr& c);
  void uninstall_plugin(const call_ptr& c);
  void list_available_plugins(const call_ptr& c);
  void create_plugin(const call_ptr& c);
  void platform_callback(const call_ptr& c);
  void get_plugin(const call_ptr& c);
  void update_plugin(const call_ptr& c);
  void delete_plugin(const call_ptr& c);
  void create_conversation(const call_ptr& c);
  void list_conversations(const call_ptr& c);
  void get_conversation(const call_ptr& c);
  void update_conversation(const call_ptr& c);
  void delete_conversation(const call_ptr& c);
  void send_message(const call_ptr& c);
  void list_messages(const call_ptr& c);

  // -- knowledge bases (knowledge_routes.cpp) -------------------------------------

  void create_knowledge_base(const call_ptr& c);
  void list_knowledge_bases(const call_ptr& c);
  void get_knowledge_base(const call_ptr& c);
  void update_knowledge_base(const call_ptr& c);
  void delete_knowledge_base(const call_ptr& c);
  void upload_document(const call_ptr& c);
  void list_documents(const call_ptr& c);
  void get_document(const call_ptr& c);
  void delete_document(const call_ptr& c);
  void search_knowledge_base(const call_ptr& c);
};

} // namespace chatagent::http
