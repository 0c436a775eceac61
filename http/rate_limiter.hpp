#pragma once

#include "http/spin_lock.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace chatagent::http {

/// The outcome of one rate-limit check, as the `X-RateLimit-*` headers report it.
struct rate_decision {
  bool allowed = true;
  int64_t limit = 0;
  int64_t remaining = 0;
  int64_t reset_at = 0; // epoch seconds at which the window restarts
};

/// Fixed-window request counters per key (a user or a client address), safe to call from
/// every I/O thread at once: keys are spread over independently locked shards. Windows are
/// aligned to multiples of the window length, so `reset_at` is the same for every key.
class rate_limiter {
 public:
  explicit rate_limiter(int64_t window_seconds = 60) : window_(window_seconds) {}

  /// Counts one request for `key` against `limit` per window at time `now` (epoch
  /// seconds). A rejected request does not count.
  rate_decision check(std::string_view key, int64_t limit, int64_t now);

  /// Keys currently tracked (for tests and metrics).
  size_t size() const;

 private:
  struct counter {
    int64_t window_start = 0;
    int64_t count = 0;
  };
  struct key_hash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const noexcept {
      return std::hash<std::string_view>{}(k);
    }
  };
  struct shard {
    mutable spin_lock mtx;
    std::unordered_map<std::string, counter, key_hash, std::equal_to<>> counters;
    int64_t last_sweep = 0;
  };
  static constexpr size_t shard_count = 16;

  int64_t window_;
  std::array<shard, shard_count> shards_;
};

} // namespace chatagent::http
