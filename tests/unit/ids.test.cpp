#include "protocol/ids.hpp"

#include "protocol/time.hpp"

#include <set>
#include <thread>

#include <gtest/gtest.h>

using namespace chatagent::protocol;

TEST(ids, have_prefix_and_fixed_length_and_are_unique) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    auto id = new_id<user_id_tag>();
    ASSERT_EQ(id.value.rfind("usr_", 0), 0u);
    ASSERT_EQ(id.value.size(), 4u + 26u);
    ASSERT_TRUE(seen.insert(id.value).second);
  }
}

TEST(ids, sort_by_creation_time) {
  auto a = make_ulid("x_");
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  auto b = make_ulid("x_");
  EXPECT_LT(a, b);
}

TEST(time, formats_utc_seconds) {
  EXPECT_EQ(format_time(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_time(1704067200123), "2024-01-01T00:00:00Z");
}
