#include "actors/chat_store_actor.hpp"

#include "protocol/error.hpp"
#include "storage/chat_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

namespace chatagent::actors {

using namespace protocol;

namespace {

using flush_atom = caf::atom_constant<caf::atom("flush")>;

/// The writer plus a message to itself, so that it can defer a commit to after the
/// batches already in its mailbox.
using writer_impl_actor = store_writer_actor::extend<caf::reacts_to<flush_atom>>;

struct writer_state {
  writer_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  storage::write_batch pending;
  std::vector<caf::typed_response_promise<bool>> waiting;
  bool flush_queued = false;
};

writer_impl_actor::behavior_type writer_impl(writer_impl_actor::stateful_pointer<writer_state> self,
                                             std::shared_ptr<storage::chat_store> store) {
  return {
      [self](commit_atom, storage::write_batch& batch) -> caf::result<bool> {
        auto& st = self->state;
        st.pending.append(std::move(batch));
        st.waiting.push_back(self->make_response_promise<bool>());
        // The flush runs after every commit already queued: they share one WAL sync.
        if (!st.flush_queued) {
          st.flush_queued = true;
          self->send(self, flush_atom::value);
        }
        return st.waiting.back();
      },
      [self, store](flush_atom) {
        auto& st = self->state;
        st.flush_queued = false;
        auto batch = std::move(st.pending);
        st.pending = storage::write_batch{};
        auto waiting = std::move(st.waiting);
        st.waiting.clear();
        auto err = store->db().write(std::move(batch));
        for (auto& rp : waiting) {
          if (err)
            rp.deliver(err);
          else
            rp.deliver(true);
        }
      },
  };
}

template <class T>
caf::result<T> to_result(caf::expected<T>&& x) {
  if (!x)
    return std::move(x.error());
  return std::move(*x);
}

store_reader_actor::behavior_type reader_impl(store_reader_actor::pointer,
                                              std::shared_ptr<storage::chat_store> store) {
  return {
      [store](load_atom, const conversation_id& id,
              int64_t recent) -> caf::result<conversation_snapshot> {
        auto rec = store->find_conversation(id);
        if (!rec)
          return std::move(rec.error());
        conversation_snapshot snap;
        snap.record = std::move(*rec);
        // Messages are numbered 1..n without gaps: the last `recent` are a direct seek.
        auto from = std::max<int64_t>(0, snap.record.message_count - recent);
        auto msgs = store->messages(id, from, recent);
        if (!msgs)
          return std::move(msgs.error());
        snap.recent = std::move(*msgs);
        return snap;
      },
      [store](list_atom, const user_id& owner, const conversation_query& q) {
        return to_result(store->list_conversations(owner, q));
      },
      [store](history_atom, const conversation_id& id, int64_t offset, int64_t limit) {
        return to_result(store->messages(id, offset, limit));
      },
      [store](open_atom, const bot_id& bot, const std::string& platform, const std::string& chat) {
        return to_result(store->find_platform_chat(bot, platform, chat));
      },
      [store](purge_atom, const bot_id& bot)
          -> caf::result<storage::write_batch, std::vector<conversation_id>> {
        auto ids = store->conversations_of_bot(bot);
        if (!ids)
          return std::move(ids.error());
        storage::write_batch batch;
        for (auto& id : *ids) {
          auto rec = store->find_conversation(id);
          if (!rec) {
            if (rec.error() == errc::not_found)
              continue;
            return std::move(rec.error());
          }
          storage::chat_store::erase_conversation(batch, *rec);
        }
        storage::chat_store::erase_platform_chats(batch, bot);
        return {std::move(batch), std::move(*ids)};
      },
  };
}

} // namespace

const store_reader_actor& chat_store_actors::reader() const {
  thread_local size_t next = 0;
  return readers[next++ % readers.size()];
}

chat_store_actors spawn_chat_store_actors(caf::actor_system& sys,
                                          std::shared_ptr<storage::chat_store> store,
                                          size_t readers) {
  chat_store_actors out;
  out.writer = sys.spawn<caf::detached>(writer_impl, store);
  for (size_t i = 0; i < std::max<size_t>(1, readers); ++i)
    out.readers.push_back(sys.spawn<caf::detached>(reader_impl, store));
  return out;
}

} // namespace chatagent::actors
