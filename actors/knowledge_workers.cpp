#include "actors/knowledge_workers.hpp"

#include "actors/local_embedder.hpp"
#include "actors/remote_embedder.hpp"
#include "actors/text_chunker.hpp"
#include "actors/text_terms.hpp"
#include "protocol/error.hpp"
#include "protocol/json.hpp"
#include "storage/knowledge_store.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <sodium.h>

namespace chatagent::actors {

using namespace protocol;

namespace {

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (auto b : digest) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 0xF]);
  }
  return out;
}

/// The metadata a search result shows for a chunk: the document's own, then what the
/// index knows about where the chunk comes from.
json_value chunk_metadata(const document_info* doc, const storage::chunk_record& c) {
  json_value::object_t obj;
  if (doc != nullptr)
    obj = doc->metadata;
  auto set = [&](std::string key, json_value v) {
    std::erase_if(obj, [&](const json_value::member_t& m) { return m.first == key; });
    obj.emplace_back(std::move(key), std::move(v));
  };
  if (doc != nullptr) {
    set("title", json_value{doc->title});
    set("source", json_value{doc->source});
    set("document_id", json_value{doc->id});
  }
  if (c.page > 0)
    set("page", json_value{c.page});
  set("chunk_index", json_value{storage::chunk_index_of(c.id)});
  return json_value{std::move(obj)};
}

std::string render(const json_value& v) {
  json_writer w;
  w.value(v);
  return w.take();
}

/// True when every member of `filters` equals the member of `metadata` with its name (or,
/// when the filter is an array, equals one of its elements).
bool passes(const json_value& filters, const json_value& metadata) {
  for (auto& [key, want] : filters.as_object()) {
    auto have = metadata.find(key);
    if (have == nullptr)
      return false;
    auto have_text = render(*have);
    if (want.is_array()) {
      bool any = false;
      for (auto& w : want.as_array())
        any = any || render(w) == have_text;
      if (!any)
        return false;
    } else if (render(want) != have_text) {
      return false;
    }
  }
  return true;
}

/// The embeddings of `texts` with the base's model.
caf::expected<std::vector<std::vector<float>>> embed_texts(const remote_embedder& remote,
                                                           const knowledge_base& base,
                                                           const std::vector<std::string>& texts) {
  if (base.embedding.provider == "local") {
    std::vector<std::vector<float>> out;
    out.reserve(texts.size());
    for (auto& t : texts)
      out.push_back(local_embed(t));
    return out;
  }
  return remote.embed(base.embedding, base.embedding_model, texts);
}

/// A chunk a search found, with its document and the metadata a result shows.
struct found_chunk {
  storage::chunk_record record;
  document_info doc;
  json_value metadata;
  double score = 0;
};

/// The best chunks of `job`'s base for its request: scored, above the threshold, through
/// the filters, at most `top_k`, best first.
caf::expected<std::vector<found_chunk>> find_chunks(const storage::knowledge_store& store,
                                                    const remote_embedder& remote,
                                                    const search_job& job) {
  std::vector<found_chunk> out;
  auto filters = parse_json(job.request.filters);
  bool filtered = filters && filters->is_object() && !filters->as_object().empty();
  auto top_k = static_cast<size_t>(job.request.top_k);
  if (!job.index || job.index->size() == 0)
    return out;
  auto vectors = embed_texts(remote, job.base, {job.request.query});
  if (!vectors)
    return std::move(vectors.error());
  auto& vector = vectors->front();
  if (vector.size() != job.index->dimension())
    return api_error(errc::bad_gateway, "the embedding model " + job.base.embedding_model +
                                            " now returns " + std::to_string(vector.size()) +
                                            " dimensions; the base's vectors have " +
                                            std::to_string(job.index->dimension()));
  auto terms = index_terms(job.request.query);
  // Filters on what a document says of itself (its metadata, title, source, id) choose
  // the documents before scoring, and `chunk_index` (part of a chunk's id) the chunks:
  // only those are scored. A `page` filter (in the chunk's record) applies to the chunks
  // found, so every accepted chunk is looked at then.
  std::function<bool(int64_t)> accept;
  std::unordered_set<int64_t> documents;
  std::optional<std::unordered_set<int64_t>> indices; // chunk_index wanted
  bool per_chunk = false;
  if (filtered) {
    json_value::object_t document_level;
    for (auto& [key, want] : filters->as_object()) {
      if (key == "page") {
        per_chunk = true;
      } else if (key == "chunk_index") {
        indices.emplace();
        auto add = [&](const json_value& v) {
          if (v.is_integer())
            indices->insert(v.as_int());
        };
        if (want.is_array())
          for (auto& v : want.as_array())
            add(v);
        else
          add(want);
      } else {
        document_level.emplace_back(key, want);
      }
    }
    json_value doc_filters{std::move(document_level)};
    for (auto& [seq, info] : *job.documents)
      if (passes(doc_filters, chunk_metadata(&info, storage::chunk_record{})))
        documents.insert(seq);
    if (documents.empty() || (indices && indices->empty()))
      return out;
    accept = [&](int64_t id) {
      return documents.count(storage::document_seq_of(id)) != 0 &&
             (!indices || indices->count(storage::chunk_index_of(id)) != 0);
    };
  }
  auto k = per_chunk ? job.index->size() : top_k;
  auto hits = job.index->search(vector, terms, k, std::max<size_t>(50, 4 * top_k), false, accept);
  for (auto& h : hits) {
    if (out.size() >= top_k || h.score < job.request.score_threshold)
      break;
    auto records = store.chunks(job.base.id, {h.id});
    if (!records)
      return std::move(records.error());
    if (records->empty())
      continue; // removed meanwhile
    found_chunk f;
    f.record = std::move(records->front());
    if (auto doc = job.documents->find(storage::document_seq_of(h.id)); doc != job.documents->end())
      f.doc = doc->second;
    f.metadata = chunk_metadata(f.doc.id.empty() ? nullptr : &f.doc, f.record);
    if (filtered && !passes(*filters, f.metadata))
      continue;
    f.score = std::round(static_cast<double>(h.score) * 10000) / 10000;
    out.push_back(std::move(f));
  }
  return out;
}

struct worker_state {
  worker_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  std::shared_ptr<storage::knowledge_store> store;
  std::shared_ptr<const remote_embedder> embedder;
};

knowledge_worker_actor::behavior_type
worker_impl(knowledge_worker_actor::stateful_pointer<worker_state> self,
            std::shared_ptr<storage::knowledge_store> store,
            std::shared_ptr<const remote_embedder> embedder) {
  self->state.store = std::move(store);
  self->state.embedder = std::move(embedder);
  return {
      [](extract_atom, const document_upload& up) -> caf::result<extracted_document> {
        auto text = extract_text(up.filename, up.content_type, up.bytes);
        if (!text)
          return std::move(text.error());
        return extracted_document{std::move(*text), sha256_hex(up.bytes)};
      },
      [self](embed_job& job) {
        ingest_outcome out;
        out.base = job.base.id;
        out.document = job.document.id;
        auto report = [&] { self->send(job.report_to, std::move(out)); };
        // Every page's chunks, in order.
        std::vector<storage::chunk_record> chunks;
        for (auto& page : job.pages)
          for (auto& c : chunk_text(page.text, static_cast<size_t>(job.base.chunk_size),
                                    static_cast<size_t>(job.base.chunk_overlap))) {
            storage::chunk_record r;
            r.page = page.number;
            r.text = std::move(c.text);
            chunks.push_back(std::move(r));
          }
        if (chunks.empty()) {
          out.error = "the document has no text to index";
          report();
          return;
        }
        if (static_cast<int64_t>(chunks.size()) > storage::max_chunks_per_document) {
          out.error = "the document makes more than " +
                      std::to_string(storage::max_chunks_per_document) +
                      " chunks: split it, or use a larger chunk_size";
          report();
          return;
        }
        std::vector<storage::indexed_chunk> indexed;
        indexed.reserve(chunks.size());
        auto fail = [&](std::string why) {
          out.error = std::move(why);
          report();
        };
        for (size_t first = 0; first < chunks.size(); first += remote_embedder::batch_size) {
          if (job.cancelled->load()) {
            out.cancelled = true;
            report();
            return;
          }
          auto last = std::min(chunks.size(), first + remote_embedder::batch_size);
          std::vector<std::string> texts;
          for (size_t i = first; i < last; ++i)
            texts.push_back(chunks[i].text);
          auto vectors = embed_texts(*self->state.embedder, job.base, texts);
          if (!vectors) {
            fail("embedding failed: " + describe(vectors.error()).message);
            return;
          }
          auto dimension = static_cast<int64_t>(vectors->front().size());
          if (out.dimension == 0)
            out.dimension = dimension;
          auto expected =
              job.base.embedding_dimension > 0 ? job.base.embedding_dimension : out.dimension;
          if (dimension != expected) {
            fail("the embedding model returns " + std::to_string(dimension) +
                 " dimensions; the base's vectors have " + std::to_string(expected));
            return;
          }
          storage::write_batch batch;
          for (size_t i = first; i < last; ++i) {
            auto& c = chunks[i];
            c.id = storage::chunk_id(job.document.seq, static_cast<int64_t>(i));
            storage::indexed_chunk x;
            x.id = c.id;
            x.vector = std::move((*vectors)[i - first]);
            x.terms = index_terms(c.text);
            storage::knowledge_store::put_chunk(batch, job.base.id, c, x.vector);
            indexed.push_back(std::move(x));
          }
          if (auto err = self->state.store->db().write(std::move(batch))) {
            fail("storing the chunks failed: " + describe(err).message);
            return;
          }
          for (size_t i = first; i < last; ++i)
            out.chunk_ids.push_back(chunks[i].id);
          auto pct = static_cast<int64_t>(99 * last / chunks.size());
          self->send(job.report_to, progress_atom::value, job.base.id, job.document.id, pct);
        }
        if (job.cancelled->load()) {
          out.cancelled = true;
          report();
          return;
        }
        auto index = job.index->get_or_create(static_cast<size_t>(out.dimension));
        if (static_cast<int64_t>(index->dimension()) != out.dimension) {
          fail("the embedding model returns " + std::to_string(out.dimension) +
               " dimensions; the base's vectors have " + std::to_string(index->dimension()));
          return;
        }
        index->add(std::move(indexed));
        report();
      },
      [self](search_job& job) -> caf::result<search_result> {
        auto started = std::chrono::steady_clock::now();
        auto found = find_chunks(*self->state.store, *self->state.embedder, job);
        if (!found)
          return std::move(found.error());
        search_result out;
        for (auto& f : *found) {
          search_hit hit;
          hit.content = std::move(f.record.text);
          hit.metadata = render(f.metadata);
          hit.score = f.score;
          out.results.push_back(std::move(hit));
        }
        out.query_time_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        return out;
      },
      [self](retrieve_job& job) -> caf::result<std::vector<retrieved_chunk>> {
        std::vector<retrieved_chunk> out;
        for (auto& base : job.bases) {
          auto found = find_chunks(*self->state.store, *self->state.embedder, base);
          if (!found)
            return std::move(found.error());
          for (auto& f : *found) {
            retrieved_chunk c;
            c.content = std::move(f.record.text);
            c.title = f.doc.title;
            c.source = f.doc.source;
            c.page = f.record.page;
            c.base_id = base.base.id.value;
            c.document_id = f.doc.id;
            c.score = f.score;
            out.push_back(std::move(c));
          }
        }
        std::stable_sort(out.begin(), out.end(),
                         [](auto& x, auto& y) { return x.score > y.score; });
        if (!job.bases.empty() && out.size() > static_cast<size_t>(job.bases.front().request.top_k))
          out.resize(static_cast<size_t>(job.bases.front().request.top_k));
        return out;
      },
  };
}

} // namespace

std::vector<std::string> index_terms(std::string_view text) {
  std::vector<std::string> out;
  for (auto& t : text_terms(text))
    out.push_back(std::move(t.text));
  return out;
}

knowledge_worker_actor spawn_knowledge_worker(caf::actor_system& sys,
                                              std::shared_ptr<storage::knowledge_store> store,
                                              std::shared_ptr<const remote_embedder> embedder) {
  return sys.spawn<caf::detached>(worker_impl, std::move(store), std::move(embedder));
}

} // namespace chatagent::actors
