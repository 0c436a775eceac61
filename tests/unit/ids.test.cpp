#include "protocol/ids.hpp"

#include "protocol/time.hpp"

#include <ctime>
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
  EXPECT_EQ(format_time(951782400000), "2000-02-29T00:00:00Z"); // a leap day
  EXPECT_EQ(format_time(-1000), "1969-12-31T23:59:59Z");
  EXPECT_EQ(format_time(253402300799000), "9999-12-31T23:59:59Z");
  EXPECT_EQ(format_time(253402300800000), "10000-01-01T00:00:00Z");
  // Agrees with gmtime_r + strftime over centuries, at odd seconds of the day.
  for (int64_t s = -62135596800; s < 4102444800; s += 86400 * 37 + 3671) { // years 1-2100
    auto ms = s * 1000 + 999;
    auto t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    auto n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    ASSERT_EQ(format_time(ms), std::string(buf, n)) << ms;
  }
}
