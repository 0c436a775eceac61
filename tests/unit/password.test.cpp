#include "actors/password_hasher.hpp"

#include <gtest/gtest.h>

using namespace chatagent::actors;

TEST(password, hashes_with_argon2id_and_verifies) {
  hash_params quick{1, 8 << 10};
  auto h = hash_password("correct horse", quick);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(verify_password(*h, "correct horse"));
  EXPECT_FALSE(verify_password(*h, "correct horse "));
  EXPECT_FALSE(verify_password("not a hash", "correct horse"));
  // Salted: the same password hashes differently each time.
  EXPECT_NE(*hash_password("correct horse", quick), *h);
}

TEST(password, default_parameters_are_the_interactive_profile) {
  hash_params defaults;
  auto h = hash_password("correct horse", defaults);
  ASSERT_TRUE(h);
  EXPECT_NE(h->find("m=65536,t=2"), std::string::npos) << *h;
  EXPECT_TRUE(verify_password(*h, "correct horse"));
}
