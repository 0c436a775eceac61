#include "storage/kv_store.hpp"

#include "protocol/error.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/rate_limiter.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

namespace chatagent::storage {

using protocol::api_error;
using protocol::errc;

namespace {

// Index = static_cast<size_t>(family); "default" must exist in every RocksDB database.
constexpr std::array<const char*, 14> family_names{"default",
                                                   "users",
                                                   "user_names",
                                                   "user_emails",
                                                   "bots",
                                                   "conversations",
                                                   "conversation_index",
                                                   "messages",
                                                   "bot_activity",
                                                   "knowledge_bases",
                                                   "knowledge_documents",
                                                   "knowledge_chunks",
                                                   "knowledge_vectors",
                                                   "plugins"};

constexpr std::string_view schema_version = "1";

void put_int64(std::string& out, int64_t v) {
  auto u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((u >> (8 * i)) & 0xFF));
}

int64_t get_int64(std::string_view in) {
  uint64_t u = 0;
  for (int i = 7; i >= 0; --i)
    u = (u << 8) | static_cast<unsigned char>(in[static_cast<size_t>(i)]);
  return static_cast<int64_t>(u);
}

/// The counters' merge rule: counts add up, the time is the latest.
void add_counters(counters& sum, const counters& add) {
  sum.messages += add.messages;
  sum.errors += add.errors;
  sum.last_at_ms = std::max(sum.last_at_ms, add.last_at_ms);
}

/// Adds counters records: many writers (every conversation) update a bot's counters
/// without reading them first, in the batches that store the messages they count.
class counters_merge : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    counters sum;
    if (existing != nullptr && !decode_counters({existing->data(), existing->size()}, sum))
      return false;
    counters add;
    if (!decode_counters({value.data(), value.size()}, add))
      return false;
    add_counters(sum, add);
    *new_value = encode_counters(sum);
    return true;
  }
  const char* Name() const override { return "chatagent.counters"; }
};

// -- memtable insert hints ------------------------------------------------------
//
// RocksDB inserts a write into the memtable's skiplist by searching it from the top: at a
// few hundred thousand entries, dozens of cache misses per key, which made the skiplist
// search ~45% of the store writer's time under load. Our hot keys do not land at random:
// a conversation's messages are appended in key order (`<conversation>/<seq in 16 hex
// digits>`), and a conversation's record and a bot's counters are rewritten under the same
// key again and again (a newer version sorts right before the older one). With
// `memtable_insert_with_hint_prefix_extractor`, RocksDB keeps, per prefix, where the last
// insert with that prefix went and starts the next one there.
//
// RocksDB 7.8 uses one hint map for a memtable's point entries and its range deletions,
// which live in another skiplist: a range deletion's start key must never be in the
// domain. Ours are prefixes ending in '/' (`chat_store::erase_conversation`), which
// neither extractor accepts.

/// `<prefix>/<16 lowercase hex digits>` → `<prefix>/`.
class sequence_key_hint : public rocksdb::SliceTransform {
 public:
  static constexpr size_t digits = 16;

  const char* Name() const override { return "chatagent.sequence_key_hint"; }

  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return {key.data(), key.size() - digits};
  }

  bool InDomain(const rocksdb::Slice& key) const override {
    if (key.size() <= digits || key[key.size() - digits - 1] != '/')
      return false;
    for (size_t i = key.size() - digits; i < key.size(); ++i) {
      auto c = key[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
        return false;
    }
    return true;
  }
};

/// The whole key, for records rewritten in place; not keys ending in '/'.
class whole_key_hint : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "chatagent.whole_key_hint"; }

  rocksdb::Slice Transform(const rocksdb::Slice& key) const override { return key; }

  bool InDomain(const rocksdb::Slice& key) const override {
    return !key.empty() && key[key.size() - 1] != '/';
  }
};

} // namespace

struct kv_store::impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;

  rocksdb::ColumnFamilyHandle* cf(family f) const { return handles[static_cast<size_t>(f)]; }

  ~impl() {
    if (db) {
      db->FlushWAL(true);
      for (auto* h : handles)
        db->DestroyColumnFamilyHandle(h);
      db->Close();
    }
  }
};

std::string encode_counters(const counters& c) {
  std::string out;
  out.reserve(24);
  put_int64(out, c.messages);
  put_int64(out, c.errors);
  put_int64(out, c.last_at_ms);
  return out;
}

bool decode_counters(std::string_view bytes, counters& out) {
  if (bytes.size() != 24)
    return false;
  out.messages = get_int64(bytes.substr(0, 8));
  out.errors = get_int64(bytes.substr(8, 8));
  out.last_at_ms = get_int64(bytes.substr(16, 8));
  return true;
}

kv_store::kv_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

kv_store::~kv_store() = default;

caf::expected<std::shared_ptr<kv_store>> kv_store::open(const std::string& dir,
                                                        const open_options& opts) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.IncreaseParallelism(2);
  options.OptimizeLevelStyleCompaction();
  // OptimizeLevelStyleCompaction gives each column family up to six memtables of 128 MB,
  // with no limit over all eleven families together: at most 512 MB of memtables in all,
  // beyond which the largest is flushed early. (Smaller memtables flush more often and
  // cost more compaction; measured, they did not help, see docs/benchmarks.md.)
  options.db_write_buffer_size = size_t{512} << 20;
  // A flush writes a whole memtable (~226 MB under the send benchmark) as fast as it can,
  // and the machine slows down while it does; a limit spreads it out (docs/storage.md).
  if (opts.write_rate_mb > 0)
    options.rate_limiter.reset(rocksdb::NewGenericRateLimiter(opts.write_rate_mb << 20));
  // A log file goes once every column family with data in it has flushed. The messages
  // flush every few hundred MB, but a family written rarely (users, conversations) or in
  // small records (bot counters) may not fill a memtable for days, and RocksDB's own limit
  // (four times all families' memtables: ~40 GB here) would let the log grow that far,
  // and a restart replay all of it.
  if (opts.wal_limit_mb > 0)
    options.max_total_wal_size = static_cast<uint64_t>(opts.wal_limit_mb) << 20;
  options.keep_log_file_num = 5;
  options.max_log_file_size = 16 << 20;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options{options};
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  auto whole_key = std::make_shared<whole_key_hint>();
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (size_t i = 0; i < family_names.size(); ++i) {
    auto cf = cf_options;
    switch (static_cast<family>(i)) {
    case family::messages:
      cf.memtable_insert_with_hint_prefix_extractor = std::make_shared<sequence_key_hint>();
      break;
    case family::conversations:
      cf.memtable_insert_with_hint_prefix_extractor = whole_key;
      break;
    case family::bot_activity:
      cf.merge_operator = std::make_shared<counters_merge>();
      cf.memtable_insert_with_hint_prefix_extractor = whole_key;
      break;
    default:
      break;
    }
    descriptors.emplace_back(family_names[i], std::move(cf));
  }

  auto p = std::make_unique<impl>();
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(rocksdb::DBOptions{options}, dir, descriptors, &p->handles, &raw);
  if (!st.ok()) {
    auto what = st.ToString();
    if (st.IsIOError() && what.find("lock") != std::string::npos)
      return api_error(errc::service_unavailable,
                       "data directory " + dir + " is in use by another process");
    return api_error(errc::internal_error, "cannot open the database in " + dir + ": " + what);
  }
  p->db.reset(raw);

  // Record the schema version on first start; refuse data from a newer, unknown schema.
  std::string version;
  st = p->db->Get(rocksdb::ReadOptions{}, p->cf(family::meta), "schema_version", &version);
  if (st.IsNotFound()) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    st = p->db->Put(wo, p->cf(family::meta), "schema_version",
                    rocksdb::Slice{schema_version.data(), schema_version.size()});
    if (!st.ok())
      return api_error(errc::internal_error, "cannot write to " + dir + ": " + st.ToString());
  } else if (!st.ok()) {
    return api_error(errc::internal_error, "cannot read " + dir + ": " + st.ToString());
  } else if (version != schema_version) {
    return api_error(errc::internal_error, "data directory " + dir + " has schema version " +
                                               version + ", this build reads " +
                                               std::string{schema_version});
  }
  return std::shared_ptr<kv_store>{new kv_store{std::move(p)}};
}

caf::expected<std::string> kv_store::get(family f, std::string_view key) const {
  std::string value;
  auto st = impl_->db->Get(rocksdb::ReadOptions{}, impl_->cf(f),
                           rocksdb::Slice{key.data(), key.size()}, &value);
  if (st.IsNotFound())
    return api_error(errc::not_found, "not found");
  if (!st.ok())
    return api_error(errc::internal_error, "storage read failed: " + st.ToString());
  return value;
}

void write_batch::add(family f, kind k, std::string_view key, std::string_view value) {
  if (data_.capacity() < 512)
    data_.reserve(512);
  auto put_size = [this](size_t n) {
    auto v = static_cast<uint32_t>(n);
    data_.append(reinterpret_cast<const char*>(&v), sizeof v);
  };
  data_.push_back(static_cast<char>(f));
  data_.push_back(static_cast<char>(k));
  put_size(key.size());
  put_size(value.size());
  data_.append(key);
  data_.append(value);
  ++count_;
}

template <class F>
caf::error write_batch::for_each(F&& fn) const {
  const char* p = data_.data();
  const char* end = p + data_.size();
  while (p < end) {
    op o;
    o.fam = static_cast<family>(p[0]);
    o.what = static_cast<kind>(p[1]);
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    std::memcpy(&key_size, p + 2, sizeof key_size);
    std::memcpy(&value_size, p + 2 + sizeof key_size, sizeof value_size);
    p += 2 + 2 * sizeof(uint32_t);
    o.key = std::string_view{p, key_size};
    o.value = std::string_view{p + key_size, value_size};
    p += key_size + value_size;
    if (auto err = fn(o))
      return err;
  }
  return caf::none;
}

caf::error kv_store::write(write_batch batch) {
  rocksdb::WriteBatch wb(batch.data_.size() + batch.count_ * 16);
  // A bot's counter operands in one write are added up first (the rule is associative), so
  // that a group commit of many conversations of a bot inserts one operand, not one each.
  // Any other write to those counters keeps its place: the sums so far go before it.
  std::vector<std::pair<std::string_view, counters>> sums;
  auto write_sums = [&]() -> rocksdb::Status {
    for (auto& [key, sum] : sums)
      if (auto st = wb.Merge(impl_->cf(family::bot_activity), key, encode_counters(sum)); !st.ok())
        return st;
    sums.clear();
    return rocksdb::Status::OK();
  };
  auto err = batch.for_each([&](const write_batch::op& op) -> caf::error {
    rocksdb::Status st;
    if (op.fam == family::bot_activity) {
      counters add;
      if (op.what == write_batch::kind::merge && decode_counters(op.value, add)) {
        auto i = std::find_if(sums.begin(), sums.end(), [&](auto& s) { return s.first == op.key; });
        if (i == sums.end())
          sums.emplace_back(op.key, add);
        else
          add_counters(i->second, add);
        return caf::none;
      }
      if (st = write_sums(); !st.ok())
        return api_error(errc::internal_error, "storage batch failed: " + st.ToString());
    }
    switch (op.what) {
    case write_batch::kind::put:
      st = wb.Put(impl_->cf(op.fam), op.key, op.value);
      break;
    case write_batch::kind::erase:
      st = wb.Delete(impl_->cf(op.fam), op.key);
      break;
    case write_batch::kind::merge:
      st = wb.Merge(impl_->cf(op.fam), op.key, op.value);
      break;
    case write_batch::kind::erase_prefix: {
      // [prefix, prefix with its last byte incremented): our prefixes end in '/'.
      std::string end{op.key};
      while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF)
        end.pop_back();
      if (end.empty())
        return api_error(errc::internal_error, "storage batch failed: unbounded range delete");
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      st = wb.DeleteRange(impl_->cf(op.fam), op.key, end);
      break;
    }
    }
    if (!st.ok())
      return api_error(errc::internal_error, "storage batch failed: " + st.ToString());
    return caf::none;
  });
  if (err)
    return err;
  if (auto st = write_sums(); !st.ok())
    return api_error(errc::internal_error, "storage batch failed: " + st.ToString());
  rocksdb::WriteOptions wo;
  wo.sync = true; // acknowledged writes survive kill -9 and power loss
  auto st = impl_->db->Write(wo, &wb);
  if (!st.ok())
    return api_error(errc::internal_error, "storage write failed: " + st.ToString());
  return caf::none;
}

caf::error kv_store::scan(family f, std::string_view prefix,
                          const std::function<bool(std::string_view, std::string_view)>& fn) const {
  return scan_from(f, prefix, prefix, fn);
}

caf::error
kv_store::scan_from(family f, std::string_view prefix, std::string_view from,
                    const std::function<bool(std::string_view, std::string_view)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it{
      impl_->db->NewIterator(rocksdb::ReadOptions{}, impl_->cf(f))};
  rocksdb::Slice p{prefix.data(), prefix.size()};
  for (it->Seek(rocksdb::Slice{from.data(), from.size()}); it->Valid() && it->key().starts_with(p);
       it->Next()) {
    auto k = it->key();
    auto v = it->value();
    if (!fn(std::string_view{k.data(), k.size()}, std::string_view{v.data(), v.size()}))
      break;
  }
  if (!it->status().ok())
    return api_error(errc::internal_error, "storage scan failed: " + it->status().ToString());
  return caf::none;
}

caf::error kv_store::last(family f, std::string_view prefix,
                          const std::function<void(std::string_view, std::string_view)>& fn) const {
  // The iteration ends before the first key after all those with the prefix: the prefix
  // with its last byte below 0xff incremented (none when it is all 0xff bytes).
  std::string bound{prefix};
  while (!bound.empty() && static_cast<unsigned char>(bound.back()) == 0xff)
    bound.pop_back();
  rocksdb::ReadOptions opts;
  rocksdb::Slice upper;
  if (!bound.empty()) {
    bound.back() = static_cast<char>(static_cast<unsigned char>(bound.back()) + 1);
    upper = rocksdb::Slice{bound};
    opts.iterate_upper_bound = &upper;
  }
  std::unique_ptr<rocksdb::Iterator> it{impl_->db->NewIterator(opts, impl_->cf(f))};
  it->SeekToLast();
  if (it->Valid() && it->key().starts_with(rocksdb::Slice{prefix.data(), prefix.size()})) {
    auto k = it->key();
    auto v = it->value();
    fn(std::string_view{k.data(), k.size()}, std::string_view{v.data(), v.size()});
  }
  if (!it->status().ok())
    return api_error(errc::internal_error, "storage read failed: " + it->status().ToString());
  return caf::none;
}

} // namespace chatagent::storage
