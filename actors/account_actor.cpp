#include "actors/account_actor.hpp"

#include "protocol/error.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"
#include "storage/user_store.hpp"

#include <chrono>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace chatagent::actors {

using namespace protocol;
using storage::user_record;

namespace {

using hash_atom = caf::atom_constant<caf::atom("hash")>;
using verify_atom = caf::atom_constant<caf::atom("verify")>;

/// A worker that hashes and verifies passwords; one request at a time on its own thread.
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

constexpr auto hash_timeout = std::chrono::seconds(30);

struct account_state {
  std::unique_ptr<storage::user_store> users;
  std::vector<hasher_actor> hashers;
  size_t next_hasher = 0;
  // Verified against when a login names no user, so both cases cost the same.
  std::string dummy_hash;

  const hasher_actor& hasher() { return hashers[next_hasher++ % hashers.size()]; }
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

caf::error unauthorized_login() {
  return api_error(errc::unauthorized, "invalid username or password");
}

caf::result<user> do_register(account_pointer self, registration r) {
  if (r.nickname.empty())
    r.nickname = r.username;
  if (auto err = validate(r))
    return err;
  // Fail fast before spending a hash on a taken name; `create` checks again atomically.
  if (self->state.users->find_by_username(r.username))
    return api_error(errc::duplicate_resource, "username is already taken", "username",
                     "already exists");
  if (self->state.users->find_by_email(r.email))
    return api_error(errc::duplicate_resource, "email is already registered", "email",
                     "already exists");
  auto rp = self->make_response_promise<user>();
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
            rec.info.role = role::user;
            rec.info.created_at_ms = now;
            rec.info.updated_at_ms = now;
            rec.password_hash = std::move(hash);
            if (auto err = self->state.users->create(rec))
              rp.deliver(std::move(err));
            else
              rp.deliver(std::move(rec.info));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<user> do_login(account_pointer self, const std::string& login, std::string password) {
  auto& users = *self->state.users;
  auto rec = login.find('@') != std::string::npos ? users.find_by_email(login)
                                                  : users.find_by_username(login);
  if (!rec && rec.error() != errc::not_found)
    return std::move(rec.error());
  auto hash = rec ? rec->password_hash : self->state.dummy_hash;
  auto rp = self->make_response_promise<user>();
  self->request(self->state.hasher(), hash_timeout, verify_atom::value, std::move(hash),
                std::move(password))
      .then(
          [rp, rec](bool ok) mutable {
            if (!ok || !rec || !rec->info.is_active)
              rp.deliver(unauthorized_login());
            else
              rp.deliver(rec->info);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<user> do_set_role(account_pointer self, const user_id& acting, const user_id& target,
                              role new_role) {
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
  return rec->info;
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
            auto& users = *self->state.users;
            auto now = now_ms();
            auto rec = users.find_by_username(username);
            caf::error err;
            if (rec) {
              rec->info.role = role::admin;
              rec->info.is_active = true;
              rec->info.updated_at_ms = now;
              rec->password_hash = std::move(hash);
              err = users.update(*rec);
            } else if (rec.error() == errc::not_found) {
              rec = user_record{};
              rec->info.id = new_id<user_id_tag>();
              rec->info.username = username;
              rec->info.nickname = username;
              rec->info.email = to_lower_ascii(username) + "@localhost";
              rec->info.role = role::admin;
              rec->info.created_at_ms = now;
              rec->info.updated_at_ms = now;
              rec->password_hash = std::move(hash);
              err = users.create(*rec);
            } else {
              err = std::move(rec.error());
            }
            if (err)
              rp.deliver(std::move(err));
            else
              rp.deliver(rec->info);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

account_actor::behavior_type account_impl(account_pointer self,
                                          std::shared_ptr<storage::kv_store> db,
                                          account_settings settings) {
  self->state.users = std::make_unique<storage::user_store>(std::move(db));
  for (size_t i = 0; i < std::max<size_t>(settings.hash_workers, 1); ++i)
    self->state.hashers.push_back(
        self->spawn<caf::detached + caf::linked>(hasher_impl, settings.hashing));
  // Made off this actor's thread: with costly parameters it takes a while. Until it is
  // ready an unknown name fails at once, which only matters in the first moments.
  self->request(self->state.hasher(), hash_timeout, hash_atom::value,
                std::string{"no such user: dummy password"})
      .then([self](std::string& hash) { self->state.dummy_hash = std::move(hash); },
            [](caf::error&) {});
  return {
      [self](register_atom, registration& r) { return do_register(self, std::move(r)); },
      [self](login_atom, const std::string& login, std::string& password) {
        return do_login(self, login, std::move(password));
      },
      [self](get_atom, const user_id& id) -> caf::result<user> {
        auto rec = self->state.users->find_by_id(id);
        if (!rec)
          return std::move(rec.error());
        return std::move(rec->info);
      },
      [self](set_role_atom, const user_id& acting, const user_id& target, role new_role) {
        return do_set_role(self, acting, target, new_role);
      },
      [self](bootstrap_atom, std::string& username, std::string& password) {
        return do_bootstrap(self, std::move(username), std::move(password));
      },
  };
}

} // namespace

account_actor spawn_account_actor(caf::actor_system& sys, std::shared_ptr<storage::kv_store> db,
                                  account_settings settings) {
  return sys.spawn<caf::detached>(account_impl, std::move(db), settings);
}

} // namespace chatagent::actors
