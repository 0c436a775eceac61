// The knowledge base endpoints (知识库管理 in the API document).

#include "http/api_impl.hpp"
#include "http/multipart.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/knowledge_json.hpp"

namespace chatagent::http {

void api::impl::create_knowledge_base(const call_ptr& c) {
  auto body = json_body(c);
  if (!body)
    return;
  knowledge_base kb;
  if (auto err = apply_knowledge_base_json(kb, *body, true)) {
    fail(c, err);
    return;
  }
  ask<knowledge_base>(c, knowledge, 201, write_knowledge_base, create_atom::value, c->auth->subject,
                      std::move(kb));
}

void api::impl::list_knowledge_bases(const call_ptr& c) {
  query_reader q{c->req.target};
  knowledge_query query;
  for (auto err :
       {q.integer("limit", 1, chat_limits::page_max, query.limit),
        q.integer("offset", 0, INT32_MAX, query.offset), q.text("search", 200, query.search)})
    if (err) {
      fail(c, err);
      return;
    }
  ask<knowledge_page>(
      c, knowledge, 200,
      [](json_writer& w, const knowledge_page& page) {
        w.begin_object().key("knowledge_bases").begin_array();
        for (auto& kb : page.bases)
          write_knowledge_base(w, kb);
        w.end_array();
        write_page_tail(w, page.total, page.limit, page.offset);
        w.end_object();
      },
      list_atom::value, c->auth->subject, query);
}

void api::impl::get_knowledge_base(const call_ptr& c) {
  ask<knowledge_base>(c, knowledge, 200, write_knowledge_base, find_atom::value, c->auth->subject,
                      knowledge_base_id{c->params[0]});
}

void api::impl::update_knowledge_base(const call_ptr& c) {
  if (!json_body(c))
    return;
  ask<knowledge_base>(c, knowledge, 200, write_knowledge_base, update_atom::value, c->auth->subject,
                      knowledge_base_id{c->params[0]}, c->req.body);
}

void api::impl::delete_knowledge_base(const call_ptr& c) {
  auto id = c->params[0];
  ask<bool>(
      c, knowledge, 200,
      [id](json_writer& w, bool) {
        w.begin_object()
            .member("success", true)
            .member("message", "知识库已删除")
            .member("base_id", id)
            .end_object();
      },
      delete_atom::value, c->auth->subject, knowledge_base_id{c->params[0]});
}

// -- documents ------------------------------------------------------------------------

void api::impl::upload_document(const call_ptr& c) {
  auto boundary = multipart_boundary(c->req.content_type);
  if (!boundary) {
    fail(c, error_info{errc::unsupported_media_type,
                       "upload the document as multipart/form-data with a 'file' part (and "
                       "an optional 'metadata' part holding a JSON object)",
                       "file", "not multipart/form-data"});
    return;
  }
  std::string why;
  auto parts = parse_multipart(c->req.body, *boundary, why);
  if (!parts) {
    fail(c, error_info{errc::validation_error, "malformed multipart body: " + why, "file",
                       "malformed"});
    return;
  }
  document_upload up;
  bool has_file = false;
  for (auto& p : *parts) {
    if (p.name == "file" && !has_file) {
      has_file = true;
      up.filename = p.filename;
      up.content_type = p.content_type;
      up.bytes = std::string{p.body};
    } else if (p.name == "metadata") {
      auto doc = parse_json(p.body);
      if (!doc || !doc->is_object()) {
        fail(c, error_info{errc::validation_error, "metadata must be a JSON object", "metadata",
                           "not a JSON object"});
        return;
      }
      json_writer w;
      w.value(*doc);
      if (w.str().size() > knowledge_limits::metadata_max) {
        fail(c, error_info{errc::validation_error,
                           "metadata must be at most " +
                               std::to_string(knowledge_limits::metadata_max) + " bytes of JSON",
                           "metadata", "too large"});
        return;
      }
      up.metadata = w.take();
    }
  }
  if (!has_file || up.bytes.empty()) {
    fail(c, error_info{errc::validation_error,
                       has_file ? "the uploaded file is empty" : "the form has no 'file' part",
                       "file", has_file ? "empty" : "required"});
    return;
  }
  if (up.filename.size() > 255 || utf8_length(up.filename) == std::string_view::npos) {
    fail(c, error_info{errc::validation_error, "the file name must be UTF-8, at most 255 bytes",
                       "file", "bad file name"});
    return;
  }
  // Reading a large file takes a while: the model's deadline, not the usual one.
  in_actor(c, settings.llm_timeout,
           [this, c, up = std::move(up)](caf::event_based_actor* self) mutable {
             self->request(knowledge, caf::infinite, upload_atom::value, c->auth->subject,
                           knowledge_base_id{c->params[0]}, std::move(up))
                 .then(
                     [this, c](upload_result& r) {
                       json_writer w;
                       write_document(w, r.document);
                       finish(c, r.duplicate ? 200 : 201, w.take());
                     },
                     [this, c](caf::error& err) { fail(c, err); });
           });
}

void api::impl::list_documents(const call_ptr& c) {
  query_reader q{c->req.target};
  document_query query;
  for (auto err :
       {q.integer("limit", 1, chat_limits::page_max, query.limit),
        q.integer("offset", 0, INT32_MAX, query.offset), q.text("status", 32, query.status)})
    if (err) {
      fail(c, err);
      return;
    }
  if (!query.status.empty() && query.status != "processing" && query.status != "ready" &&
      query.status != "failed") {
    fail(c, error_info{errc::validation_error, "status must be processing, ready or failed",
                       "status", "unknown"});
    return;
  }
  ask<document_page>(
      c, knowledge, 200,
      [](json_writer& w, const document_page& page) {
        w.begin_object().key("documents").begin_array();
        for (auto& d : page.documents)
          write_document(w, d);
        w.end_array();
        write_page_tail(w, page.total, page.limit, page.offset);
        w.end_object();
      },
      list_atom::value, c->auth->subject, knowledge_base_id{c->params[0]}, query);
}

void api::impl::get_document(const call_ptr& c) {
  ask<knowledge_document>(c, knowledge, 200, write_document, find_atom::value, c->auth->subject,
                          knowledge_base_id{c->params[0]}, document_id{c->params[1]});
}

void api::impl::delete_document(const call_ptr& c) {
  auto id = c->params[1];
  ask<bool>(
      c, knowledge, 200,
      [id](json_writer& w, bool) {
        w.begin_object()
            .member("success", true)
            .member("message", "文档已删除")
            .member("document_id", id)
            .end_object();
      },
      delete_atom::value, c->auth->subject, knowledge_base_id{c->params[0]},
      document_id{c->params[1]});
}

void api::impl::search_knowledge_base(const call_ptr& c) {
  auto body = json_body(c);
  if (!body)
    return;
  search_request req;
  if (auto err = read_search_request(req, *body)) {
    fail(c, err);
    return;
  }
  ask<search_result>(c, knowledge, 200, write_search_result, search_atom::value, c->auth->subject,
                     knowledge_base_id{c->params[0]}, std::move(req));
}

} // namespace chatagent::http
