#include "actors/bot_ledger.hpp"

#include <mutex>

namespace chatagent::actors {

void bot_ledger::entry::count(int64_t m, int64_t e, int64_t at_ms) noexcept {
  if (m != 0)
    messages.fetch_add(m, std::memory_order_relaxed);
  if (e != 0)
    errors.fetch_add(e, std::memory_order_relaxed);
  auto last = last_activity_ms.load(std::memory_order_relaxed);
  while (last < at_ms &&
         !last_activity_ms.compare_exchange_weak(last, at_ms, std::memory_order_relaxed)) {
  }
}

std::shared_ptr<bot_ledger::entry> bot_ledger::add(std::string_view bot_id, int64_t messages,
                                                   int64_t errors, int64_t last_activity_ms) {
  auto e = std::make_shared<entry>();
  e->messages = messages;
  e->errors = errors;
  e->last_activity_ms = last_activity_ms;
  std::unique_lock guard{mtx_};
  entries_.insert_or_assign(std::string{bot_id}, e);
  return e;
}

std::shared_ptr<bot_ledger::entry> bot_ledger::find(std::string_view bot_id) const {
  std::shared_lock guard{mtx_};
  auto i = entries_.find(bot_id);
  return i == entries_.end() ? nullptr : i->second;
}

void bot_ledger::remove(std::string_view bot_id) {
  std::shared_ptr<entry> e;
  {
    std::unique_lock guard{mtx_};
    auto i = entries_.find(bot_id);
    if (i == entries_.end())
      return;
    e = std::move(i->second);
    entries_.erase(i);
  }
  e->changed();
}

} // namespace chatagent::actors
