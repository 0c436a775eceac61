#include "actors/knowledge_manager.hpp"

#include "protocol/error.hpp"
#include "protocol/knowledge_json.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"
#include "storage/knowledge_store.hpp"

#include <map>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

namespace chatagent::actors {

using namespace protocol;

namespace {

constexpr auto store_timeout = std::chrono::seconds(30);

struct manager_state {
  manager_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  std::unordered_map<std::string, knowledge_base> bases;
  std::map<std::string, std::vector<std::string>> by_owner; // ids in creation order
  store_writer_actor writer;
};

caf::error no_such_base() {
  return api_error(errc::not_found, "no such knowledge base", "base_id", "not found");
}

bool matches(const knowledge_base& kb, const knowledge_query& q) {
  if (q.search.empty())
    return true;
  auto needle = to_lower_ascii(q.search);
  return to_lower_ascii(kb.name).find(needle) != std::string::npos ||
         to_lower_ascii(kb.description).find(needle) != std::string::npos;
}

knowledge_manager_actor::behavior_type
manager_impl(knowledge_manager_actor::stateful_pointer<manager_state> self,
             store_writer_actor writer, std::vector<knowledge_base> bases) {
  auto& st = self->state;
  st.writer = std::move(writer);
  for (auto& kb : bases) {
    st.by_owner[kb.owner.value].push_back(kb.id.value);
    auto id = kb.id.value;
    st.bases.emplace(std::move(id), std::move(kb));
  }
  auto owned = [self](const user_id& owner, const knowledge_base_id& id) -> knowledge_base* {
    auto i = self->state.bases.find(id.value);
    if (i == self->state.bases.end() || i->second.owner != owner)
      return nullptr;
    return &i->second;
  };
  // Commits `batch`, then runs `done`; other messages wait meanwhile, which keeps the
  // order of changes to a base the order of their requests.
  auto commit = [self](storage::write_batch batch, auto done, auto rp) {
    self->request(self->state.writer, store_timeout, commit_atom::value, std::move(batch))
        .await([done](bool) mutable { done(); },
               [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  };
  return {
      [self, commit](create_atom, const user_id& owner,
                     knowledge_base& kb) -> caf::result<knowledge_base> {
        auto rp = self->make_response_promise<knowledge_base>();
        kb.id = new_id<knowledge_base_id_tag>();
        kb.owner = owner;
        kb.document_count = 0;
        kb.chunk_count = 0;
        kb.created_at_ms = kb.updated_at_ms = now_ms();
        storage::write_batch batch;
        storage::knowledge_store::put_base(batch, kb);
        commit(
            std::move(batch),
            [self, kb, rp]() mutable {
              auto& st = self->state;
              st.by_owner[kb.owner.value].push_back(kb.id.value);
              st.bases.emplace(kb.id.value, kb);
              rp.deliver(std::move(kb));
            },
            rp);
        return rp;
      },
      [self](list_atom, const user_id& owner, const knowledge_query& q) {
        knowledge_page page;
        page.limit = q.limit;
        page.offset = q.offset;
        auto& st = self->state;
        if (auto i = st.by_owner.find(owner.value); i != st.by_owner.end()) {
          for (auto& id : i->second) {
            auto& kb = st.bases.at(id);
            if (!matches(kb, q))
              continue;
            if (page.total >= q.offset && static_cast<int64_t>(page.bases.size()) < q.limit)
              page.bases.push_back(kb);
            ++page.total;
          }
        }
        return page;
      },
      [owned](find_atom, const user_id& owner,
              const knowledge_base_id& id) -> caf::result<knowledge_base> {
        auto kb = owned(owner, id);
        if (!kb)
          return no_such_base();
        return *kb;
      },
      [self, owned, commit](update_atom, const user_id& owner, const knowledge_base_id& id,
                            const std::string& patch) -> caf::result<knowledge_base> {
        auto kb = owned(owner, id);
        if (!kb)
          return no_such_base();
        auto body = parse_json(patch);
        if (!body)
          return std::move(body.error());
        if (!body->is_object())
          return api_error(errc::validation_error, "the request body must be a JSON object");
        auto next = *kb;
        if (auto err = apply_knowledge_base_json(next, *body, false))
          return err;
        next.updated_at_ms = now_ms();
        auto rp = self->make_response_promise<knowledge_base>();
        storage::write_batch batch;
        storage::knowledge_store::put_base(batch, next);
        commit(
            std::move(batch),
            [self, next, rp]() mutable {
              if (auto i = self->state.bases.find(next.id.value); i != self->state.bases.end())
                i->second = next;
              rp.deliver(std::move(next));
            },
            rp);
        return rp;
      },
      [self, owned, commit](delete_atom, const user_id& owner,
                            const knowledge_base_id& id) -> caf::result<bool> {
        if (!owned(owner, id))
          return no_such_base();
        auto rp = self->make_response_promise<bool>();
        storage::write_batch batch;
        storage::knowledge_store::erase_base(batch, id);
        commit(
            std::move(batch),
            [self, owner, id, rp]() mutable {
              auto& st = self->state;
              st.bases.erase(id.value);
              std::erase(st.by_owner[owner.value], id.value);
              rp.deliver(true);
            },
            rp);
        return rp;
      },
  };
}

} // namespace

knowledge_manager_actor spawn_knowledge_manager(caf::actor_system& sys, store_writer_actor writer,
                                                std::vector<knowledge_base> bases) {
  return sys.spawn(manager_impl, std::move(writer), std::move(bases));
}

} // namespace chatagent::actors
