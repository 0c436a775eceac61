#include "actors/plugin_registry.hpp"

#include "actors/builtin_plugins.hpp"
#include "actors/http_engine.hpp"
#include "protocol/error.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"

#include <algorithm>

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
        if (info.id == "weather") {
          auto req = build_weather_request(*args, cfg);
          if (!req.error.empty()) {
            self->quit();
            return fail(req.error);
          }
          struct reply {
            long status = 0;
            std::string body;
          };
          auto got = std::make_shared<reply>();
          http_call c;
          c.method = "GET";
          c.url = req.url;
          c.headers.push_back("Accept: application/json");
          c.timeout = settings.timeout;
          c.connect_timeout = std::min(settings.timeout, c.connect_timeout);
          c.public_addresses_only = !settings.allow_private_network;
          c.on_status = [got](long status) { got->status = status; };
          c.on_data = [got](std::string_view bytes) {
            got->body.append(bytes);
            return got->body.size() < (1u << 20);
          };
          auto me = caf::actor_cast<caf::actor>(self);
          c.on_done = [got, me, settings](long status, const std::string& error, bool timed_out) {
            caf::anon_send(me, done_atom::value, status != 0 ? status : got->status,
                           error.empty() ? error
                           : timed_out   ? "the weather service did not answer within " +
                                             std::to_string(settings.timeout.count()) + " ms"
                                       : "the weather service could not be reached: " + error,
                           std::move(got->body));
          };
          self->state.location = req.location;
          self->state.pending = true;
          self->state.rp = self->make_response_promise<tool_outcome>();
          engine->submit(std::move(c));
          // The engine ends the call at the timeout; this is the backstop.
          self->delayed_send(self, settings.timeout + std::chrono::seconds(1), expire_atom::value);
          return self->state.rp;
        }
        self->quit();
        return fail("the plugin " + info.id + " cannot run here");
      },
      [self, finish, fail](done_atom, long status, const std::string& error,
                           const std::string& body) {
        auto& st = self->state;
        if (!st.pending)
          return;
        st.pending = false;
        if (!error.empty())
          st.rp.deliver(fail(error));
        else
          st.rp.deliver(finish(read_weather_answer(status, body, st.location)));
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

plugin_registry_actor::behavior_type registry_impl(plugin_registry_actor::pointer self,
                                                   std::shared_ptr<http_engine> engine,
                                                   plugin_settings settings) {
  return {
      [](list_atom, const user_id&) { return builtin_plugins(); },
      [](resolve_atom, const user_id&,
         const std::vector<std::string>& ids) -> caf::result<std::vector<plugin_info>> {
        std::vector<plugin_info> out;
        for (auto& id : ids) {
          auto p = builtin(id);
          if (p == nullptr)
            return api_error(errc::not_found,
                             "no such plugin '" + id +
                                 "' (GET /api/v1/plugins/available lists them)",
                             "plugin_id", "not found");
          out.push_back(*p);
        }
        return out;
      },
      [](tools_atom, const user_id&, const std::vector<plugin_install>& installs) {
        std::vector<tool_spec> out;
        for (auto& in : installs) {
          if (!in.enabled)
            continue;
          if (auto p = builtin(in.plugin_id))
            out.push_back({p->id,
                           p->tool_description.empty() ? p->description : p->tool_description,
                           p->parameters});
        }
        return out;
      },
      [self, engine, settings](invoke_atom, const user_id&, const plugin_install& install,
                               const tool_call& call) -> caf::result<tool_outcome> {
        auto p = builtin(install.plugin_id);
        if (p == nullptr) {
          tool_outcome o;
          o.content = "the plugin " + install.plugin_id + " is not installed any more";
          return o;
        }
        auto worker = self->spawn(tool_worker, *p, install, call, engine, settings);
        return self->delegate(worker, run_atom::value);
      },
  };
}

} // namespace

plugin_registry_actor spawn_plugin_registry(caf::actor_system& sys,
                                            std::shared_ptr<http_engine> engine,
                                            plugin_settings settings) {
  return sys.spawn(registry_impl, std::move(engine), settings);
}

} // namespace chatagent::actors
