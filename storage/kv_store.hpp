#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace chatagent::storage {

/// The column families of the database, one per kind of record (see docs/storage.md).
enum class family : uint8_t {
  meta,                // schema version and other database-wide facts
  users,               // user id -> user record (JSON)
  user_names,          // lower-cased username -> user id
  user_emails,         // lower-cased email -> user id
  bots,                // bot id -> bot record (JSON)
  conversations,       // conversation id -> conversation record (JSON)
  conversation_index,  // u/<user id>/<conversation id> -> bot id; b/<bot id>/<conversation id>
  messages,            // <conversation id>/<seq, 16 hex digits> -> message record (JSON)
  bot_activity,        // bot id -> counters (3 x int64 little-endian), merged with `merge`
  knowledge_bases,     // knowledge base id -> knowledge base record (JSON)
  knowledge_documents, // <base id>/<document id> -> document record (JSON)
  knowledge_chunks,    // <base id>/<chunk id, 16 hex digits> -> chunk record (JSON)
  knowledge_vectors,   // <base id>/<chunk id, 16 hex digits> -> float32 little-endian
  plugins,             // <owner user id>/<plugin id> -> a user's plugin (JSON)
};

/// The value of a `family::bot_activity` record or merge operand.
struct counters {
  int64_t messages = 0;
  int64_t errors = 0;
  int64_t last_at_ms = 0; // merged by maximum
};

std::string encode_counters(const counters& c);
/// False when `bytes` is not a counters record.
bool decode_counters(std::string_view bytes, counters& out);

/// A set of writes applied atomically by `kv_store::write`. The writes are encoded one after
/// another in a single buffer: a batch is built on one thread and applied (and freed) on
/// the store writer's, and one block crosses threads more cheaply than two strings per
/// write.
class write_batch {
 public:
  void put(family f, std::string_view key, std::string_view value) {
    add(f, kind::put, key, value);
  }
  void erase(family f, std::string_view key) { add(f, kind::erase, key, {}); }
  /// Erases every key that starts with `prefix`.
  void erase_prefix(family f, std::string_view prefix) { add(f, kind::erase_prefix, prefix, {}); }
  /// Adds `value` to the counters at `key` (only `family::bot_activity` has a merge rule:
  /// its values are `encode_counters` records, summed, the last field by maximum).
  void merge(family f, std::string_view key, std::string_view value) {
    add(f, kind::merge, key, value);
  }
  /// Appends `other`'s writes after this batch's.
  void append(write_batch&& other) {
    if (count_ == 0) {
      *this = std::move(other);
    } else {
      data_.append(other.data_);
      count_ += other.count_;
    }
    other.data_.clear();
    other.count_ = 0;
  }
  bool empty() const noexcept { return count_ == 0; }
  size_t size() const noexcept { return count_; }

 private:
  friend class kv_store;
  enum class kind : uint8_t { put, erase, erase_prefix, merge };
  struct op {
    family fam;
    kind what;
    std::string_view key;
    std::string_view value;
  };

  // Each write: family, kind, key size and value size (4 bytes each, native order), key,
  // value.
  void add(family f, kind k, std::string_view key, std::string_view value);
  /// Calls `fn(const op&)` for each write, in order; stops at the first that returns an
  /// error and returns it.
  template <class F>
  caf::error for_each(F&& fn) const;

  std::string data_;
  size_t count_ = 0;
};

/// The RocksDB database in the data directory. Thread-safe. `write` returns only once the
/// batch is durable: the write-ahead log is synced, and concurrent writers share one sync
/// (RocksDB's group commit).
class kv_store {
 public:
  ~kv_store();
  kv_store(const kv_store&) = delete;
  kv_store& operator=(const kv_store&) = delete;

  struct open_options {
    /// MiB per second that flushes and compactions may write together; 0: no limit.
    int64_t write_rate_mb = 0;
    /// MiB of write-ahead log kept at most: beyond it, the column families whose data
    /// holds the oldest log file are flushed so that it can go. 0: RocksDB's own limit.
    int64_t wal_limit_mb = 1024;
  };

  /// Opens (creating if needed) the database in `dir`. Fails with a one-line reason when
  /// the directory is unusable or another process holds it.
  static caf::expected<std::shared_ptr<kv_store>> open(const std::string& dir,
                                                       const open_options& opts);
  static caf::expected<std::shared_ptr<kv_store>> open(const std::string& dir) {
    return open(dir, open_options{});
  }

  /// The value at `key`; NOT_FOUND error when absent.
  caf::expected<std::string> get(family f, std::string_view key) const;

  /// Applies `batch` atomically and durably.
  caf::error write(write_batch batch);

  /// Calls `fn(key, value)` for each key starting with `prefix`, in order, until it
  /// returns false.
  caf::error scan(family f, std::string_view prefix,
                  const std::function<bool(std::string_view, std::string_view)>& fn) const;

  /// Like `scan`, but starts at the first key at or after `from` (which starts with
  /// `prefix`).
  caf::error scan_from(family f, std::string_view prefix, std::string_view from,
                       const std::function<bool(std::string_view, std::string_view)>& fn) const;

  /// Calls `fn(key, value)` for the last key starting with `prefix`, if there is one.
  caf::error last(family f, std::string_view prefix,
                  const std::function<void(std::string_view, std::string_view)>& fn) const;

 private:
  struct impl;
  explicit kv_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace chatagent::storage
