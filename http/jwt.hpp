#pragma once

#include "protocol/types.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace chatagent::http {

/// What a verified access token says.
struct token_claims {
  protocol::user_id subject;
  protocol::role role = protocol::role::user;
  int64_t issued_at = 0;  // epoch seconds
  int64_t expires_at = 0; // epoch seconds
};

/// Issues and verifies JWT access tokens (HS256 only). Verification rejects every other
/// `alg` (`none` included), checks the signature in constant time, then `exp`.
class token_service {
 public:
  token_service(std::string secret, int64_t ttl_seconds);

  /// A token for `u` valid from `now` (epoch seconds) for the configured lifetime.
  std::string issue(const protocol::user& u, int64_t now) const;

  /// The token's claims; UNAUTHORIZED with a reason (malformed, bad signature, expired).
  /// Safe to call from several threads at once. A token that verified is remembered (a
  /// few hundred of them, by hash): a client sends the same token with every request, and
  /// its next requests only compare it in constant time and check `exp` again.
  caf::expected<token_claims> verify(std::string_view token, int64_t now) const;

  int64_t ttl_seconds() const noexcept { return ttl_; }

 private:
  struct keyed_mac;      // HMAC-SHA256 state with the key already absorbed
  struct verified_cache; // tokens that verified, with their claims
  caf::expected<token_claims> verify_uncached(std::string_view token, int64_t now) const;

  std::shared_ptr<const keyed_mac> mac_;
  std::shared_ptr<verified_cache> verified_;
  int64_t ttl_;
};

/// Signs `header_json`.`payload_json` with HMAC-SHA256 into a compact JWT. Exposed so tests
/// can forge tokens with chosen headers and claims.
std::string sign_jwt(std::string_view header_json, std::string_view payload_json,
                     std::string_view secret);

/// Base64url without padding (RFC 7515).
std::string base64url_encode(std::string_view bytes);

/// Decodes canonical base64url (padding optional); false on an invalid character, length
/// or non-zero trailing bits.
bool base64url_decode(std::string_view text, std::string& out);

} // namespace chatagent::http
