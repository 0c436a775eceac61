#include "protocol/error.hpp"
#include "storage/chat_store.hpp"
#include "storage/kv_store.hpp"
#include "storage/secret_file.hpp"
#include "storage/user_store.hpp"
#include "support/server_process.hpp"

#include <chrono>
#include <filesystem>
#include <sys/stat.h>
#include <thread>
#include <tuple>

#include <gtest/gtest.h>

using namespace chatagent;
using namespace chatagent::storage;
using protocol::errc;

namespace {

user_record make_user(std::string id, std::string name, std::string email) {
  user_record r;
  r.info.id = protocol::user_id{std::move(id)};
  r.info.username = std::move(name);
  r.info.nickname = "昵称";
  r.info.email = std::move(email);
  r.info.created_at_ms = 1000;
  r.info.updated_at_ms = 2000;
  r.password_hash = "$argon2id$stub";
  return r;
}

} // namespace

TEST(user_record, encodes_and_decodes) {
  auto r = make_user("usr_1", "Alice", "alice@example.com");
  r.info.role = protocol::role::enterprise;
  auto back = decode_user(encode(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->info.id, r.info.id);
  EXPECT_EQ(back->info.username, "Alice");
  EXPECT_EQ(back->info.nickname, "昵称");
  EXPECT_EQ(back->info.role, protocol::role::enterprise);
  EXPECT_EQ(back->info.created_at_ms, 1000);
  EXPECT_EQ(back->password_hash, r.password_hash);
  EXPECT_FALSE(decode_user("garbage"));
  EXPECT_FALSE(decode_user("{}"));
}

TEST(user_store, enforces_unique_names_and_emails_ignoring_case) {
  test::temp_dir dir;
  auto db = kv_store::open(dir.path());
  ASSERT_TRUE(db);
  user_store users{*db};
  ASSERT_FALSE(users.create(make_user("usr_1", "Alice", "alice@example.com")));
  auto dup_name = users.create(make_user("usr_2", "ALICE", "other@example.com"));
  EXPECT_EQ(protocol::describe(dup_name).code, errc::duplicate_resource);
  EXPECT_EQ(protocol::describe(dup_name).field, "username");
  auto dup_email = users.create(make_user("usr_3", "bob", "Alice@Example.com"));
  EXPECT_EQ(protocol::describe(dup_email).field, "email");
  EXPECT_TRUE(users.find_by_username("aLiCe"));
  EXPECT_TRUE(users.find_by_email("ALICE@example.COM"));
  EXPECT_EQ(users.find_by_id(protocol::user_id{"usr_2"}).error(), errc::not_found);
}

TEST(user_store, survives_reopening) {
  test::temp_dir dir;
  {
    auto db = kv_store::open(dir.path());
    ASSERT_TRUE(db);
    user_store users{*db};
    auto r = make_user("usr_1", "alice", "alice@example.com");
    ASSERT_FALSE(users.create(r));
    r.info.role = protocol::role::premium;
    ASSERT_FALSE(users.update(r));
  }
  auto db = kv_store::open(dir.path());
  ASSERT_TRUE(db);
  user_store users{*db};
  auto r = users.find_by_username("alice");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->info.role, protocol::role::premium);
}

TEST(kv_store, refuses_a_directory_held_by_another_handle) {
  test::temp_dir dir;
  auto first = kv_store::open(dir.path());
  ASSERT_TRUE(first);
  auto second = kv_store::open(dir.path());
  ASSERT_FALSE(second);
  EXPECT_NE(protocol::describe(second.error()).message.find("in use"), std::string::npos);
}

TEST(kv_store, scans_by_prefix_in_key_order) {
  test::temp_dir dir;
  auto db = kv_store::open(dir.path());
  ASSERT_TRUE(db);
  write_batch b;
  b.put(family::users, "b2", "2");
  b.put(family::users, "a1", "x");
  b.put(family::users, "b1", "1");
  ASSERT_FALSE((*db)->write(std::move(b)));
  std::string seen;
  ASSERT_FALSE((*db)->scan(family::users, "b", [&](std::string_view k, std::string_view v) {
    seen += std::string{k} + "=" + std::string{v} + ";";
    return true;
  }));
  EXPECT_EQ(seen, "b1=1;b2=2;");
}

TEST(kv_store, writes_and_reads_back_with_a_limit_on_background_writes) {
  test::temp_dir dir;
  {
    auto db = kv_store::open(dir.path(), {8});
    ASSERT_TRUE(db);
    write_batch b;
    b.put(family::users, "k", "v");
    ASSERT_FALSE((*db)->write(std::move(b)));
  }
  auto db = kv_store::open(dir.path(), {8});
  ASSERT_TRUE(db);
  auto v = (*db)->get(family::users, "k");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "v");
}

namespace {

/// Bytes of write-ahead log files (`*.log`) in `dir`.
uintmax_t wal_bytes(const std::string& dir) {
  uintmax_t total = 0;
  for (auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".log")
      total += entry.file_size();
  return total;
}

} // namespace

TEST(kv_store, keeps_its_write_ahead_log_under_the_limit_when_a_family_is_written_rarely) {
  test::temp_dir dir;
  constexpr int64_t limit_mb = 2;
  {
    auto db = kv_store::open(dir.path(), {0, limit_mb});
    ASSERT_TRUE(db);
    write_batch once; // a family written once, whose memtable would never fill
    once.put(family::users, "rare", "kept");
    ASSERT_FALSE((*db)->write(std::move(once)));
    // 16 MiB of messages: far below a memtable (128 MB), eight times the limit.
    std::string text(1024, 'x');
    for (int b = 0; b < 256; ++b) {
      write_batch batch;
      for (int i = 0; i < 64; ++i)
        batch.put(family::messages, std::to_string(100000 + b * 64 + i), text);
      ASSERT_FALSE((*db)->write(std::move(batch)));
    }
    // The log files the flushes freed are deleted in the background: wait for it (without
    // the limit nothing is flushed, and the log holds all ~16 MiB).
    for (int i = 0; i < 500 && wal_bytes(dir.path()) > uintmax_t{3 * limit_mb} << 20; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_LE(wal_bytes(dir.path()), uintmax_t{3 * limit_mb} << 20);
  }
  auto db = kv_store::open(dir.path(), {0, limit_mb});
  ASSERT_TRUE(db);
  auto rare = (*db)->get(family::users, "rare");
  ASSERT_TRUE(rare);
  EXPECT_EQ(*rare, "kept");
  auto last = (*db)->get(family::messages, "116383");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->size(), 1024u);
}

TEST(kv_store, finds_the_last_key_with_a_prefix) {
  test::temp_dir dir;
  auto db = kv_store::open(dir.path());
  ASSERT_TRUE(db);
  write_batch b;
  b.put(family::users, "a/1", "1");
  b.put(family::users, "a/2", "2");
  b.put(family::users, "a0", "next"); // right after every "a/" key
  b.put(family::users, "a/\xff", "ff");
  b.put(family::users, "\xff\xff", "top");
  b.put(family::users, "\xff\xff/1", "top 1");
  ASSERT_FALSE((*db)->write(std::move(b)));
  auto last = [&](std::string_view prefix) {
    std::string seen = "none";
    EXPECT_FALSE((*db)->last(family::users, prefix, [&](std::string_view k, std::string_view v) {
      seen = std::string{k} + "=" + std::string{v};
    }));
    return seen;
  };
  EXPECT_EQ(last("a/"), "a/\xff=ff");
  EXPECT_EQ(last("a"), "a0=next");
  EXPECT_EQ(last("a/1"), "a/1=1");
  EXPECT_EQ(last("a/3"), "none");
  EXPECT_EQ(last("b"), "none");
  EXPECT_EQ(last("\xff\xff"), "\xff\xff/1=top 1"); // no upper bound: the last key of all
  EXPECT_EQ(last(""), "\xff\xff/1=top 1");
}

TEST(kv_store, counter_merges_in_one_write_add_up_around_other_writes_of_their_key) {
  test::temp_dir dir;
  auto db = kv_store::open(dir.path());
  ASSERT_TRUE(db);
  auto add = [](write_batch& b, std::string_view key, int64_t messages, int64_t at) {
    b.merge(family::bot_activity, key, encode_counters({messages, 1, at}));
  };
  write_batch first;
  add(first, "a", 10, 100);
  ASSERT_FALSE((*db)->write(std::move(first)));
  // In one write: operands for two keys, and an erase of one of them in the middle (the
  // operands before it are lost with it, those after it count).
  write_batch b;
  add(b, "a", 1, 500);
  add(b, "b", 2, 200);
  add(b, "a", 3, 300);
  b.erase(family::bot_activity, "a");
  add(b, "a", 5, 50);
  add(b, "b", 1, 150);
  add(b, "a", 7, 70);
  ASSERT_FALSE((*db)->write(std::move(b)));
  auto read = [&](std::string_view key) {
    auto bytes = (*db)->get(family::bot_activity, key);
    EXPECT_TRUE(bytes);
    counters c;
    EXPECT_TRUE(bytes && decode_counters(*bytes, c));
    return std::make_tuple(c.messages, c.errors, c.last_at_ms);
  };
  EXPECT_EQ(read("a"), std::make_tuple(int64_t{12}, int64_t{2}, int64_t{70}));
  EXPECT_EQ(read("b"), std::make_tuple(int64_t{3}, int64_t{2}, int64_t{200}));
}

TEST(secret_file, is_created_once_with_mode_0600) {
  test::temp_dir dir;
  auto path = dir.path() + "/jwt_secret";
  auto first = load_or_create_secret(path);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto second = load_or_create_secret(path);
  ASSERT_TRUE(second);
  EXPECT_EQ(*first, *second);
  ::chmod(path.c_str(), 0644);
  EXPECT_FALSE(load_or_create_secret(path));
}

TEST(chat_store, activity_counters_add_up_across_batches_and_reopening) {
  test::temp_dir dir;
  chatagent::protocol::bot_id bot{"bot_counted"};
  {
    auto db = kv_store::open(dir.path());
    ASSERT_TRUE(db);
    for (auto [messages, errors, at] : {std::tuple{1, 0, 100}, {1, 1, 300}, {2, 0, 200}}) {
      write_batch batch;
      chat_store::add_bot_activity(batch, bot, messages, errors, at);
      ASSERT_FALSE((*db)->write(std::move(batch)));
    }
  }
  auto db = kv_store::open(dir.path());
  ASSERT_TRUE(db);
  chat_store store{*db};
  auto loaded = store.load_bot_activity();
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->count(bot.value), 1u);
  auto& c = loaded->at(bot.value);
  EXPECT_EQ(c.messages, 4);
  EXPECT_EQ(c.errors, 1);
  EXPECT_EQ(c.last_at_ms, 300); // the latest, not the last written
  write_batch gone;
  chat_store::erase_bot(gone, bot);
  ASSERT_FALSE((*db)->write(std::move(gone)));
  EXPECT_TRUE(store.load_bot_activity()->empty());
}

// The messages, conversations and counters families insert into their memtables with
// per-prefix hints (kv_store.cpp). Interleaved appends to several conversations, records
// rewritten many times, and a conversation's range delete in the middle of it all must
// read back exactly, before and after reopening (from the memtable, then from the log).
TEST(chat_store, a_conversation_reads_its_activity_from_its_last_message) {
  test::temp_dir dir;
  auto db = kv_store::open(dir.path());
  ASSERT_TRUE(db);
  chat_store store{*db};
  protocol::conversation c;
  c.id = protocol::new_id<protocol::conversation_id_tag>();
  c.owner = protocol::user_id{"usr_a"};
  c.bot = protocol::bot_id{"bot_a"};
  c.created_at_ms = c.updated_at_ms = 1000;
  write_batch made;
  chat_store::put_conversation(made, c, true);
  ASSERT_FALSE((*db)->write(std::move(made)));
  auto rec = store.find_conversation(c.id);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->message_count, 0);
  EXPECT_EQ(rec->last_message_at_ms, 0);
  EXPECT_EQ(rec->updated_at_ms, 1000);
  // Messages without the record, as a conversation writes them. Keys of another id that
  // sort right after this conversation's ("<id>0/..." after "<id>/...") must not count.
  protocol::conversation_id other{c.id.value + "0"};
  for (int64_t seq = 1; seq <= 3; ++seq) {
    write_batch batch;
    for (auto* conv : {&c.id, &other}) {
      protocol::chat_message m;
      m.id = protocol::new_id<protocol::message_id_tag>();
      m.conversation = *conv;
      m.seq = seq;
      m.content = "m";
      m.created_at_ms = (conv == &other ? 9000 : 2000) + seq;
      chat_store::put_message(batch, m);
    }
    ASSERT_FALSE((*db)->write(std::move(batch)));
  }
  rec = store.find_conversation(c.id);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->message_count, 3);
  EXPECT_EQ(rec->last_message_at_ms, 2003);
  EXPECT_EQ(rec->updated_at_ms, 2003);
  auto page = store.list_conversations(c.owner, {});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->conversations.size(), 1u);
  EXPECT_EQ(page->conversations[0].message_count, 3);
  EXPECT_EQ(page->conversations[0].last_message_at_ms, 2003);
  protocol::conversation_query active;
  active.status = "active";
  page = store.list_conversations(c.owner, active);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->conversations.size(), 1u);
  EXPECT_EQ(page->conversations[0].message_count, 3);
  // A later change of the record keeps its own time when it is the newer one.
  c.title = "renamed";
  c.message_count = 3;
  c.updated_at_ms = 5000;
  write_batch changed;
  chat_store::put_conversation(changed, c, false);
  ASSERT_FALSE((*db)->write(std::move(changed)));
  rec = store.find_conversation(c.id);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->title, "renamed");
  EXPECT_EQ(rec->message_count, 3);
  EXPECT_EQ(rec->last_message_at_ms, 2003);
  EXPECT_EQ(rec->updated_at_ms, 5000);
}

TEST(chat_store, appends_rewrites_and_range_deletes_read_back_in_order) {
  test::temp_dir dir;
  chatagent::protocol::bot_id bot{"bot_hinted"};
  std::vector<chatagent::protocol::conversation> convs(3);
  for (size_t i = 0; i < convs.size(); ++i) {
    convs[i].id = chatagent::protocol::new_id<chatagent::protocol::conversation_id_tag>();
    convs[i].owner = chatagent::protocol::user_id{"usr_hinted"};
    convs[i].bot = bot;
    convs[i].title = "c" + std::to_string(i);
  }
  auto append = [&](kv_store& db, size_t c, int n) {
    for (int k = 0; k < n; ++k) {
      write_batch batch;
      chatagent::protocol::chat_message m;
      m.conversation = convs[c].id;
      m.id = chatagent::protocol::new_id<chatagent::protocol::message_id_tag>();
      m.seq = ++convs[c].message_count;
      m.content = "m" + std::to_string(m.seq);
      m.sender_type = "user";
      chat_store::put_message(batch, m);
      chat_store::put_conversation(batch, convs[c], m.seq == 1);
      chat_store::add_bot_activity(batch, bot, 1, 0, m.seq);
      ASSERT_FALSE(db.write(std::move(batch)));
    }
  };
  auto check = [&](const std::shared_ptr<kv_store>& db, size_t c) {
    chat_store store{db};
    auto rec = store.find_conversation(convs[c].id);
    ASSERT_TRUE(rec);
    EXPECT_EQ(rec->message_count, convs[c].message_count);
    auto msgs = store.messages(convs[c].id, 0, 1000);
    ASSERT_TRUE(msgs);
    ASSERT_EQ(static_cast<int64_t>(msgs->size()), convs[c].message_count);
    for (size_t k = 0; k < msgs->size(); ++k)
      EXPECT_EQ((*msgs)[k].content, "m" + std::to_string(k + 1));
  };
  {
    auto db = kv_store::open(dir.path());
    ASSERT_TRUE(db);
    for (int round = 0; round < 20; ++round)
      for (size_t c = 0; c < convs.size(); ++c)
        append(**db, c, 1 + static_cast<int>(c));
    write_batch gone;
    chat_store::erase_conversation(gone, convs[1]);
    ASSERT_FALSE((*db)->write(std::move(gone)));
    // The deleted conversation's id is written again after its range delete.
    convs[1].message_count = 0;
    for (int round = 0; round < 5; ++round)
      for (size_t c = 0; c < convs.size(); ++c)
        append(**db, c, 2);
    for (size_t c = 0; c < convs.size(); ++c)
      check(*db, c);
  }
  auto db = kv_store::open(dir.path());
  ASSERT_TRUE(db);
  for (size_t c = 0; c < convs.size(); ++c)
    check(*db, c);
  chat_store store{*db};
  auto activity = store.load_bot_activity();
  ASSERT_TRUE(activity);
  EXPECT_EQ(activity->at(bot.value).messages, 20 * (1 + 2 + 3) + 5 * 3 * 2);
}
