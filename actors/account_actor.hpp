#pragma once

#include "actors/password_hasher.hpp"
#include "protocol/account.hpp"

#include <memory>

#include <caf/fwd.hpp>

namespace chatagent::storage {
class kv_store;
} // namespace chatagent::storage

namespace chatagent::actors {

/// How the accounts actor hashes passwords.
struct account_settings {
  hash_params hashing;
  size_t hash_workers = 2;
};

/// Spawns the accounts actor (see `protocol::account_actor` for its messages).
///
/// It runs detached (it reads and writes RocksDB) and is the only writer of users, which
/// serializes uniqueness checks with inserts. Password hashing runs in `hash_workers`
/// linked, detached workers, so a slow hash never holds up profile reads.
protocol::account_actor spawn_account_actor(caf::actor_system& sys,
                                            std::shared_ptr<storage::kv_store> db,
                                            account_settings settings);

} // namespace chatagent::actors
