#include "actors/password_hasher.hpp"

#include "protocol/error.hpp"

#include <sodium.h>

namespace chatagent::actors {

using protocol::api_error;
using protocol::errc;

namespace {

bool sodium_ready() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

} // namespace

caf::expected<std::string> hash_password(std::string_view password, const hash_params& params) {
  if (!sodium_ready())
    return api_error(errc::internal_error, "libsodium failed to initialize");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), params.opslimit,
                            params.memlimit_bytes, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return api_error(errc::service_unavailable, "not enough memory to hash the password");
  return std::string{out};
}

bool verify_password(std::string_view hash, std::string_view password) {
  if (!sodium_ready() || hash.size() >= crypto_pwhash_STRBYTES)
    return false;
  char buf[crypto_pwhash_STRBYTES] = {};
  hash.copy(buf, hash.size());
  return crypto_pwhash_str_verify(buf, password.data(), password.size()) == 0;
}

} // namespace chatagent::actors
