#include "http/jwt.hpp"

#include "http/spin_lock.hpp"
#include "protocol/error.hpp"
#include "protocol/json.hpp"

#include <array>
#include <mutex>

#include <sodium.h>

namespace chatagent::http {

using protocol::api_error;
using protocol::errc;

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

using mac_bytes = std::array<unsigned char, crypto_auth_hmacsha256_BYTES>;

crypto_auth_hmacsha256_state keyed_state(std::string_view key) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  return st;
}

/// Finishes a copy of a keyed state over `data`: the key schedule is computed once.
mac_bytes finish_mac(crypto_auth_hmacsha256_state st, std::string_view data) {
  mac_bytes out{};
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(data.data()),
                                data.size());
  crypto_auth_hmacsha256_final(&st, out.data());
  return out;
}

caf::error rejected(std::string why) {
  return api_error(errc::unauthorized, "invalid access token: " + why, "", why);
}

} // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto b = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (b(i) << 16) | (b(i + 1) << 8) | b(i + 2);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back(alphabet[v & 63]);
  }
  if (auto rest = bytes.size() - i; rest == 1) {
    uint32_t v = b(i) << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    uint32_t v = (b(i) << 16) | (b(i + 1) << 8);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
  }
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  if (text.size() % 4 == 1)
    return false;
  out.clear();
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    else
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Canonical encodings only: leftover bits must be zero, or one token would have several
  // spellings.
  return (acc & ((1u << bits) - 1)) == 0;
}

std::string sign_jwt(std::string_view header_json, std::string_view payload_json,
                     std::string_view secret) {
  auto signing_input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  auto mac = finish_mac(keyed_state(secret), signing_input);
  auto sig =
      base64url_encode(std::string_view{reinterpret_cast<const char*>(mac.data()), mac.size()});
  return signing_input + "." + sig;
}

struct token_service::keyed_mac {
  crypto_auth_hmacsha256_state state;
};

/// A direct-mapped table: a token's slot is its hash's, and a newer token in the same slot
/// replaces the older one. Each slot has its own lock, so the I/O threads rarely meet (but
/// do, on one client's token).
struct token_service::verified_cache {
  static constexpr size_t slot_count = 512;
  struct slot {
    spin_lock mtx;
    std::string token;
    token_claims claims;
  };
  std::array<slot, slot_count> slots;

  slot& slot_of(std::string_view token) {
    return slots[std::hash<std::string_view>{}(token) % slot_count];
  }
};

token_service::token_service(std::string secret, int64_t ttl_seconds)
    : mac_(std::make_shared<keyed_mac>(keyed_mac{keyed_state(secret)})),
      verified_(std::make_shared<verified_cache>()), ttl_(ttl_seconds) {}

std::string token_service::issue(const protocol::user& u, int64_t now) const {
  protocol::json_writer payload;
  payload.begin_object()
      .member("sub", u.id.value)
      .member("role", protocol::role_name(u.role))
      .member("iat", now)
      .member("exp", now + ttl_)
      .end_object();
  auto signing_input =
      base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(payload.str());
  auto mac = finish_mac(mac_->state, signing_input);
  return signing_input + "." +
         base64url_encode(std::string_view{reinterpret_cast<const char*>(mac.data()), mac.size()});
}

caf::expected<token_claims> token_service::verify(std::string_view token, int64_t now) const {
  auto& s = verified_->slot_of(token);
  {
    std::lock_guard guard{s.mtx};
    // Constant time, as the signature check: the table must not tell how much of a
    // guessed token matches one it holds.
    if (s.token.size() == token.size() && !token.empty() &&
        sodium_memcmp(s.token.data(), token.data(), token.size()) == 0) {
      if (s.claims.expires_at <= now)
        return rejected("token expired");
      return s.claims;
    }
  }
  auto claims = verify_uncached(token, now);
  if (claims) {
    std::lock_guard guard{s.mtx};
    s.token.assign(token);
    s.claims = *claims;
  }
  return claims;
}

caf::expected<token_claims> token_service::verify_uncached(std::string_view token,
                                                           int64_t now) const {
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return rejected("malformed token");
  std::string header_text;
  if (!base64url_decode(token.substr(0, dot1), header_text))
    return rejected("malformed token");
  auto header = protocol::parse_json(header_text);
  if (!header || !header->is_object())
    return rejected("malformed token");
  auto alg = header->find("alg");
  if (!alg || !alg->is_string() || alg->as_string() != "HS256")
    return rejected("unsupported algorithm");
  std::string sig;
  if (!base64url_decode(token.substr(dot2 + 1), sig) || sig.size() != 32)
    return rejected("bad signature");
  auto mac = finish_mac(mac_->state, token.substr(0, dot2));
  if (sodium_memcmp(mac.data(), sig.data(), mac.size()) != 0)
    return rejected("bad signature");
  std::string payload_text;
  if (!base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), payload_text))
    return rejected("malformed token");
  auto payload = protocol::parse_json(payload_text);
  if (!payload || !payload->is_object())
    return rejected("malformed token");
  auto sub = payload->find("sub");
  auto role = payload->find("role");
  auto iat = payload->find("iat");
  auto exp = payload->find("exp");
  if (!sub || !sub->is_string() || sub->as_string().empty() || !exp || !exp->is_integer() || !iat ||
      !iat->is_integer() || !role || !role->is_string())
    return rejected("missing claims");
  auto parsed_role = protocol::parse_role(role->as_string());
  if (!parsed_role)
    return rejected("missing claims");
  if (exp->as_int() <= now)
    return rejected("token expired");
  token_claims claims;
  claims.subject = protocol::user_id{sub->as_string()};
  claims.role = *parsed_role;
  claims.issued_at = iat->as_int();
  claims.expires_at = exp->as_int();
  return claims;
}

} // namespace chatagent::http
