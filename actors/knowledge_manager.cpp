#include "actors/knowledge_manager.hpp"

#include "actors/knowledge_workers.hpp"
#include "protocol/error.hpp"
#include "protocol/knowledge_json.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"
#include "storage/knowledge_store.hpp"

#include <map>
#include <unordered_map>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::actors {

using namespace protocol;

namespace {

constexpr auto store_timeout = std::chrono::seconds(30);
constexpr auto extract_timeout = std::chrono::seconds(120);

using manager_impl_actor = knowledge_manager_actor::extend_with<knowledge_reports_actor>;

struct base_entry {
  knowledge_base record;
  std::map<std::string, knowledge_document> docs;                    // by id: creation order
  std::shared_ptr<index_slot> slot = std::make_shared<index_slot>(); // empty until embedded
  std::unordered_map<std::string, std::shared_ptr<std::atomic<bool>>> ingesting; // cancel flags
  std::shared_ptr<const std::map<int64_t, document_info>> infos; // for searches, by seq
};

struct manager_state {
  manager_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  std::unordered_map<std::string, base_entry> bases;
  std::map<std::string, std::vector<std::string>> by_owner; // ids in creation order
  store_writer_actor writer;
  knowledge_worker_actor reader; // reads uploaded files, never behind an embedding
  std::vector<knowledge_worker_actor> ingest;
  std::vector<knowledge_worker_actor> search;
  size_t next_ingest = 0;
  size_t next_search = 0;
  storage::index_options index_options; // for new bases' indexes
};

caf::error no_such_base() {
  return api_error(errc::not_found, "no such knowledge base", "base_id", "not found");
}

caf::error no_such_document() {
  return api_error(errc::not_found, "no such document", "document_id", "not found");
}

bool matches(const knowledge_base& kb, const knowledge_query& q) {
  if (q.search.empty())
    return true;
  auto needle = to_lower_ascii(q.search);
  return to_lower_ascii(kb.name).find(needle) != std::string::npos ||
         to_lower_ascii(kb.description).find(needle) != std::string::npos;
}

/// The document's title: the form's `metadata.title`, else the document's own, else the
/// file name.
std::string pick_title(const std::string& metadata, const extracted_text& text,
                       const std::string& filename) {
  if (auto m = parse_json(metadata); m && m->is_object())
    if (auto t = m->find("title"); t && t->is_string() && !t->as_string().empty())
      return t->as_string();
  if (!text.title.empty())
    return text.title;
  return filename.empty() ? "untitled" : filename;
}

void refresh_infos(base_entry& e) {
  auto infos = std::make_shared<std::map<int64_t, document_info>>();
  for (auto& [id, d] : e.docs) {
    document_info info{d.id.value, d.title, d.source, {}};
    if (auto m = parse_json(d.metadata); m && m->is_object())
      info.metadata = std::move(m->as_object());
    infos->emplace(d.seq, std::move(info));
  }
  e.infos = std::move(infos);
}

manager_impl_actor::behavior_type
manager_impl(manager_impl_actor::stateful_pointer<manager_state> self, store_writer_actor writer,
             std::vector<base_entry> bases, knowledge_worker_actor reader,
             std::vector<knowledge_worker_actor> ingest, std::vector<knowledge_worker_actor> search,
             storage::index_options index_options) {
  auto& st = self->state;
  st.index_options = index_options;
  st.writer = std::move(writer);
  st.reader = std::move(reader);
  st.ingest = std::move(ingest);
  st.search = std::move(search);
  for (auto& e : bases) {
    st.by_owner[e.record.owner.value].push_back(e.record.id.value);
    auto id = e.record.id.value;
    refresh_infos(e);
    st.bases.emplace(std::move(id), std::move(e));
  }
  auto owned = [self](const user_id& owner, const knowledge_base_id& id) -> base_entry* {
    auto i = self->state.bases.find(id.value);
    if (i == self->state.bases.end() || i->second.record.owner != owner)
      return nullptr;
    return &i->second;
  };
  // Commits `batch`, then runs `done`; other messages wait meanwhile, which keeps the
  // order of changes the order of their requests.
  auto commit = [self](storage::write_batch batch, auto done, auto rp) {
    self->request(self->state.writer, store_timeout, commit_atom::value, std::move(batch))
        .await([done](bool) mutable { done(); },
               [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  };
  // Commits without anyone waiting for the answer (background bookkeeping).
  auto commit_quietly = [self](storage::write_batch batch, std::string what) {
    self->request(self->state.writer, store_timeout, commit_atom::value, std::move(batch))
        .then([](bool) {},
              [what](caf::error& err) {
                spdlog::error("knowledge: {}: {}", what, describe(err).message);
              });
  };
  // Takes chunks out of the index and the database.
  auto drop_chunks = [commit_quietly](base_entry& e, const std::vector<int64_t>& ids) {
    if (ids.empty())
      return;
    if (auto index = e.slot->get())
      index->remove(ids);
    storage::write_batch batch;
    for (auto id : ids)
      storage::knowledge_store::erase_chunk(batch, e.record.id, id);
    commit_quietly(std::move(batch), "removing chunks");
  };
  return {
      [self, commit](create_atom, const user_id& owner,
                     knowledge_base& kb) -> caf::result<knowledge_base> {
        auto rp = self->make_response_promise<knowledge_base>();
        kb.id = new_id<knowledge_base_id_tag>();
        kb.owner = owner;
        kb.document_count = 0;
        kb.chunk_count = 0;
        kb.embedding_dimension = 0;
        kb.next_document_seq = 1;
        kb.created_at_ms = kb.updated_at_ms = now_ms();
        storage::write_batch batch;
        storage::knowledge_store::put_base(batch, kb);
        commit(
            std::move(batch),
            [self, kb, rp]() mutable {
              auto& st = self->state;
              st.by_owner[kb.owner.value].push_back(kb.id.value);
              base_entry e;
              e.record = kb;
              e.slot = std::make_shared<index_slot>(st.index_options);
              refresh_infos(e);
              st.bases.emplace(kb.id.value, std::move(e));
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
            auto& kb = st.bases.at(id).record;
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
        auto e = owned(owner, id);
        if (!e)
          return no_such_base();
        return e->record;
      },
      [self, owned, commit](update_atom, const user_id& owner, const knowledge_base_id& id,
                            const std::string& patch) -> caf::result<knowledge_base> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_base();
        auto body = parse_json(patch);
        if (!body)
          return std::move(body.error());
        if (!body->is_object())
          return api_error(errc::validation_error, "the request body must be a JSON object");
        auto next = e->record;
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
                i->second.record = next;
              rp.deliver(std::move(next));
            },
            rp);
        return rp;
      },
      [self, owned, commit](delete_atom, const user_id& owner,
                            const knowledge_base_id& id) -> caf::result<bool> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_base();
        for (auto& [doc, flag] : e->ingesting)
          flag->store(true);
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
      // -- documents ------------------------------------------------------------------
      [self, owned, commit](upload_atom, const user_id& owner, const knowledge_base_id& id,
                            document_upload& up) -> caf::result<upload_result> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_base();
        auto rp = self->make_response_promise<upload_result>();
        auto filename = up.filename;
        auto content_type = up.content_type;
        auto size = static_cast<int64_t>(up.bytes.size());
        auto metadata = up.metadata;
        self->request(self->state.reader, extract_timeout, extract_atom::value, std::move(up))
            .then(
                [self, commit, id, filename, content_type, size, metadata,
                 rp](extracted_document& ex) mutable {
                  auto& st = self->state;
                  auto i = st.bases.find(id.value);
                  if (i == st.bases.end()) {
                    rp.deliver(no_such_base());
                    return;
                  }
                  auto& e = i->second;
                  for (auto& [doc_id, d] : e.docs)
                    if (d.content_hash == ex.content_hash && d.status != "failed") {
                      rp.deliver(upload_result{d, true});
                      return;
                    }
                  knowledge_document d;
                  d.id = new_id<document_id_tag>();
                  d.base = id;
                  d.seq = e.record.next_document_seq;
                  d.source = filename;
                  d.title = pick_title(metadata, ex.text, filename);
                  d.format = ex.text.format;
                  d.content_type = content_type;
                  d.size_bytes = size;
                  d.content_hash = ex.content_hash;
                  d.metadata = metadata;
                  d.page_count = d.format == "pdf" ? static_cast<int64_t>(ex.text.pages.size()) : 0;
                  d.created_at_ms = d.updated_at_ms = now_ms();
                  auto next = e.record;
                  next.next_document_seq += 1;
                  next.document_count += 1;
                  next.updated_at_ms = d.created_at_ms;
                  storage::write_batch batch;
                  storage::knowledge_store::put_base(batch, next);
                  storage::knowledge_store::put_document(batch, d);
                  auto pages =
                      std::make_shared<std::vector<extracted_page>>(std::move(ex.text.pages));
                  commit(
                      std::move(batch),
                      [self, id, next, d, pages, rp]() mutable {
                        auto& st = self->state;
                        auto i = st.bases.find(id.value);
                        if (i == st.bases.end()) {
                          rp.deliver(no_such_base());
                          return;
                        }
                        auto& e = i->second;
                        e.record.next_document_seq = next.next_document_seq;
                        e.record.document_count += 1;
                        e.record.updated_at_ms = next.updated_at_ms;
                        e.docs.emplace(d.id.value, d);
                        refresh_infos(e);
                        auto flag = std::make_shared<std::atomic<bool>>(false);
                        e.ingesting.emplace(d.id.value, flag);
                        auto& worker = st.ingest[st.next_ingest++ % st.ingest.size()];
                        self->send(worker,
                                   embed_job{e.record, d, std::move(*pages), e.slot, flag,
                                             caf::actor_cast<knowledge_reports_actor>(self)});
                        rp.deliver(upload_result{d, false});
                      },
                      rp);
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [owned](list_atom, const user_id& owner, const knowledge_base_id& id,
              const document_query& q) -> caf::result<document_page> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_base();
        document_page page;
        page.limit = q.limit;
        page.offset = q.offset;
        for (auto& [doc_id, d] : e->docs) {
          if (!q.status.empty() && d.status != q.status)
            continue;
          if (page.total >= q.offset && static_cast<int64_t>(page.documents.size()) < q.limit)
            page.documents.push_back(d);
          ++page.total;
        }
        return page;
      },
      [owned](find_atom, const user_id& owner, const knowledge_base_id& id,
              const document_id& doc) -> caf::result<knowledge_document> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_base();
        auto d = e->docs.find(doc.value);
        if (d == e->docs.end())
          return no_such_document();
        return d->second;
      },
      [self, owned, commit, drop_chunks](delete_atom, const user_id& owner,
                                         const knowledge_base_id& id,
                                         const document_id& doc) -> caf::result<bool> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_base();
        auto d = e->docs.find(doc.value);
        if (d == e->docs.end())
          return no_such_document();
        auto rp = self->make_response_promise<bool>();
        auto gone = d->second;
        auto next = e->record;
        next.document_count -= 1;
        next.chunk_count -= gone.status == "ready" ? gone.chunk_count : 0;
        next.updated_at_ms = now_ms();
        storage::write_batch batch;
        storage::knowledge_store::put_base(batch, next);
        storage::knowledge_store::erase_document(batch, gone);
        commit(
            std::move(batch),
            [self, id, gone, next, drop_chunks, rp]() mutable {
              auto& st = self->state;
              auto i = st.bases.find(id.value);
              if (i != st.bases.end()) {
                auto& e = i->second;
                e.record.document_count = next.document_count;
                e.record.chunk_count = next.chunk_count;
                e.record.updated_at_ms = next.updated_at_ms;
                e.docs.erase(gone.id.value);
                refresh_infos(e);
                if (auto f = e.ingesting.find(gone.id.value); f != e.ingesting.end()) {
                  // Its worker stops and reports what it stored: removed then.
                  f->second->store(true);
                } else if (gone.status == "ready") {
                  std::vector<int64_t> ids;
                  for (int64_t k = 0; k < gone.chunk_count; ++k)
                    ids.push_back(storage::chunk_id(gone.seq, k));
                  drop_chunks(e, ids);
                }
              }
              rp.deliver(true);
            },
            rp);
        return rp;
      },
      [self, owned](search_atom, const user_id& owner, const knowledge_base_id& id,
                    search_request& req) -> caf::result<search_result> {
        auto e = owned(owner, id);
        if (!e)
          return no_such_base();
        auto& st = self->state;
        auto& worker = st.search[st.next_search++ % st.search.size()];
        return self->delegate(worker,
                              search_job{e->record, std::move(req), e->slot->get(), e->infos});
      },
      [self](retrieve_atom, const user_id& owner, const std::vector<std::string>& ids,
             std::string& query, int64_t top_k,
             double min_score) -> caf::result<std::vector<retrieved_chunk>> {
        auto& st = self->state;
        retrieve_job job;
        for (auto& id : ids) {
          auto i = st.bases.find(id);
          if (i == st.bases.end() || i->second.record.owner != owner || !i->second.slot->get())
            continue;
          search_request req;
          req.query = query;
          req.top_k = top_k;
          req.score_threshold = min_score;
          job.bases.push_back(
              search_job{i->second.record, std::move(req), i->second.slot->get(), i->second.infos});
        }
        if (job.bases.empty())
          return std::vector<retrieved_chunk>{};
        auto& worker = st.search[st.next_search++ % st.search.size()];
        return self->delegate(worker, std::move(job));
      },
      // -- reports of the workers ------------------------------------------------------
      [self](progress_atom, const knowledge_base_id& id, const document_id& doc, int64_t pct) {
        auto i = self->state.bases.find(id.value);
        if (i == self->state.bases.end())
          return;
        if (auto d = i->second.docs.find(doc.value); d != i->second.docs.end())
          d->second.progress = std::max(d->second.progress, pct);
      },
      [self, commit_quietly, drop_chunks](ingest_outcome& out) {
        auto& st = self->state;
        auto i = st.bases.find(out.base.value);
        if (i == st.bases.end()) {
          // The base is gone; chunks the worker stored after its deletion go too.
          storage::write_batch batch;
          for (auto id : out.chunk_ids)
            storage::knowledge_store::erase_chunk(batch, out.base, id);
          if (!batch.empty())
            commit_quietly(std::move(batch), "removing the chunks of a deleted base");
          return;
        }
        auto& e = i->second;
        e.ingesting.erase(out.document.value);
        auto d = e.docs.find(out.document.value);
        if (d == e.docs.end() || out.cancelled) {
          drop_chunks(e, out.chunk_ids);
          return;
        }
        auto& doc = d->second;
        doc.updated_at_ms = now_ms();
        if (!out.error.empty()) {
          spdlog::warn("knowledge base {}: document {} failed: {}", e.record.id.value, doc.id.value,
                       out.error);
          drop_chunks(e, out.chunk_ids);
          doc.status = "failed";
          doc.error = out.error;
        } else {
          doc.status = "ready";
          doc.progress = 100;
          doc.chunk_count = static_cast<int64_t>(out.chunk_ids.size());
          e.record.chunk_count += doc.chunk_count;
          e.record.embedding_dimension = out.dimension;
        }
        storage::write_batch batch;
        storage::knowledge_store::put_document(batch, doc);
        storage::knowledge_store::put_base(batch, e.record);
        commit_quietly(std::move(batch), "storing a document's state");
      },
  };
}

} // namespace

caf::expected<knowledge_service>
spawn_knowledge_service(caf::actor_system& sys, std::shared_ptr<storage::knowledge_store> store,
                        store_writer_actor writer, std::shared_ptr<const remote_embedder> embedder,
                        size_t ingest_workers, size_t search_workers,
                        storage::index_options index_options) {
  auto records = store->load_bases();
  if (!records)
    return std::move(records.error());
  auto docs = store->load_documents();
  if (!docs)
    return std::move(docs.error());
  std::unordered_map<std::string, base_entry> by_id;
  std::vector<std::string> order;
  for (auto& kb : *records) {
    order.push_back(kb.id.value);
    base_entry e;
    e.record = std::move(kb);
    e.slot = std::make_shared<index_slot>(index_options);
    by_id.emplace(order.back(), std::move(e));
  }
  // Documents whose ingestion a stop interrupted failed; their partial chunks go.
  storage::write_batch repairs;
  size_t interrupted = 0;
  for (auto& d : *docs) {
    auto b = by_id.find(d.base.value);
    if (b == by_id.end()) { // an orphan of a base deletion
      storage::knowledge_store::erase_document(repairs, d);
      continue;
    }
    if (d.status == "processing") {
      ++interrupted;
      d.status = "failed";
      d.error = "the server stopped while the document was ingested: upload it again";
      d.updated_at_ms = now_ms();
      storage::knowledge_store::put_document(repairs, d);
      auto ids = store->chunk_ids_of(d.base, d.seq);
      if (!ids)
        return std::move(ids.error());
      for (auto id : *ids)
        storage::knowledge_store::erase_chunk(repairs, d.base, id);
    }
    b->second.docs.emplace(d.id.value, std::move(d));
  }
  // Chunks a worker stored for a base or document deleted just before a stop (the report
  // of the worker, on which they are erased, never came) go too.
  std::unordered_map<std::string, std::unordered_set<int64_t>> live_seqs;
  for (auto& [id, e] : by_id)
    for (auto& [doc_id, d] : e.docs)
      live_seqs[id].insert(d.seq);
  size_t orphans = 0;
  for (auto f : {storage::family::knowledge_chunks, storage::family::knowledge_vectors}) {
    auto err = store->db().scan(f, "", [&](std::string_view key, std::string_view) {
      auto slash = key.find('/');
      bool keep = false;
      if (slash != std::string_view::npos)
        if (auto b = live_seqs.find(std::string{key.substr(0, slash)}); b != live_seqs.end()) {
          auto chunk = std::strtoull(std::string{key.substr(slash + 1)}.c_str(), nullptr, 16);
          keep = b->second.count(storage::document_seq_of(static_cast<int64_t>(chunk))) != 0;
        }
      if (!keep) {
        repairs.erase(f, std::string{key});
        ++orphans;
      }
      return true;
    });
    if (err)
      return err;
  }
  if (orphans > 0)
    spdlog::warn("knowledge: erased {} chunks and vectors of deleted documents", orphans);
  if (!repairs.empty())
    if (auto err = store->db().write(std::move(repairs)))
      return err;
  if (interrupted > 0)
    spdlog::warn("knowledge: {} documents were being ingested when the server stopped: failed",
                 interrupted);
  std::vector<base_entry> bases;
  size_t chunks = 0;
  for (auto& id : order) {
    auto& e = by_id.at(id);
    if (e.record.embedding_dimension > 0) {
      // Filled first, clustered once when full (not at every doubling on the way).
      auto loading = index_options;
      loading.background = false;
      auto index = std::make_shared<storage::knowledge_index>(
          static_cast<size_t>(e.record.embedding_dimension), loading);
      std::unordered_map<int64_t, bool> ready;
      for (auto& [doc_id, d] : e.docs)
        ready[d.seq] = d.status == "ready";
      auto err = store->load_index(
          e.record.id, *index,
          [&](int64_t seq) {
            auto r = ready.find(seq);
            return r != ready.end() && r->second;
          },
          index_terms);
      if (err)
        return err;
      chunks += index->size();
      if (index_options.background)
        index->start_background_builds();
      e.slot->set(std::move(index));
    }
    bases.push_back(std::move(e));
  }
  spdlog::info("loaded {} knowledge bases, {} chunks indexed", bases.size(), chunks);
  knowledge_service out;
  auto reader = spawn_knowledge_worker(sys, store, embedder);
  out.workers.push_back(caf::actor_cast<caf::actor>(reader));
  std::vector<knowledge_worker_actor> ingest;
  std::vector<knowledge_worker_actor> search;
  for (size_t i = 0; i < std::max<size_t>(1, ingest_workers); ++i)
    ingest.push_back(spawn_knowledge_worker(sys, store, embedder));
  for (size_t i = 0; i < std::max<size_t>(1, search_workers); ++i)
    search.push_back(spawn_knowledge_worker(sys, store, embedder));
  for (auto& w : ingest)
    out.workers.push_back(caf::actor_cast<caf::actor>(w));
  for (auto& w : search)
    out.workers.push_back(caf::actor_cast<caf::actor>(w));
  auto manager = sys.spawn(manager_impl, std::move(writer), std::move(bases), std::move(reader),
                           std::move(ingest), std::move(search), index_options);
  out.manager = caf::actor_cast<knowledge_manager_actor>(manager);
  return out;
}

} // namespace chatagent::actors
