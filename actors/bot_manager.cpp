#include "actors/bot_manager.hpp"

#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"
#include "storage/chat_store.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

#include <caf/actor_system.hpp>
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
/// - `activity_atom, messages, errors` → counts work done for the bot.
using bot_actor = caf::typed_actor<
    caf::replies_to<start_atom>::with<bot_status>, caf::replies_to<stop_atom>::with<bot_status>,
    caf::replies_to<status_atom>::with<bot_status>, caf::reacts_to<config_atom, bot>,
    caf::reacts_to<activity_atom, int64_t, int64_t>>;

struct bot_state {
  bot_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  bot config;
  bot_status status;
};

bot_actor::behavior_type bot_impl(bot_actor::stateful_pointer<bot_state> self, bot config,
                                  storage::counters counted) {
  auto& st = self->state;
  st.status.id = config.id;
  st.status.message_count = counted.messages;
  st.status.error_count = counted.errors;
  st.status.last_activity_ms = counted.last_at_ms;
  st.config = std::move(config);
  auto start = [self] {
    auto& st = self->state;
    if (!st.status.is_running) {
      st.status.is_running = true;
      st.status.start_time_ms = now_ms();
    }
    st.status.is_online = st.config.platform_type == "web";
    return st.status;
  };
  if (st.config.is_active)
    start();
  return {
      [start](start_atom) { return start(); },
      [self](stop_atom) {
        auto& st = self->state;
        st.status.is_running = false;
        st.status.is_online = false;
        st.status.start_time_ms = 0;
        return st.status;
      },
      [self](status_atom) { return self->state.status; },
      [self](config_atom, bot& b) { self->state.config = std::move(b); },
      [self](activity_atom, int64_t messages, int64_t errors) {
        auto& s = self->state.status;
        s.message_count += messages;
        s.error_count += errors;
        s.last_activity_ms = now_ms();
      },
  };
}

// -- the directory of bots ------------------------------------------------------------

struct entry {
  bot record;
  bot_actor actor;
};

struct manager_state {
  manager_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  std::unordered_map<std::string, entry> bots;
  std::map<std::string, std::vector<std::string>> by_owner; // ids in creation order
  store_writer_actor writer;
  conversation_manager_actor conversations;
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
             store_writer_actor writer, std::vector<bot> bots,
             std::unordered_map<std::string, storage::counters> activity) {
  auto& st = self->state;
  st.writer = std::move(writer);
  for (auto& b : bots) {
    auto id = b.id.value;
    st.by_owner[b.owner.value].push_back(id);
    storage::counters counted;
    if (auto i = activity.find(id); i != activity.end())
      counted = i->second;
    auto actor = self->spawn<caf::linked>(bot_impl, b, counted);
    st.bots.emplace(id, entry{std::move(b), std::move(actor)});
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
        [self, next, active, rp]() mutable {
          auto i = self->state.bots.find(next.id.value);
          if (i == self->state.bots.end()) {
            rp.deliver(no_such_bot());
            return;
          }
          i->second.record = next;
          auto& actor = i->second.actor;
          auto on_status = [rp](bot_status& s) mutable { rp.deliver(std::move(s)); };
          auto on_error = [rp](caf::error& err) mutable { rp.deliver(std::move(err)); };
          if (active)
            self->request(actor, store_timeout, start_atom::value).then(on_status, on_error);
          else
            self->request(actor, store_timeout, stop_atom::value).then(on_status, on_error);
        },
        rp);
  };
  return {
      [self](connect_atom, conversation_manager_actor& conversations) {
        self->state.conversations = std::move(conversations);
      },
      [self, persist](create_atom, const user_id& owner, bot& b) -> caf::result<bot> {
        auto rp = self->make_response_promise<bot>();
        b.id = new_id<bot_id_tag>();
        b.owner = owner;
        b.is_active = false;
        b.created_at_ms = b.updated_at_ms = now_ms();
        persist(
            b,
            [self, b, rp]() mutable {
              auto& st = self->state;
              st.by_owner[b.owner.value].push_back(b.id.value);
              auto actor = self->spawn<caf::linked>(bot_impl, b, storage::counters{});
              st.bots.emplace(b.id.value, entry{b, std::move(actor)});
              rp.deliver(std::move(b));
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
      [self, owned, persist](update_atom, const user_id& owner, const bot_id& id,
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
        persist(
            next,
            [self, next, rp]() mutable {
              auto i = self->state.bots.find(next.id.value);
              if (i == self->state.bots.end()) {
                rp.deliver(no_such_bot());
                return;
              }
              i->second.record = next;
              self->send(i->second.actor, config_atom::value, next);
              rp.deliver(std::move(next));
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
      [self](activity_atom, const bot_id& id, int64_t messages, int64_t errors) {
        if (auto i = self->state.bots.find(id.value); i != self->state.bots.end())
          self->send(i->second.actor, activity_atom::value, messages, errors);
      },
  };
}

} // namespace

bot_manager_impl_actor
spawn_bot_manager(caf::actor_system& sys, store_writer_actor writer, std::vector<bot> bots,
                  std::unordered_map<std::string, storage::counters> activity) {
  return sys.spawn(manager_impl, std::move(writer), std::move(bots), std::move(activity));
}

} // namespace chatagent::actors
