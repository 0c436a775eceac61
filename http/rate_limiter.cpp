#include "http/rate_limiter.hpp"

#include <mutex>

namespace chatagent::http {

rate_decision rate_limiter::check(std::string_view key, int64_t limit, int64_t now) {
  auto start = now - (now % window_);
  auto& s = shards_[key_hash{}(key) % shard_count];
  rate_decision d;
  d.limit = limit;
  d.reset_at = start + window_;
  std::lock_guard guard{s.mtx};
  // Once per window, forget the keys whose window has passed: memory follows active
  // clients, not every address ever seen.
  if (s.last_sweep != start) {
    std::erase_if(s.counters, [start](const auto& kv) { return kv.second.window_start < start; });
    s.last_sweep = start;
  }
  auto it = s.counters.find(key);
  if (it == s.counters.end())
    it = s.counters.emplace(std::string{key}, counter{start, 0}).first;
  auto& c = it->second;
  if (c.window_start != start) {
    c.window_start = start;
    c.count = 0;
  }
  if (c.count >= limit) {
    d.allowed = false;
    d.remaining = 0;
    return d;
  }
  ++c.count;
  d.remaining = limit - c.count;
  return d;
}

size_t rate_limiter::size() const {
  size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard guard{s.mtx};
    n += s.counters.size();
  }
  return n;
}

} // namespace chatagent::http
