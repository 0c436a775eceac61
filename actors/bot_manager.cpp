#include "actors/bot_manager.hpp"

#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/plugin_json.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"
#include "storage/chat_store.hpp"

#include <algorithm>
#include <map>
#include <optional>
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

constexpr auto store_timeout = std::chrono::seconds(30);

// -- one bot --------------------------------------------------------------------

/// A live bot: its running state and counters. Later it also owns the bot's platform
/// adapter, which `start`/`stop` connect and disconnect (the `web` platform is the API
/// itself, so a started web bot is online at once).
/// - `start_atom` / `stop_atom` / `status_atom` → the status after the change.
/// - `config_atom, bot` → takes the bot's new configuration.
using bot_actor = caf::typed_actor<
    caf::replies_to<start_atom>::with<bot_status>, caf::replies_to<stop_atom>::with<bot_status>,
    caf::replies_to<status_atom>::with<bot_status>, caf::reacts_to<config_atom, bot>,
    caf::replies_to<inbound_atom, platform_event>::with<platform_ack>,
    caf::reacts_to<online_atom, bool>>;

/// How bots reach their platforms; `services.conversations` is set once the
/// conversations service exists (adapters start then).
struct platform_wiring {
  adapter_factory factory;
  platform_services services;
};

struct bot_state {
  bot_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  bot config;
  bot_status status;
  adapter_actor adapter; // while running on a platform other than web
};

bot_actor::behavior_type bot_impl(bot_actor::stateful_pointer<bot_state> self, bot config,
                                  std::shared_ptr<bot_ledger::entry> counted,
                                  std::shared_ptr<const platform_wiring> wiring) {
  auto& st = self->state;
  st.status.id = config.id;
  st.config = std::move(config);
  // The status with the counters as they are now (conversations count in the ledger).
  auto status = [self, counted] {
    auto s = self->state.status;
    s.message_count = counted->messages.load(std::memory_order_relaxed);
    s.error_count = counted->errors.load(std::memory_order_relaxed);
    s.last_activity_ms = counted->last_activity_ms.load(std::memory_order_relaxed);
    return s;
  };
  auto disconnect = [self] {
    auto& st = self->state;
    if (st.adapter) {
      self->send_exit(st.adapter, caf::exit_reason::user_shutdown);
      st.adapter = adapter_actor{};
    }
    st.status.is_online = false;
  };
  // Runs the bot and connects its adapter; an adapter that cannot start (a bad
  // platform_config) fails the start.
  auto start = [self, wiring, status]() -> caf::result<bot_status> {
    auto& st = self->state;
    if (st.config.platform_type != "web" && !st.adapter && wiring->factory &&
        wiring->services.conversations) {
      auto a = wiring->factory(self->system(), st.config, wiring->services);
      if (!a) {
        st.status.is_online = false;
        return std::move(a.error());
      }
      st.adapter = std::move(*a);
      if (st.adapter)
        self->attach_functor(
            [a = st.adapter] { caf::anon_send_exit(a, caf::exit_reason::user_shutdown); });
    }
    if (!st.status.is_running) {
      st.status.is_running = true;
      st.status.start_time_ms = now_ms();
    }
    st.status.is_online = st.config.platform_type == "web" || static_cast<bool>(st.adapter);
    return status();
  };
  if (st.config.is_active)
    start();
  return {
      [start](start_atom) { return start(); },
      [self, disconnect, status](stop_atom) {
        auto& st = self->state;
        disconnect();
        st.status.is_running = false;
        st.status.start_time_ms = 0;
        return status();
      },
      [status](status_atom) { return status(); },
      [self, disconnect, start](config_atom, bot& b) {
        auto& st = self->state;
        bool reconnect = st.status.is_running && (b.platform_type != st.config.platform_type ||
                                                  b.platform_config != st.config.platform_config);
        st.config = std::move(b);
        if (reconnect) { // the platform changed: a new adapter for it
          disconnect();
          if (auto res = start(); res.flag == caf::rt_error)
            spdlog::warn("bot {}: cannot connect to its platform: {}", st.config.id.value,
                         describe(res.err).message);
        }
      },
      [self](online_atom, bool reachable) {
        auto& st = self->state;
        if (st.status.is_running && st.adapter)
          st.status.is_online = reachable;
      },
      [self](inbound_atom, const platform_event& ev) -> caf::result<platform_ack> {
        auto& st = self->state;
        if (!st.status.is_running || !st.adapter)
          return api_error(errc::service_unavailable,
                           st.status.is_running
                               ? "the bot is not connected to its platform"
                               : "the bot is not running (POST /api/v1/bots/{id}/start)");
        return self->delegate(st.adapter, inbound_atom::value, ev);
      },
  };
}

// -- the directory of bots ------------------------------------------------------------

struct entry {
  bot record;
  bot_actor actor;
  std::shared_ptr<bot_ledger::entry> shared; // its version changes with `record`

  /// The bot's new record; conversations that kept the old one ask again.
  void update(bot b) {
    record = std::move(b);
    shared->changed();
  }
};

struct manager_state {
  manager_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  std::shared_ptr<platform_wiring> wiring;
  std::shared_ptr<bot_ledger> ledger;
  std::unordered_map<std::string, entry> bots;
  std::map<std::string, std::vector<std::string>> by_owner; // ids in creation order
  store_writer_actor writer;
  conversation_manager_actor conversations;
  plugin_registry_actor plugins;
};

bool matches(const bot& b, const bot_query& q) {
  if (!q.platform_type.empty() && b.platform_type != q.platform_type)
    return false;
  if (q.is_active >= 0 && b.is_active != (q.is_active == 1))
    return false;
  if (!q.search.empty()) {
    auto needle = to_lower_ascii(q.search);
    if (to_lower_ascii(b.name).find(needle) == std::string::npos &&
        to_lower_ascii(b.description).find(needle) == std::string::npos)
      return false;
  }
  return true;
}

caf::error no_such_bot() {
  return api_error(errc::not_found, "no such bot", "bot_id", "not found");
}

bot_manager_impl_actor::behavior_type
manager_impl(bot_manager_impl_actor::stateful_pointer<manager_state> self,
             store_writer_actor writer, plugin_registry_actor plugins, std::vector<bot> bots,
             std::unordered_map<std::string, storage::counters> activity, adapter_factory adapters,
             http_client_actor http, std::shared_ptr<bot_ledger> ledger) {
  auto& st = self->state;
  st.ledger = std::move(ledger);
  st.writer = std::move(writer);
  st.plugins = std::move(plugins);
  st.wiring = std::make_shared<platform_wiring>();
  st.wiring->factory = std::move(adapters);
  st.wiring->services.http = std::move(http);
  st.wiring->services.bots = caf::actor_cast<bot_manager_actor>(self);
  for (auto& b : bots) {
    auto id = b.id.value;
    st.by_owner[b.owner.value].push_back(id);
    storage::counters counted;
    if (auto i = activity.find(id); i != activity.end())
      counted = i->second;
    auto shared = st.ledger->add(id, counted.messages, counted.errors, counted.last_at_ms);
    auto actor = self->spawn<caf::linked>(bot_impl, b, shared, st.wiring);
    st.bots.emplace(id, entry{std::move(b), std::move(actor), std::move(shared)});
  }
  // The bot's entry, when it exists and belongs to `owner`.
  auto owned = [self](const user_id& owner, const bot_id& id) -> entry* {
    auto i = self->state.bots.find(id.value);
    if (i == self->state.bots.end() || i->second.record.owner != owner)
      return nullptr;
    return &i->second;
  };
  // Persists `b` and then runs `done`; other messages wait meanwhile, which keeps the
  // order of changes to a bot the order of their requests.
  auto persist = [self](const bot& b, auto done, auto rp) {
    storage::write_batch batch;
    storage::chat_store::put_bot(batch, b);
    self->request(self->state.writer, store_timeout, commit_atom::value, std::move(batch))
        .await([done](bool) mutable { done(); },
               [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  };
  // Installs the plugins that `b.plugins` names but that are not installed yet, with
  // their defaults (enabled when nothing required is missing), then runs `done(b)`.
  // Messages wait meanwhile, as in `persist`.
  auto with_plugins = [self](const user_id& owner, bot b, auto done, auto rp) {
    std::vector<std::string> fresh;
    for (auto& p : b.plugins)
      if (p.installed_at_ms == 0)
        fresh.push_back(p.plugin_id);
    if (fresh.empty()) {
      done(std::move(b));
      return;
    }
    self->request(self->state.plugins, store_timeout, resolve_atom::value, owner, fresh)
        .await(
            [b, done, rp](std::vector<plugin_info>& infos) mutable {
              auto now = now_ms();
              for (auto& p : b.plugins) {
                if (p.installed_at_ms != 0)
                  continue;
                auto info = std::find_if(infos.begin(), infos.end(),
                                         [&](auto& i) { return i.id == p.plugin_id; });
                if (info == infos.end())
                  continue;
                auto cfg = configure_plugin(*info, nullptr, "", false);
                if (!cfg) {
                  rp.deliver(std::move(cfg.error()));
                  return;
                }
                p.config = std::move(*cfg);
                p.enabled = missing_settings(*info, p.config).empty();
                p.installed_at_ms = p.updated_at_ms = now;
              }
              done(std::move(b));
            },
            [rp](caf::error& err) mutable {
              auto info = describe(err);
              if (info.code == errc::not_found)
                rp.deliver(api_error(errc::validation_error, "plugins: " + info.message, "plugins",
                                     "unknown plugin"));
              else
                rp.deliver(std::move(err));
            });
  };
  auto set_active = [self, owned, persist](const user_id& owner, const bot_id& id, bool active,
                                           auto rp) {
    auto e = owned(owner, id);
    if (!e) {
      rp.deliver(no_such_bot());
      return;
    }
    auto next = e->record;
    next.is_active = active;
    next.updated_at_ms = now_ms();
    persist(
        next,
        [self, persist, next, active, rp]() mutable {
          auto i = self->state.bots.find(next.id.value);
          if (i == self->state.bots.end()) {
            rp.deliver(no_such_bot());
            return;
          }
          i->second.update(next);
          auto& actor = i->second.actor;
          auto on_status = [rp](bot_status& s) mutable { rp.deliver(std::move(s)); };
          auto on_error = [rp](caf::error& err) mutable { rp.deliver(std::move(err)); };
          // A bot that cannot connect to its platform is not left marked running.
          auto on_start_error = [self, persist, next, rp](caf::error& err) mutable {
            auto back = next;
            back.is_active = false;
            persist(
                back,
                [self, back, err, rp]() mutable {
                  if (auto i = self->state.bots.find(back.id.value); i != self->state.bots.end())
                    i->second.update(back);
                  rp.deliver(std::move(err));
                },
                rp);
          };
          if (active)
            self->request(actor, store_timeout, start_atom::value).then(on_status, on_start_error);
          else
            self->request(actor, store_timeout, stop_atom::value).then(on_status, on_error);
        },
        rp);
  };
  return {
      [self](connect_atom, conversation_manager_actor& conversations) {
        auto& st = self->state;
        st.conversations = conversations;
        st.wiring->services.conversations = std::move(conversations);
        // Bots that came back running connect to their platforms now.
        for (auto& [id, e] : st.bots)
          if (e.record.is_active && e.record.platform_type != "web")
            self->request(e.actor, store_timeout, start_atom::value)
                .then([](bot_status&) {},
                      [id = id](caf::error& err) {
                        spdlog::warn("bot {}: cannot connect to its platform: {}", id,
                                     describe(err).message);
                      });
      },
      [self](inbound_atom, const bot_id& id,
             const platform_event& ev) -> caf::result<platform_ack> {
        auto i = self->state.bots.find(id.value);
        if (i == self->state.bots.end())
          return no_such_bot();
        return self->delegate(i->second.actor, inbound_atom::value, ev);
      },
      [self, persist, with_plugins](create_atom, const user_id& owner, bot& b) -> caf::result<bot> {
        auto rp = self->make_response_promise<bot>();
        b.id = new_id<bot_id_tag>();
        b.owner = owner;
        b.is_active = false;
        b.created_at_ms = b.updated_at_ms = now_ms();
        with_plugins(
            owner, std::move(b),
            [self, persist, rp](bot b) {
              persist(
                  b,
                  [self, b, rp]() mutable {
                    auto& st = self->state;
                    st.by_owner[b.owner.value].push_back(b.id.value);
                    auto shared = st.ledger->add(b.id.value, 0, 0, 0);
                    auto actor = self->spawn<caf::linked>(bot_impl, b, shared, self->state.wiring);
                    st.bots.emplace(b.id.value, entry{b, std::move(actor), std::move(shared)});
                    rp.deliver(std::move(b));
                  },
                  rp);
            },
            rp);
        return rp;
      },
      [self](list_atom, const user_id& owner, const bot_query& q) {
        bot_page page;
        page.limit = q.limit;
        page.offset = q.offset;
        auto& st = self->state;
        if (auto i = st.by_owner.find(owner.value); i != st.by_owner.end()) {
          for (auto& id : i->second) {
            auto& b = st.bots.at(id).record;
            if (!matches(b, q))
              continue;
            if (page.total >= q.offset && static_cast<int64_t>(page.bots.size()) < q.limit)
              page.bots.push_back(b);
            ++page.total;
          }
        }
        return page;
      },
      [owned](find_atom, const user_id& owner, const bot_id& id) -> caf::result<bot> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_bot();
        return e->record;
      },
      [self, owned, persist, with_plugins](update_atom, const user_id& owner, const bot_id& id,
                                           const std::string& patch) -> caf::result<bot> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_bot();
        auto body = parse_json(patch);
        if (!body)
          return std::move(body.error());
        if (!body->is_object())
          return api_error(errc::validation_error, "the request body must be a JSON object");
        auto next = e->record;
        if (auto err = apply_bot_json(next, *body, false))
          return err;
        next.updated_at_ms = now_ms();
        auto rp = self->make_response_promise<bot>();
        with_plugins(
            owner, std::move(next),
            [self, persist, rp](bot next) {
              persist(
                  next,
                  [self, next, rp]() mutable {
                    auto i = self->state.bots.find(next.id.value);
                    if (i == self->state.bots.end()) {
                      rp.deliver(no_such_bot());
                      return;
                    }
                    i->second.update(next);
                    self->send(i->second.actor, config_atom::value, next);
                    rp.deliver(std::move(next));
                  },
                  rp);
            },
            rp);
        return rp;
      },
      [self, owned](delete_atom, const user_id& owner, const bot_id& id) -> caf::result<bool> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_bot();
        auto rp = self->make_response_promise<bool>();
        storage::write_batch batch;
        storage::chat_store::erase_bot(batch, id);
        self->request(self->state.writer, store_timeout, commit_atom::value, std::move(batch))
            .await(
                [self, id, rp](bool) mutable {
                  auto& st = self->state;
                  if (auto i = st.bots.find(id.value); i != st.bots.end()) {
                    self->unlink_from(i->second.actor);
                    self->send_exit(i->second.actor, caf::exit_reason::user_shutdown);
                    auto& ids = st.by_owner[i->second.record.owner.value];
                    std::erase(ids, id.value);
                    st.bots.erase(i);
                    st.ledger->remove(id.value);
                  }
                  // The bot is gone; now its conversations and messages.
                  self->request(st.conversations, store_timeout, purge_atom::value, id)
                      .then([rp](bool) mutable { rp.deliver(true); },
                            [rp, id](caf::error& err) mutable {
                              spdlog::error("deleting the conversations of bot {}: {}", id.value,
                                            describe(err).message);
                              rp.deliver(std::move(err));
                            });
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self, set_active](start_atom, const user_id& owner, const bot_id& id) {
        auto rp = self->make_response_promise<bot_status>();
        set_active(owner, id, true, rp);
        return rp;
      },
      [self, set_active](stop_atom, const user_id& owner, const bot_id& id) {
        auto rp = self->make_response_promise<bot_status>();
        set_active(owner, id, false, rp);
        return rp;
      },
      [self, owned](status_atom, const user_id& owner,
                    const bot_id& id) -> caf::result<bot_status> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_bot();
        return self->delegate(e->actor, status_atom::value);
      },
      [self](config_atom, const bot_id& id) -> caf::result<bot> {
        auto i = self->state.bots.find(id.value);
        if (i == self->state.bots.end())
          return api_error(errc::not_found, "the bot of this conversation was deleted");
        return i->second.record;
      },
      [self, owned, persist](install_atom, const user_id& owner, const bot_id& id,
                             const std::string& plugin_id, const std::string& body_text,
                             bool creating) -> caf::result<installed_plugin> {
        if (!owned(owner, id))
          return no_such_bot();
        auto body = parse_json(body_text.empty() ? std::string_view{"{}"} : body_text);
        if (!body)
          return std::move(body.error());
        if (!body->is_object())
          return api_error(errc::validation_error, "the request body must be a JSON object");
        std::optional<bool> enabled;
        if (auto e = body->find("enabled"); e && !e->is_null()) {
          if (!e->is_bool())
            return api_error(errc::validation_error, "enabled must be true or false", "enabled",
                             "must be a boolean");
          enabled = e->as_bool();
        }
        auto rp = self->make_response_promise<installed_plugin>();
        self->request(self->state.plugins, store_timeout, resolve_atom::value, owner,
                      std::vector<std::string>{plugin_id})
            .await(
                [self, owned, persist, owner, id, body = std::move(*body), enabled, creating,
                 rp](std::vector<plugin_info>& infos) mutable {
                  auto e = owned(owner, id);
                  if (!e || infos.empty()) {
                    rp.deliver(no_such_bot());
                    return;
                  }
                  auto& info = infos.front();
                  auto next = e->record;
                  auto old = std::find_if(next.plugins.begin(), next.plugins.end(),
                                          [&](auto& p) { return p.plugin_id == info.id; });
                  bool installed = old != next.plugins.end() && old->installed_at_ms != 0;
                  if (creating && installed) {
                    rp.deliver(api_error(errc::duplicate_resource,
                                         "the plugin " + info.id +
                                             " is installed on this bot already; change it with "
                                             "PUT /api/v1/bots/{bot_id}/plugins/" +
                                             info.id,
                                         "plugin_id", "already installed"));
                    return;
                  }
                  if (!creating && !installed) {
                    rp.deliver(api_error(errc::not_found,
                                         "the plugin " + info.id + " is not installed on this bot",
                                         "plugin_id", "not installed"));
                    return;
                  }
                  plugin_install in;
                  if (installed)
                    in = *old;
                  in.plugin_id = info.id;
                  in.enabled = enabled.value_or(installed ? in.enabled : true);
                  auto cfg =
                      configure_plugin(info, body.find("config"),
                                       installed ? std::string_view{in.config} : "", in.enabled);
                  if (!cfg) {
                    rp.deliver(std::move(cfg.error()));
                    return;
                  }
                  in.config = std::move(*cfg);
                  auto now = now_ms();
                  if (!installed)
                    in.installed_at_ms = now;
                  in.updated_at_ms = now;
                  if (old != next.plugins.end())
                    *old = in;
                  else
                    next.plugins.push_back(in);
                  next.updated_at_ms = now;
                  persist(
                      next,
                      [self, next, in, info, rp]() mutable {
                        if (auto i = self->state.bots.find(next.id.value);
                            i != self->state.bots.end()) {
                          i->second.update(next);
                          self->send(i->second.actor, config_atom::value, next);
                        }
                        rp.deliver(installed_plugin{std::move(in), std::move(info)});
                      },
                      rp);
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self, owned, persist](uninstall_atom, const user_id& owner, const bot_id& id,
                             const std::string& plugin_id) -> caf::result<bool> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_bot();
        auto next = e->record;
        auto n = std::erase_if(next.plugins, [&](auto& p) { return p.plugin_id == plugin_id; });
        if (n == 0)
          return api_error(errc::not_found,
                           "the plugin " + plugin_id + " is not installed on this bot", "plugin_id",
                           "not installed");
        next.updated_at_ms = now_ms();
        auto rp = self->make_response_promise<bool>();
        persist(
            next,
            [self, next, rp]() mutable {
              if (auto i = self->state.bots.find(next.id.value); i != self->state.bots.end()) {
                i->second.update(next);
                self->send(i->second.actor, config_atom::value, next);
              }
              rp.deliver(true);
            },
            rp);
        return rp;
      },
      [self, owned](plugins_atom, const user_id& owner,
                    const bot_id& id) -> caf::result<std::vector<installed_plugin>> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_bot();
        auto rp = self->make_response_promise<std::vector<installed_plugin>>();
        self->request(self->state.plugins, store_timeout, list_atom::value, owner)
            .then(
                [installs = e->record.plugins, rp](std::vector<plugin_info>& all) mutable {
                  std::vector<installed_plugin> out;
                  for (auto& in : installs) {
                    installed_plugin x;
                    x.install = in;
                    if (auto i = std::find_if(all.begin(), all.end(),
                                              [&](auto& p) { return p.id == in.plugin_id; });
                        i != all.end())
                      x.info = *i;
                    else
                      x.info.id = in.plugin_id;
                    out.push_back(std::move(x));
                  }
                  rp.deliver(std::move(out));
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](activity_atom, const bot_id& id, int64_t messages, int64_t errors) {
        if (auto i = self->state.bots.find(id.value); i != self->state.bots.end())
          i->second.shared->count(messages, errors, now_ms());
      },
      [self](online_atom, const bot_id& id, bool reachable) {
        if (auto i = self->state.bots.find(id.value); i != self->state.bots.end())
          self->send(i->second.actor, online_atom::value, reachable);
      },
  };
}

} // namespace

bot_manager_impl_actor spawn_bot_manager(
    caf::actor_system& sys, store_writer_actor writer, plugin_registry_actor plugins,
    std::vector<bot> bots, std::unordered_map<std::string, storage::counters> activity,
    adapter_factory adapters, http_client_actor http, std::shared_ptr<bot_ledger> ledger) {
  return sys.spawn(manager_impl, std::move(writer), std::move(plugins), std::move(bots),
                   std::move(activity), std::move(adapters), std::move(http), std::move(ledger));
}

} // namespace chatagent::actors
