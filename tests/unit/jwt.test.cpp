#include "http/jwt.hpp"

#include "protocol/error.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

using namespace chatagent;
using chatagent::http::base64url_decode;
using chatagent::http::base64url_encode;
using chatagent::http::sign_jwt;
using chatagent::http::token_service;

namespace {

const std::string secret = "0123456789abcdef0123456789abcdef";
constexpr int64_t now = 1'700'000'000;

protocol::user alice() {
  protocol::user u;
  u.id = protocol::user_id{"usr_alice"};
  u.role = protocol::role::premium;
  return u;
}

std::string reason(const caf::error& err) {
  return protocol::describe(err).reason;
}

} // namespace

TEST(base64url, matches_rfc4648_vectors_without_padding) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  std::string out;
  ASSERT_TRUE(base64url_decode("Zm9vYg", out));
  EXPECT_EQ(out, "foob");
  ASSERT_TRUE(base64url_decode("Zm9vYg==", out));
  EXPECT_EQ(out, "foob");
  EXPECT_FALSE(base64url_decode("Zm9v*", out));
  EXPECT_FALSE(base64url_decode("Zm9vYh", out)); // "foob" with a non-zero padding bit
  EXPECT_FALSE(base64url_decode("Z", out));
}

TEST(jwt, issued_token_verifies_with_its_claims) {
  token_service ts{secret, 3600};
  auto token = ts.issue(alice(), now);
  auto claims = ts.verify(token, now + 10);
  ASSERT_TRUE(claims) << protocol::describe(claims.error()).message;
  EXPECT_EQ(claims->subject.value, "usr_alice");
  EXPECT_EQ(claims->role, protocol::role::premium);
  EXPECT_EQ(claims->issued_at, now);
  EXPECT_EQ(claims->expires_at, now + 3600);
}

TEST(jwt, expired_token_is_rejected) {
  token_service ts{secret, 3600};
  auto token = ts.issue(alice(), now);
  auto claims = ts.verify(token, now + 3600);
  ASSERT_FALSE(claims);
  EXPECT_EQ(protocol::describe(claims.error()).code, protocol::errc::unauthorized);
  EXPECT_EQ(reason(claims.error()), "token expired");
}

TEST(jwt, token_signed_with_another_secret_is_rejected) {
  token_service mine{secret, 3600};
  token_service theirs{"another secret another secret 12", 3600};
  auto claims = mine.verify(theirs.issue(alice(), now), now);
  ASSERT_FALSE(claims);
  EXPECT_EQ(reason(claims.error()), "bad signature");
}

TEST(jwt, tampered_payload_is_rejected) {
  token_service ts{secret, 3600};
  auto token = ts.issue(alice(), now);
  auto forged = sign_jwt(R"({"alg":"HS256","typ":"JWT"})",
                         R"({"sub":"usr_alice","role":"admin","iat":1,"exp":9999999999})", "wrong");
  // Keep the real signature, swap in the admin payload.
  auto real_sig = token.substr(token.rfind('.'));
  auto tampered = forged.substr(0, forged.rfind('.')) + real_sig;
  EXPECT_FALSE(ts.verify(tampered, now));
}

TEST(jwt, alg_none_and_other_algorithms_are_rejected) {
  token_service ts{secret, 3600};
  auto payload = R"({"sub":"usr_alice","role":"admin","iat":1,"exp":9999999999})";
  auto none =
      base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + base64url_encode(payload) + ".";
  auto claims = ts.verify(none, now);
  ASSERT_FALSE(claims);
  EXPECT_EQ(reason(claims.error()), "unsupported algorithm");
  // An HS512 header signed with the right key and HS256 is still refused: only HS256 goes.
  auto hs512 = sign_jwt(R"({"alg":"HS512","typ":"JWT"})", payload, secret);
  EXPECT_FALSE(ts.verify(hs512, now));
  auto rs256 = sign_jwt(R"({"alg":"RS256"})", payload, secret);
  EXPECT_FALSE(ts.verify(rs256, now));
}

TEST(jwt, signature_with_altered_padding_bits_is_rejected) {
  token_service ts{secret, 3600};
  auto token = ts.issue(alice(), now);
  // The last of 43 characters carries 4 signature bits and 2 padding bits: set the lowest.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  auto& last = token.back();
  last = alphabet[alphabet.find(last) ^ 1];
  EXPECT_FALSE(ts.verify(token, now));
}

TEST(jwt, malformed_tokens_are_rejected) {
  token_service ts{secret, 3600};
  for (auto t : {"", "abc", "a.b", "a.b.c.d", "....", "!!.??.**"})
    EXPECT_FALSE(ts.verify(t, now)) << t;
}

TEST(jwt, tokens_missing_claims_are_rejected) {
  token_service ts{secret, 3600};
  auto no_exp = sign_jwt(R"({"alg":"HS256"})", R"({"sub":"u","role":"user","iat":1})", secret);
  EXPECT_FALSE(ts.verify(no_exp, now));
  auto bad_role = sign_jwt(R"({"alg":"HS256"})",
                           R"({"sub":"u","role":"root","iat":1,"exp":9999999999})", secret);
  EXPECT_FALSE(ts.verify(bad_role, now));
  auto ok = sign_jwt(R"({"alg":"HS256"})", R"({"sub":"u","role":"user","iat":1,"exp":9999999999})",
                     secret);
  EXPECT_TRUE(ts.verify(ok, now));
}

TEST(jwt, a_remembered_token_still_expires_and_its_neighbours_still_verify) {
  token_service ts{secret, 3600};
  auto token = ts.issue(alice(), now);
  ASSERT_TRUE(ts.verify(token, now + 10));    // verified and remembered
  ASSERT_TRUE(ts.verify(token, now + 20));    // answered from memory
  auto claims = ts.verify(token, now + 3600); // still checked against `exp`
  ASSERT_FALSE(claims);
  EXPECT_EQ(reason(claims.error()), "token expired");
  // A token that differs from the remembered one in its signature's last bits is not it.
  auto altered = token;
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  altered.back() = alphabet[alphabet.find(altered.back()) ^ 4];
  EXPECT_FALSE(ts.verify(altered, now + 10));
  EXPECT_TRUE(ts.verify(token, now + 30));
}

TEST(jwt, many_tokens_verify_with_their_own_claims_from_several_threads) {
  token_service ts{secret, 3600};
  std::vector<std::string> tokens;
  for (int i = 0; i < 2000; ++i) { // more than the remembered ones: slots are reused
    protocol::user u;
    u.id = protocol::user_id{"usr_" + std::to_string(i)};
    tokens.push_back(ts.issue(u, now));
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round)
        for (size_t i = t; i < tokens.size(); i += 2) {
          auto claims = ts.verify(tokens[i], now + 1);
          if (!claims || claims->subject.value != "usr_" + std::to_string(i))
            ++wrong;
        }
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(wrong.load(), 0);
}
