#include "http/rate_limiter.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

using chatagent::http::rate_limiter;

TEST(rate_limiter, counts_down_then_rejects_within_a_window) {
  rate_limiter rl{60};
  const int64_t t = 6'000; // a window boundary
  for (int i = 1; i <= 3; ++i) {
    auto d = rl.check("k", 3, t + i);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.limit, 3);
    EXPECT_EQ(d.remaining, 3 - i);
    EXPECT_EQ(d.reset_at, t + 60);
  }
  auto d = rl.check("k", 3, t + 10);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  // Rejections do not count: the next window starts fresh.
  d = rl.check("k", 3, t + 60);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 2);
  EXPECT_EQ(d.reset_at, t + 120);
}

TEST(rate_limiter, keys_are_independent) {
  rate_limiter rl{60};
  EXPECT_TRUE(rl.check("a", 1, 100).allowed);
  EXPECT_FALSE(rl.check("a", 1, 100).allowed);
  EXPECT_TRUE(rl.check("b", 1, 100).allowed);
}

TEST(rate_limiter, forgets_keys_of_past_windows) {
  rate_limiter rl{60};
  for (int i = 0; i < 1000; ++i)
    rl.check("client" + std::to_string(i), 10, 120);
  EXPECT_EQ(rl.size(), 1000u);
  for (int i = 0; i < 64; ++i) // touch every shard in the next window
    rl.check("later" + std::to_string(i), 10, 180);
  EXPECT_EQ(rl.size(), 64u);
}

TEST(rate_limiter, threads_sharing_a_key_are_counted_exactly) {
  rate_limiter rl{60};
  constexpr int64_t now = 1'700'000'000;
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50'000; ++i)
        if (rl.check("u:one", 123'456, now).allowed)
          ++allowed;
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(allowed.load(), 123'456); // no more than the limit, and no lost increment
  EXPECT_FALSE(rl.check("u:one", 123'456, now).allowed);
}
