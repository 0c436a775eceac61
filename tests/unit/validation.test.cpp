#include "protocol/validation.hpp"

#include <gtest/gtest.h>

using namespace chatagent::protocol;

TEST(validation, usernames) {
  for (auto ok : {"abc", "user_123", "A-b_C", "abcdefghijabcdefghijabcdefghij12"})
    EXPECT_EQ(check_username(ok), "") << ok;
  for (auto bad :
       {"", "ab", "abcdefghijabcdefghijabcdefghij123", "has space", "user@x", "用户名字", "a.b.c"})
    EXPECT_NE(check_username(bad), "") << bad;
}

TEST(validation, emails) {
  for (auto ok : {"user@example.com", "a.b+tag@sub.example.co", "X_Y@EXAMPLE.ORG"})
    EXPECT_EQ(check_email(ok), "") << ok;
  for (auto bad :
       {"", "plain", "@example.com", "user@", "user@localhost", "a@b@c.com", "us er@example.com",
        "user@-bad.com", "user@exa_mple.com", "user@1.2.3.4", ".a@example.com"})
    EXPECT_NE(check_email(bad), "") << bad;
  EXPECT_NE(check_email(std::string(250, 'a') + "@x.com"), "");
}

TEST(validation, passwords_count_code_points) {
  EXPECT_EQ(check_password("password123"), "");
  EXPECT_NE(check_password("short"), "");
  EXPECT_EQ(check_password("密码密码密码密码"), ""); // 8 code points, 24 bytes
  EXPECT_NE(check_password("密码密码"), "");
  EXPECT_EQ(check_password(std::string(128, 'x')), "");
  EXPECT_NE(check_password(std::string(129, 'x')), "");
}

TEST(validation, nicknames) {
  EXPECT_EQ(check_nickname("用户昵称"), "");
  EXPECT_EQ(check_nickname("Zoë 🚀"), "");
  EXPECT_NE(check_nickname(""), "");
  EXPECT_NE(check_nickname("tab\there"), "");
  EXPECT_NE(check_nickname(std::string(65, 'n')), "");
  EXPECT_NE(check_nickname("\xc3"), "");
}

TEST(validation, utf8_length_and_lower_case) {
  EXPECT_EQ(utf8_length("héllo"), 5u);
  EXPECT_EQ(utf8_length("\xe4\xb8"), std::string_view::npos);
  EXPECT_EQ(to_lower_ascii("User@Example.COM"), "user@example.com");
}
