// The bots and conversations endpoints (机器人管理, 对话管理 in the API document).

#include "http/api_impl.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/plugin_json.hpp"
#include "protocol/validation.hpp"

namespace chatagent::http {

// -- bots ---------------------------------------------------------------------------

namespace {

void render_bot(json_writer& w, const bot& b) {
  write_bot(w, b, false);
}

/// `{"success": true, "message": ..., <id_key>: <id>}`
auto render_success(std::string message, std::string id_key, std::string id) {
  return [message = std::move(message), id_key = std::move(id_key),
          id = std::move(id)](json_writer& w, bool) {
    w.begin_object()
        .member("success", true)
        .member("message", message)
        .member(id_key, id)
        .end_object();
  };
}

auto render_start_stop(bool started) {
  return [started](json_writer& w, const protocol::bot_status& s) {
    w.begin_object()
        .member("success", true)
        .member("message", started ? "机器人启动成功" : "机器人已停止")
        .member("bot_id", s.id.value)
        .member("is_running", s.is_running)
        .member("is_online", s.is_online)
        .end_object();
  };
}

} // namespace

void api::impl::create_bot(const call_ptr& c) {
  auto body = json_body(c);
  if (!body)
    return;
  bot b;
  if (auto err = apply_bot_json(b, *body, true)) {
    fail(c, err);
    return;
  }
  ask<bot>(c, bots, 201, render_bot, create_atom::value, c->auth->subject, std::move(b));
}

void api::impl::list_bots(const call_ptr& c) {
  query_reader q{c->req.target};
  bot_query query;
  for (auto err :
       {q.integer("limit", 1, chat_limits::page_max, query.limit),
        q.integer("offset", 0, INT32_MAX, query.offset), q.text("search", 200, query.search),
        q.text("platform_type", 32, query.platform_type), q.boolean("is_active", query.is_active)})
    if (err) {
      fail(c, err);
      return;
    }
  ask<bot_page>(
      c, bots, 200,
      [](json_writer& w, const bot_page& page) {
        w.begin_object().key("bots").begin_array();
        for (auto& b : page.bots)
          write_bot(w, b, true);
        w.end_array();
        write_page_tail(w, page.total, page.limit, page.offset);
        w.end_object();
      },
      list_atom::value, c->auth->subject, query);
}

void api::impl::get_bot(const call_ptr& c) {
  ask<bot>(c, bots, 200, render_bot, find_atom::value, c->auth->subject, bot_id{c->params[0]});
}

void api::impl::update_bot(const call_ptr& c) {
  if (!json_body(c))
    return;
  ask<bot>(c, bots, 200, render_bot, update_atom::value, c->auth->subject, bot_id{c->params[0]},
           c->req.body);
}

void api::impl::delete_bot(const call_ptr& c) {
  ask<bool>(c, bots, 200, render_success("机器人已删除", "bot_id", c->params[0]),
            delete_atom::value, c->auth->subject, bot_id{c->params[0]});
}

void api::impl::start_bot(const call_ptr& c) {
  ask<protocol::bot_status>(c, bots, 200, render_start_stop(true), start_atom::value,
                            c->auth->subject, bot_id{c->params[0]});
}

void api::impl::stop_bot(const call_ptr& c) {
  ask<protocol::bot_status>(c, bots, 200, render_start_stop(false), stop_atom::value,
                            c->auth->subject, bot_id{c->params[0]});
}

void api::impl::get_bot_status(const call_ptr& c) {
  ask<protocol::bot_status>(c, bots, 200, write_bot_status, status_atom::value, c->auth->subject,
                            bot_id{c->params[0]});
}

// -- plugins ------------------------------------------------------------------------

void api::impl::list_available_plugins(const call_ptr& c) {
  ask<std::vector<plugin_info>>(
      c, plugins, 200,
      [](json_writer& w, const std::vector<plugin_info>& all) {
        w.begin_object().key("plugins").begin_array();
        for (auto& p : all)
          write_plugin_info(w, p);
        w.end_array().end_object();
      },
      list_atom::value, c->auth->subject);
}

void api::impl::create_plugin(const call_ptr& c) {
  if (!json_body(c))
    return;
  ask<plugin_info>(c, plugins, 201, write_plugin_info, create_atom::value, c->auth->subject,
                   c->req.body);
}

void api::impl::get_plugin(const call_ptr& c) {
  ask<plugin_info>(c, plugins, 200, write_plugin_info, find_atom::value, c->auth->subject,
                   c->params[0]);
}

void api::impl::update_plugin(const call_ptr& c) {
  if (!json_body(c))
    return;
  ask<plugin_info>(c, plugins, 200, write_plugin_info, update_atom::value, c->auth->subject,
                   c->params[0], c->req.body);
}

void api::impl::delete_plugin(const call_ptr& c) {
  ask<bool>(c, plugins, 200, render_success("插件已删除", "plugin_id", c->params[0]),
            delete_atom::value, c->auth->subject, c->params[0]);
}

void api::impl::list_bot_plugins(const call_ptr& c) {
  bot_id bot{c->params[0]};
  ask<std::vector<installed_plugin>>(
      c, bots, 200,
      [bot](json_writer& w, const std::vector<installed_plugin>& all) {
        w.begin_object().key("plugins").begin_array();
        for (auto& p : all)
          write_installed_plugin(w, bot, p);
        w.end_array().member("total", static_cast<int64_t>(all.size())).end_object();
      },
      plugins_atom::value, c->auth->subject, bot);
}

void api::impl::get_bot_plugin(const call_ptr& c) {
  bot_id bot{c->params[0]};
  auto id = c->params[1];
  in_actor(c, [this, c, bot, id](caf::event_based_actor* self) {
    self->request(bots, caf::infinite, plugins_atom::value, c->auth->subject, bot)
        .then(
            [this, c, bot, id](std::vector<installed_plugin>& all) {
              for (auto& p : all)
                if (p.install.plugin_id == id) {
                  json_writer w;
                  write_installed_plugin(w, bot, p);
                  finish(c, 200, w.take());
                  return;
                }
              fail(c,
                   error_info{errc::not_found, "the plugin " + id + " is not installed on this bot",
                              "plugin_id", "not installed"});
            },
            [this, c](caf::error& err) { fail(c, err); });
  });
}

void api::impl::install_plugin(const call_ptr& c) {
  // The body may be empty: the plugin's defaults, enabled.
  if (!c->req.body.empty() && !json_body(c))
    return;
  bot_id bot{c->params[0]};
  ask<installed_plugin>(
      c, bots, 201,
      [bot](json_writer& w, const installed_plugin& p) { write_installed_plugin(w, bot, p); },
      install_atom::value, c->auth->subject, bot, c->params[1], c->req.body, true);
}

void api::impl::update_bot_plugin(const call_ptr& c) {
  if (!json_body(c))
    return;
  bot_id bot{c->params[0]};
  ask<installed_plugin>(
      c, bots, 200,
      [bot](json_writer& w, const installed_plugin& p) { write_installed_plugin(w, bot, p); },
      install_atom::value, c->auth->subject, bot, c->params[1], c->req.body, false);
}

void api::impl::uninstall_plugin(const call_ptr& c) {
  ask<bool>(c, bots, 200, render_success("插件已卸载", "plugin_id", c->params[1]),
            uninstall_atom::value, c->auth->subject, bot_id{c->params[0]}, c->params[1]);
}

// -- platform callbacks -------------------------------------------------------------

void api::impl::platform_callback(const call_ptr& c) {
  // Authenticated by the platform's signature, which the bot's adapter checks.
  platform_event ev;
  ev.method = c->req.method;
  if (auto q = c->req.target.find('?'); q != std::string::npos)
    ev.query = c->req.target.substr(q + 1);
  ev.body = c->req.body;
  ev.headers = c->req.headers;
  in_actor(c, [this, c, ev = std::move(ev)](caf::event_based_actor* self) mutable {
    self->request(bots, caf::infinite, inbound_atom::value, bot_id{c->params[0]}, std::move(ev))
        .then([this,
               c](platform_ack& ack) { finish(c, static_cast<unsigned>(ack.status), ack.body); },
              [this, c](caf::error& err) { fail(c, err); });
  });
}

// -- conversations ------------------------------------------------------------------

void api::impl::create_conversation(const call_ptr& c) {
  auto body = json_body(c);
  if (!body)
    return;
  conversation conv;
  if (auto err = apply_conversation_json(conv, *body, true)) {
    fail(c, err);
    return;
  }
  in_actor(c, [this, c, conv = std::move(conv)](caf::event_based_actor* self) mutable {
    self->request(conversations, caf::infinite, create_atom::value, c->auth->subject,
                  std::move(conv))
        .then(
            [this, c](conversation& created) {
              json_writer w;
              write_conversation(w, created);
              finish(c, 201, w.take());
            },
            [this, c](caf::error& err) {
              // The bot was named in the body: say which field was wrong.
              if (err == errc::not_found)
                fail(c, error_info{errc::not_found, "no such bot", "bot_id", "not found"});
              else
                fail(c, err);
            });
  });
}

void api::impl::list_conversations(const call_ptr& c) {
  query_reader q{c->req.target};
  conversation_query query;
  for (auto err : {q.integer("limit", 1, chat_limits::page_max, query.limit),
                   q.integer("offset", 0, INT32_MAX, query.offset), q.text("bot_id", 64, query.bot),
                   q.text("status", 16, query.status)})
    if (err) {
      fail(c, err);
      return;
    }
  if (!query.status.empty() && query.status != "active" && query.status != "archived") {
    fail(c, error_info{errc::validation_error, "status must be active or archived", "status",
                       "unknown status"});
    return;
  }
  ask<conversation_page>(
      c, conversations, 200,
      [](json_writer& w, const conversation_page& page) {
        w.begin_object().key("conversations").begin_array();
        for (auto& conv : page.conversations)
          write_conversation(w, conv);
        w.end_array();
        write_page_tail(w, page.total, page.limit, page.offset);
        w.end_object();
      },
      list_atom::value, c->auth->subject, query);
}

void api::impl::get_conversation(const call_ptr& c) {
  ask<conversation>(c, conversations, 200, write_conversation, find_atom::value, c->auth->subject,
                    conversation_id{c->params[0]});
}

void api::impl::update_conversation(const call_ptr& c) {
  if (!json_body(c))
    return;
  ask<conversation>(c, conversations, 200, write_conversation, update_atom::value, c->auth->subject,
                    conversation_id{c->params[0]}, c->req.body);
}

void api::impl::delete_conversation(const call_ptr& c) {
  ask<bool>(c, conversations, 200, render_success("对话已删除", "conversation_id", c->params[0]),
            delete_atom::value, c->auth->subject, conversation_id{c->params[0]});
}

void api::impl::send_message(const call_ptr& c) {
  auto body = json_body(c);
  if (!body)
    return;
  message_draft draft;
  if (auto err = read_message_draft(draft, *body)) {
    fail(c, err);
    return;
  }
  in_actor(c, settings.llm_timeout,
           [this, c, draft = std::move(draft)](caf::event_based_actor* self) mutable {
             self->request(conversations, caf::infinite, send_atom::value, c->auth->subject,
                           conversation_id{c->params[0]}, std::move(draft))
                 .then(
                     [this, c](exchange& x) {
                       json_writer w;
                       w.begin_object().key("user_message");
                       write_message(w, x.user_message);
                       w.key("bot_response");
                       write_message(w, x.bot_response);
                       w.end_object();
                       finish(c, 201, w.take());
                     },
                     [this, c](caf::error& err) { fail(c, err); });
           });
}

void api::impl::list_messages(const call_ptr& c) {
  query_reader q{c->req.target};
  int64_t limit = 50;
  int64_t offset = 0;
  for (auto err : {q.integer("limit", 1, 200, limit), q.integer("offset", 0, INT32_MAX, offset)})
    if (err) {
      fail(c, err);
      return;
    }
  ask<message_page>(
      c, conversations, 200,
      [](json_writer& w, const message_page& page) {
        w.begin_object().key("messages").begin_array();
        for (auto& m : page.messages)
          write_message(w, m);
        w.end_array();
        write_page_tail(w, page.total, page.limit, page.offset);
        w.end_object();
      },
      history_atom::value, c->auth->subject, conversation_id{c->params[0]}, limit, offset);
}

} // namespace chatagent::http
