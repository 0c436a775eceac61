// The knowledge base endpoints (知识库管理 in the API document).

#include "http/api_impl.hpp"
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

} // namespace chatagent::http
