#include "actors/plugin_registry.hpp"

#include "actors/builtin_plugins.hpp"
#include "actors/http_engine.hpp"
#include "protocol/error.hpp"
#include "protocol/plugin_json.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"
#include "storage/chat_store.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::actors {

using namespace protocol;

namespace {

using run_atom = caf::atom_constant<caf::atom("run")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;

/// Runs one tool call and stops: `run_atom` → the outcome, at the latest when the
/// plugin's timeout expires.
using tool_worker_actor =
    caf::typed_actor<caf::replies_to<run_atom>::with<tool_outcome>,
                     caf::reacts_to<done_atom, long, std::string, std::string>,
                     caf::reacts_to<expire_atom>>;

struct worker_state {
  worker_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  caf::typed_response_promise<tool_outcome> rp;
  bool pending = false;
  std::string location;
  std::chrono::steady_clock::time_point started;
};

/// Cuts `s` to at most `max` bytes without splitting a UTF-8 character.
void clip(std::string& s, size_t max) {
  if (s.size() <= max)
    return;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
    --n;
  s.resize(n);
  s += " …(cut)";
}

std::string percent_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char hex[] = "0123456789ABCDEF";
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

/// A JSON value as text: strings as they are, anything else as JSON.
std::string text_of(const json_value& v) {
  if (v.is_string())
    return v.as_string();
  json_writer w;
  w.value(v);
  return w.take();
}

/// Replaces `{{config.<name>}}` in `s` by the setting's value (`encode`d); unknown
/// settings become empty.
template <class Encode>
std::string fill(std::string_view s, const json_value& config, Encode encode) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    auto open = s.find("{{config.", pos);
    auto close = open == std::string_view::npos ? open : s.find("}}", open);
    if (close == std::string_view::npos) {
      out.append(s.substr(pos));
      return out;
    }
    out.append(s.substr(pos, open - pos));
    auto name = s.substr(open + 9, close - open - 9);
    if (auto v = config.find(name); v && !v->is_null())
      out += encode(text_of(*v));
    pos = close + 2;
  }
}

/// The request to a user's HTTP plugin: the arguments as a JSON body, or as query
/// parameters for GET and DELETE; settings filled into the URL and the headers.
http_call endpoint_call(const plugin_info& p, const json_value& args, const json_value& config) {
  http_call c;
  c.method = p.endpoint_method;
  c.url = fill(p.endpoint_url, config, percent_encode);
  bool in_query = c.method == "GET" || c.method == "DELETE";
  if (in_query && args.is_object() && !args.as_object().empty()) {
    char sep = c.url.find('?') == std::string::npos ? '?' : '&';
    for (auto& [k, v] : args.as_object()) {
      c.url += sep;
      c.url += percent_encode(k) + "=" + percent_encode(text_of(v));
      sep = '&';
    }
  }
  if (!in_query) {
    json_writer w;
    w.value(args);
    c.body = w.take();
    c.headers.push_back("Content-Type: application/json");
  }
  c.headers.push_back("Accept: application/json, text/plain;q=0.9, */*;q=0.5");
  c.headers.push_back("User-Agent: ChatAgent-plugin/1.0");
  if (auto h = parse_json(p.endpoint_headers); h && h->is_object())
    for (auto& [name, value] : h->as_object()) {
      if (!value.is_string())
        continue;
      auto v = fill(value.as_string(), config, [](std::string x) {
        std::erase_if(x, [](char ch) { return ch == '\r' || ch == '\n'; });
        return x;
      });
      c.headers.push_back(name + ": " + v);
    }
  return c;
}

tool_worker_actor::behavior_type tool_worker(tool_worker_actor::stateful_pointer<worker_state> self,
                                             plugin_info info, plugin_install install,
                                             tool_call call, std::shared_ptr<http_engine> engine,
                                             plugin_settings settings) {
  self->state.started = std::chrono::steady_clock::now();
  auto finish = [self, settings](tool_outcome o) {
    o.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - self->state.started)
                        .count();
    clip(o.content, settings.max_result_bytes);
    return o;
  };
  auto fail = [finish](std::string why) {
    tool_outcome o;
    o.content = std::move(why);
    return finish(std::move(o));
  };
  return {
      [self, info, install, call, engine, settings, finish,
       fail](run_atom) -> caf::result<tool_outcome> {
        auto args = parse_json(call.arguments.empty() ? std::string_view{"{}"} : call.arguments);
        if (!args || !args->is_object()) {
          self->quit();
          return fail("the arguments must be a JSON object matching the tool's parameters; got: " +
                      call.arguments.substr(0, 200));
        }
        auto config = parse_json(install.config);
        json_value cfg = config && config->is_object() ? std::move(*config) : json_value{};
        if (info.id == "calculator") {
          self->quit();
          return finish(run_calculator(*args));
        }
        if (info.id == "datetime") {
          self->quit();
          return finish(run_datetime(*args, cfg, now_ms()));
        }
        // An HTTP exchange: the weather API, or the endpoint of a plugin a user declared.
        http_call c;
        std::string service;
        if (info.owner.empty() && info.id == "weather") {
          auto req = build_weather_request(*args, cfg);
          if (!req.error.empty()) {
            self->quit();
            return fail(req.error);
          }
          c.method = "GET";
          c.url = req.url;
          c.headers.push_back("Accept: application/json");
          service = "the weather service";
          self->state.location = req.location;
        } else if (!info.owner.empty()) {
          c = endpoint_call(info, *args, cfg);
          service = "the endpoint of " + info.id;
        } else {
          self->quit();
          return fail("the plugin " + info.id + " cannot run here");
        }
        struct reply {
          long status = 0;
          std::string body;
        };
        auto got = std::make_shared<reply>();
        c.timeout = settings.timeout;
        c.connect_timeout = std::min(settings.timeout, c.connect_timeout);
        c.public_addresses_only = !settings.allow_private_network;
        c.on_status = [got](long status) { got->status = status; };
        c.on_data = [got](std::string_view bytes) {
          got->body.append(bytes);
          return got->body.size() < (1u << 20);
        };
        auto me = caf::actor_cast<caf::actor>(self);
        c.on_done = [got, me, settings, service](long status, const std::string& error,
                                                 bool timed_out) {
          caf::anon_send(me, done_atom::value, status != 0 ? status : got->status,
                         error.empty() ? error
                         : timed_out   ? service + " did not answer within " +
                                           std::to_string(settings.timeout.count()) + " ms"
                                     : service + " could not be reached: " + error,
                         std::move(got->body));
        };
        self->state.pending = true;
        self->state.rp = self->make_response_promise<tool_outcome>();
        engine->submit(std::move(c));
        // The engine ends the call at the timeout; this is the backstop.
        self->delayed_send(self, settings.timeout + std::chrono::seconds(1), expire_atom::value);
        return self->state.rp;
      },
      [self, info, finish, fail](done_atom, long status, const std::string& error,
                                 const std::string& body) {
        auto& st = self->state;
        if (!st.pending)
          return;
        st.pending = false;
        if (!error.empty()) {
          st.rp.deliver(fail(error));
        } else if (info.owner.empty()) {
          st.rp.deliver(finish(read_weather_answer(status, body, st.location)));
        } else if (status >= 200 && status < 300) {
          tool_outcome o;
          o.ok = true;
          o.content =
              body.empty() ? "(an empty answer, HTTP " + std::to_string(status) + ")" : body;
          st.rp.deliver(finish(std::move(o)));
        } else {
          st.rp.deliver(fail("the endpoint answered HTTP " + std::to_string(status) +
                             (body.empty() ? std::string{} : ": " + body.substr(0, 2000))));
        }
        self->quit();
      },
      [self, fail, settings](expire_atom) {
        auto& st = self->state;
        if (st.pending) {
          st.pending = false;
          st.rp.deliver(fail("the tool did not answer within " +
                             std::to_string(settings.timeout.count()) + " ms"));
        }
        self->quit();
      },
  };
}

const plugin_info* builtin(std::string_view id) {
  for (auto& p : builtin_plugins())
    if (p.id == id)
      return &p;
  return nullptr;
}

struct registry_state {
  registry_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  // Plugins users declared: owner → id → plugin.
  std::unordered_map<std::string, std::map<std::string, plugin_info>> custom;
};

caf::error no_such_plugin(const std::string& id) {
  return api_error(errc::not_found,
                   "no such plugin '" + id + "' (GET /api/v1/plugins/available lists them)",
                   "plugin_id", "not found");
}

plugin_registry_actor::behavior_type
registry_impl(plugin_registry_actor::stateful_pointer<registry_state> self,
              std::shared_ptr<http_engine> engine, plugin_settings settings,
              store_writer_actor writer, std::vector<plugin_info> declared) {
  for (auto& p : declared)
    self->state.custom[p.owner.value].emplace(p.id, std::move(p));
  // The plugin `id` as `user` sees it: built in, or one of theirs.
  auto lookup = [self](const user_id& user, const std::string& id) -> const plugin_info* {
    if (auto b = builtin(id))
      return b;
    auto& st = self->state;
    if (auto u = st.custom.find(user.value); u != st.custom.end())
      if (auto p = u->second.find(id); p != u->second.end())
        return &p->second;
    return nullptr;
  };
  // Stores `p` (or erases it) and then answers `rp` with `done()`; other messages wait.
  auto persist = [self, writer](storage::write_batch batch, auto done, auto rp) {
    self->request(writer, std::chrono::seconds(30), commit_atom::value, std::move(batch))
        .await([done](bool) mutable { done(); },
               [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  };
  // Stores a user's plugin `p` (new or changed), then answers it.
  auto store = [self, persist](plugin_info p) {
    storage::write_batch batch;
    storage::chat_store::put_plugin(batch, p);
    auto rp = self->make_response_promise<plugin_info>();
    persist(
        std::move(batch),
        [self, p, rp]() mutable {
          self->state.custom[p.owner.value][p.id] = p;
          rp.deliver(std::move(p));
        },
        rp);
    return rp;
  };
  return {
      [self](list_atom, const user_id& user) {
        auto out = builtin_plugins();
        if (auto u = self->state.custom.find(user.value); u != self->state.custom.end())
          for (auto& [id, p] : u->second)
            out.push_back(p);
        return out;
      },
      [lookup](resolve_atom, const user_id& user,
               const std::vector<std::string>& ids) -> caf::result<std::vector<plugin_info>> {
        std::vector<plugin_info> out;
        for (auto& id : ids) {
          auto p = lookup(user, id);
          if (p == nullptr)
            return no_such_plugin(id);
          out.push_back(*p);
        }
        return out;
      },
      [lookup](tools_atom, const user_id& user, const std::vector<plugin_install>& installs) {
        std::vector<tool_spec> out;
        for (auto& in : installs) {
          if (!in.enabled)
            continue;
          if (auto p = lookup(user, in.plugin_id))
            out.push_back({p->id,
                           p->tool_description.empty() ? p->description : p->tool_description,
                           p->parameters});
        }
        return out;
      },
      [self, lookup, engine, settings](invoke_atom, const user_id& user,
                                       const plugin_install& install,
                                       const tool_call& call) -> caf::result<tool_outcome> {
        auto p = lookup(user, install.plugin_id);
        if (p == nullptr) {
          tool_outcome o;
          o.content = "the plugin " + install.plugin_id + " does not exist any more";
          return o;
        }
        auto worker = self->spawn(tool_worker, *p, install, call, engine, settings);
        return self->delegate(worker, run_atom::value);
      },
      [lookup](find_atom, const user_id& user, const std::string& id) -> caf::result<plugin_info> {
        auto p = lookup(user, id);
        if (p == nullptr)
          return no_such_plugin(id);
        return *p;
      },
      [self, lookup, store](create_atom, const user_id& user,
                            const std::string& body_text) -> caf::result<plugin_info> {
        auto body = parse_json(body_text);
        if (!body)
          return std::move(body.error());
        if (!body->is_object())
          return api_error(errc::validation_error, "the request body must be a JSON object");
        plugin_info p;
        p.category = "custom";
        p.author = user.value;
        if (auto err = apply_custom_plugin_json(p, *body, true))
          return err;
        if (lookup(user, p.id) != nullptr)
          return api_error(errc::duplicate_resource,
                           "a plugin named '" + p.id + "' exists already" +
                               (builtin(p.id) ? " (built in)" : ""),
                           "id", "taken");
        if (self->state.custom[user.value].size() >= 100)
          return api_error(errc::validation_error, "a user may declare at most 100 plugins", "id",
                           "too many");
        p.owner = user;
        p.created_at_ms = p.updated_at_ms = now_ms();
        return store(std::move(p));
      },
      [self, store](update_atom, const user_id& user, const std::string& id,
                    const std::string& body_text) -> caf::result<plugin_info> {
        const plugin_info* existing = nullptr;
        if (auto u = self->state.custom.find(user.value); u != self->state.custom.end())
          if (auto i = u->second.find(id); i != u->second.end())
            existing = &i->second;
        if (existing == nullptr)
          return builtin(id) ? api_error(errc::forbidden, "built-in plugins cannot be changed",
                                         "plugin_id", "built in")
                             : no_such_plugin(id);
        auto body = parse_json(body_text);
        if (!body)
          return std::move(body.error());
        if (!body->is_object())
          return api_error(errc::validation_error, "the request body must be a JSON object");
        auto p = *existing;
        if (auto err = apply_custom_plugin_json(p, *body, false))
          return err;
        p.updated_at_ms = now_ms();
        return store(std::move(p));
      },
      [self, persist](delete_atom, const user_id& user,
                      const std::string& id) -> caf::result<bool> {
        auto u = self->state.custom.find(user.value);
        if (u == self->state.custom.end() || u->second.count(id) == 0)
          return builtin(id) ? api_error(errc::forbidden, "built-in plugins cannot be deleted",
                                         "plugin_id", "built in")
                             : no_such_plugin(id);
        storage::write_batch batch;
        storage::chat_store::erase_plugin(batch, user, id);
        auto rp = self->make_response_promise<bool>();
        persist(
            std::move(batch),
            [self, user, id, rp]() mutable {
              if (auto u = self->state.custom.find(user.value); u != self->state.custom.end())
                u->second.erase(id);
              rp.deliver(true);
            },
            rp);
        return rp;
      },
  };
}

} // namespace

plugin_registry_actor spawn_plugin_registry(caf::actor_system& sys,
                                            std::shared_ptr<http_engine> engine,
                                            plugin_settings settings, store_writer_actor writer,
                                            std::vector<plugin_info> declared) {
  return sys.spawn(registry_impl, std::move(engine), settings, std::move(writer),
                   std::move(declared));
}

} // namespace chatagent::actors
