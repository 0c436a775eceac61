#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace chatagent::actors {

/// argon2id cost parameters.
struct hash_params {
  unsigned long long opslimit = 2;
  size_t memlimit_bytes = size_t{64} << 20;
};

/// Hashes `password` with argon2id into libsodium's self-describing string format
/// (`$argon2id$v=19$m=...,t=...,p=1$salt$hash`). CPU- and memory-heavy: call from a worker.
caf::expected<std::string> hash_password(std::string_view password, const hash_params& params);

/// True when `password` matches `hash` (a string from `hash_password`, whatever parameters
/// it was made with). Constant-time in the comparison; as slow as hashing.
bool verify_password(std::string_view hash, std::string_view password);

} // namespace chatagent::actors
