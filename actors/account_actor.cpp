#include "actors/account_actor.hpp"

#include "protocol/error.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"
#include "storage/user_store.hpp"

#include <chrono>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

// Records carry password hashes: they stay inside this process, never on the wire.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatagent::storage::user_record)

namespace chatagent::actors {

using namespace protocol;
using storage::user_record;

namespace {

using hash_atom = caf::atom_constant<caf::atom("hash")>;
using verify_atom = caf::atom_constant<caf::atom("verify")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using find_atom = caf::atom_constant<caf::atom("find")>;
using check_atom = caf::atom_constant<caf::atom("check")>;
using create_atom = caf::atom_constant<caf::atom("create")>;

constexpr auto hash_timeout = std::chrono::seconds(30);
constexpr auto store_timeout = std::chrono::seconds(10);
constexpr size_t cache_capacity = 100'000;

// -- password hashing workers --------------------------------------------------

/// Hashes and verifies passwords; one request at a time on its own thread.
using hasher_actor =
    caf::typed_actor<caf::replies_to<hash_atom, std::string>::with<std::string>,
                     caf::replies_to<verify_atom, std::string, std::string>::with<bool>>;

hasher_actor::behavior_type hasher_impl(hasher_actor::pointer, hash_params params) {
  return {
      [params](hash_atom, const std::string& password) -> caf::result<std::string> {
        auto h = hash_password(password, params);
        if (!h)
          return std::move(h.error());
        return std::move(*h);
      },
      [](verify_atom, const std::string& hash, const std::string& password) {
        return verify_password(hash, password);
      },
  };
}

// -- the user store: the only reader and writer of users in RocksDB -------------

/// Runs detached (every call may touch the disk). Being the single writer makes
/// "check the indexes, then insert" and "check the caller is admin, then update" atomic.
using user_store_actor =
    caf::typed_actor<caf::replies_to<load_atom, user_id>::with<user_record>,
                     caf::replies_to<find_atom, std::string>::with<user_record>,
                     caf::replies_to<check_atom, std::string, std::string>::with<bool>,
                     caf::replies_to<create_atom, user_record>::with<user_record>,
                     caf::replies_to<set_role_atom, user_id, user_id, role>::with<user_record>,
                     caf::replies_to<bootstrap_atom, std::string, std::string>::with<user_record>>;

struct store_state {
  store_state() = default; // not an aggregate; see account_state
  std::unique_ptr<storage::user_store> users;
};

template <class T>
caf::result<T> to_result(caf::expected<T>&& x) {
  if (!x)
    return std::move(x.error());
  return std::move(*x);
}

user_store_actor::behavior_type store_impl(user_store_actor::stateful_pointer<store_state> self,
                                           std::shared_ptr<storage::kv_store> db) {
  self->state.users = std::make_unique<storage::user_store>(std::move(db));
  return {
      [self](load_atom, const user_id& id) { return to_result(self->state.users->find_by_id(id)); },
      [self](find_atom, const std::string& login) {
        auto& users = *self->state.users;
        return to_result(login.find('@') != std::string::npos ? users.find_by_email(login)
                                                              : users.find_by_username(login));
      },
      [self](check_atom, const std::string& username,
             const std::string& email) -> caf::result<bool> {
        if (auto err = self->state.users->check_available(username, email))
          return err;
        return true;
      },
      [self](create_atom, user_record& rec) -> caf::result<user_record> {
        if (auto err = self->state.users->create(rec))
          return err;
        return std::move(rec);
      },
      [self](set_role_atom, const user_id& acting, const user_id& target,
             role new_role) -> caf::result<user_record> {
        auto& users = *self->state.users;
        auto admin = users.find_by_id(acting);
        if (!admin || admin->info.role != role::admin || !admin->info.is_active)
          return api_error(errc::forbidden, "only an administrator can change roles");
        auto rec = users.find_by_id(target);
        if (!rec)
          return std::move(rec.error());
        rec->info.role = new_role;
        rec->info.updated_at_ms = now_ms();
        if (auto err = users.update(*rec))
          return err;
        return std::move(*rec);
      },
      [self](bootstrap_atom, const std::string& username,
             std::string& hash) -> caf::result<user_record> {
        auto& users = *self->state.users;
        auto now = now_ms();
        auto rec = users.find_by_username(username);
        if (rec) {
          rec->info.role = role::admin;
          rec->info.is_active = true;
          rec->info.updated_at_ms = now;
          rec->password_hash = std::move(hash);
          if (auto err = users.update(*rec))
            return err;
          return std::move(*rec);
        }
        if (rec.error() != errc::not_found)
          return std::move(rec.error());
        user_record fresh;
        fresh.info.id = new_id<user_id_tag>();
        fresh.info.username = username;
        fresh.info.nickname = username;
        fresh.info.email = to_lower_ascii(username) + "@localhost";
        fresh.info.role = role::admin;
        fresh.info.created_at_ms = now;
        fresh.info.updated_at_ms = now;
        fresh.password_hash = std::move(hash);
        if (auto err = users.create(fresh))
          return err;
        return fresh;
      },
  };
}

// -- the accounts actor ---------------------------------------------------------

struct account_state {
  // Declared so the state is not an aggregate: CAF 0.17 would otherwise "construct" it from
  // the actor pointer (C++20 allows parenthesized aggregate initialization).
  account_state() = default;

  user_store_actor store;
  std::vector<hasher_actor> hashers;
  size_t next_hasher = 0;
  // Verified against when a login names no user, so both cases cost the same.
  std::string dummy_hash;
  // Profiles by id. This actor is the only way to change a user, so it is never stale.
  std::unordered_map<std::string, user> cache;

  const hasher_actor& hasher() { return hashers[next_hasher++ % hashers.size()]; }

  void remember(const user& u) {
    if (cache.size() >= cache_capacity && cache.count(u.id.value) == 0)
      cache.erase(cache.begin());
    cache[u.id.value] = u;
  }
};

using account_pointer = account_actor::stateful_pointer<account_state>;

caf::error invalid(std::string field, std::string reason) {
  auto msg = field + " " + reason;
  return api_error(errc::validation_error, std::move(msg), std::move(field), std::move(reason));
}

caf::error validate(const registration& r) {
  if (auto why = check_username(r.username); !why.empty())
    return invalid("username", std::move(why));
  if (auto why = check_email(r.email); !why.empty())
    return invalid("email", std::move(why));
  if (auto why = check_password(r.password); !why.empty())
    return invalid("password", std::move(why));
  if (auto why = check_nickname(r.nickname); !why.empty())
    return invalid("nickname", std::move(why));
  return caf::none;
}

/// Delivers a store's record to `rp` after remembering its profile.
auto deliver_record(account_pointer self, caf::typed_response_promise<user> rp) {
  return [self, rp](user_record& rec) mutable {
    self->state.remember(rec.info);
    rp.deliver(rec.info);
  };
}

auto deliver_error(caf::typed_response_promise<user> rp) {
  return [rp](caf::error& err) mutable { rp.deliver(std::move(err)); };
}

caf::result<user> do_register(account_pointer self, registration r) {
  if (r.nickname.empty())
    r.nickname = r.username;
  if (auto err = validate(r))
    return err;
  auto rp = self->make_response_promise<user>();
  // Fail fast before spending a hash on a taken name; `create` checks again atomically.
  self->request(self->state.store, store_timeout, check_atom::value, r.username, r.email)
      .then(
          [self, rp, r](bool) mutable {
            auto password = std::move(r.password);
            self->request(self->state.hasher(), hash_timeout, hash_atom::value, std::move(password))
                .then(
                    [self, rp, r](std::string& hash) mutable {
                      user_record rec;
                      auto now = now_ms();
                      rec.info.id = new_id<user_id_tag>();
                      rec.info.username = r.username;
                      rec.info.nickname = r.nickname;
                      rec.info.email = r.email;
                      rec.info.created_at_ms = now;
                      rec.info.updated_at_ms = now;
                      rec.password_hash = std::move(hash);
                      self->request(self->state.store, store_timeout, create_atom::value,
                                    std::move(rec))
                          .then(deliver_record(self, rp), deliver_error(rp));
                    },
                    deliver_error(rp));
          },
          deliver_error(rp));
  return rp;
}

caf::result<user> do_login(account_pointer self, const std::string& login, std::string password) {
  auto rp = self->make_response_promise<user>();
  auto verify = [self, rp](std::string hash, std::string password, caf::optional<user> who) {
    self->request(self->state.hasher(), hash_timeout, verify_atom::value, std::move(hash),
                  std::move(password))
        .then(
            [self, rp, who](bool ok) mutable {
              if (!ok || !who || !who->is_active) {
                rp.deliver(api_error(errc::unauthorized, "invalid username or password"));
                return;
              }
              self->state.remember(*who);
              rp.deliver(*who);
            },
            deliver_error(rp));
  };
  self->request(self->state.store, store_timeout, find_atom::value, login)
      .then(
          [verify, password](user_record& rec) mutable {
            verify(std::move(rec.password_hash), std::move(password), rec.info);
          },
          [self, rp, verify, password](caf::error& err) mutable {
            if (err == errc::not_found)
              verify(self->state.dummy_hash, std::move(password), caf::none);
            else
              rp.deliver(std::move(err));
          });
  return rp;
}

caf::result<user> do_get(account_pointer self, const user_id& id) {
  if (auto i = self->state.cache.find(id.value); i != self->state.cache.end())
    return i->second;
  auto rp = self->make_response_promise<user>();
  self->request(self->state.store, store_timeout, load_atom::value, id)
      .then(deliver_record(self, rp), deliver_error(rp));
  return rp;
}

caf::result<user> do_bootstrap(account_pointer self, std::string username, std::string password) {
  if (auto why = check_username(username); !why.empty())
    return invalid("admin_username", std::move(why));
  if (auto why = check_password(password); !why.empty())
    return invalid("admin_password", std::move(why));
  auto rp = self->make_response_promise<user>();
  self->request(self->state.hasher(), hash_timeout, hash_atom::value, std::move(password))
      .then(
          [self, rp, username](std::string& hash) mutable {
            self->request(self->state.store, store_timeout, bootstrap_atom::value, username,
                          std::move(hash))
                .then(deliver_record(self, rp), deliver_error(rp));
          },
          deliver_error(rp));
  return rp;
}

account_actor::behavior_type account_impl(account_pointer self, user_store_actor store,
                                          account_settings settings) {
  self->state.store = store;
  self->link_to(store);
  for (size_t i = 0; i < std::max<size_t>(settings.hash_workers, 1); ++i)
    self->state.hashers.push_back(
        self->spawn<caf::detached + caf::linked>(hasher_impl, settings.hashing));
  // Until the dummy hash is ready an unknown name fails at once, which only matters in
  // the first moments after start.
  self->request(self->state.hasher(), hash_timeout, hash_atom::value,
                std::string{"no such user: dummy password"})
      .then([self](std::string& hash) { self->state.dummy_hash = std::move(hash); },
            [](caf::error&) {});
  return {
      [self](register_atom, registration& r) { return do_register(self, std::move(r)); },
      [self](login_atom, const std::string& login, std::string& password) {
        return do_login(self, login, std::move(password));
      },
      [self](get_atom, const user_id& id) { return do_get(self, id); },
      [self](set_role_atom, const user_id& acting, const user_id& target, role new_role) {
        auto rp = self->make_response_promise<user>();
        self->request(self->state.store, store_timeout, set_role_atom::value, acting, target,
                      new_role)
            .then(deliver_record(self, rp), deliver_error(rp));
        return rp;
      },
      [self](bootstrap_atom, std::string& username, std::string& password) {
        return do_bootstrap(self, std::move(username), std::move(password));
      },
  };
}

} // namespace

account_actor spawn_account_actor(caf::actor_system& sys, std::shared_ptr<storage::kv_store> db,
                                  account_settings settings) {
  auto store = sys.spawn<caf::detached>(store_impl, std::move(db));
  return sys.spawn(account_impl, store, settings);
}

} // namespace chatagent::actors
