#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace chatagent::actors {

/// What the bots service and the conversations share about each bot without exchanging
/// messages on every chat message: a version of the bot's record, which changes with every
/// change of it (so a conversation keeps the configuration it was given and asks again
/// only after a change), and the bot's activity counters, which conversations add to and
/// the bot's status reads. The durable counters are written with the messages they count;
/// these are their live values.
///
/// Thread-safe. Entries are shared: a conversation keeps its bot's entry, and a removed
/// bot's entry changes its version once more (who asks for the bot then learns it is gone).
class bot_ledger {
 public:
  struct entry {
    std::atomic<uint64_t> version{0};
    std::atomic<int64_t> messages{0};
    std::atomic<int64_t> errors{0};
    std::atomic<int64_t> last_activity_ms{0}; // 0: none yet

    /// The bot's record changed: whoever kept the old one asks again.
    void changed() noexcept { version.fetch_add(1, std::memory_order_release); }

    /// Counts `m` messages and `e` errors at `at_ms`.
    void count(int64_t m, int64_t e, int64_t at_ms) noexcept;
  };

  /// The entry of a bot that now exists, with its stored counters.
  std::shared_ptr<entry> add(std::string_view bot_id, int64_t messages, int64_t errors,
                             int64_t last_activity_ms);

  /// The bot's entry; null when there is no such bot.
  std::shared_ptr<entry> find(std::string_view bot_id) const;

  /// The bot is deleted: its entry leaves the ledger, changed.
  void remove(std::string_view bot_id);

 private:
  struct hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string, std::shared_ptr<entry>, hash, std::equal_to<>> entries_;
};

} // namespace chatagent::actors
