#pragma once

// The answers an adapter gives its platform's chats: each chat message goes to the chat's
// conversation, and its answer streams into a live reply as the model writes it.

#include "adapters/adapters.hpp"
#include "adapters/inbound.hpp"
#include "adapters/live_reply.hpp"
#include "protocol/chat_api.hpp"
#include "protocol/error.hpp"
#include "protocol/inbound_message.hpp"
#include "protocol/platform.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

#include <caf/actor_cast.hpp>

namespace chatagent::adapters {

/// Part of an adapter's state (the adapter handles `stream_event` by calling `on_event`).
/// Answers of one conversation come in the order asked, so the adapter, subscribed to
/// the conversation while it waits for answers there, hands each stream to the oldest
/// reply waiting in that conversation.
class chat_streams {
 public:
  /// Asks the conversation of `draft`'s platform chat (made at its first message) to
  /// answer `m`, streaming the answer into `reply`; a failure is shown there as well.
  template <class Self>
  void ask(Self* self, const protocol::platform_services& services, protocol::user_id owner,
           protocol::conversation draft, protocol::message_draft m, live_reply_actor reply) {
    using namespace protocol;
    self->request(services.conversations, std::chrono::seconds(30), open_atom::value, owner,
                  std::move(draft))
        .then(
            [this, self, services, owner, m, reply](conversation& conv) {
              auto id = ++next_;
              replies_.emplace(id, reply);
              answering_[conv.id.value].push_back(id);
              auto ask = [this, self, services, owner, m, conv = conv.id, id] {
                self->request(services.conversations, caf::infinite, send_atom::value, owner, conv,
                              m)
                    .then(
                        [this, self, services, conv, id](exchange& x) {
                          // Not streamed (the subscription failed): shown whole.
                          settle(self, services, conv, id, std::move(x.bot_response.content));
                        },
                        [this, self, services, conv, id](caf::error& err) {
                          settle(self, services, conv, id, sorry(describe(err).message));
                        });
              };
              self->request(services.conversations, std::chrono::seconds(30), subscribe_atom::value,
                            owner, conv.id, caf::actor_cast<stream_subscriber_actor>(self))
                  .then([ask](bool) { ask(); }, [ask](caf::error&) { ask(); });
            },
            [self, reply](caf::error& err) {
              self->send(reply, finish_atom::value, sorry(describe(err).message));
            });
  }

  /// A chat message `text` from the platform: `/help` is answered with `help`, `/reset`
  /// starts a new conversation, anything else is asked (with `metadata`); each answered
  /// in `reply`.
  template <class Self>
  void answer(Self* self, const protocol::platform_services& services, protocol::user_id owner,
              protocol::conversation draft, std::string text, std::string metadata,
              live_reply_actor reply, std::string help) {
    if (text == "/help") {
      self->send(reply, finish_atom::value, std::move(help));
      return;
    }
    if (text == "/reset") {
      reset(self, services, std::move(owner), std::move(draft), std::move(reply),
            "Done: let's start over.");
      return;
    }
    protocol::message_draft m;
    m.content = std::move(text);
    m.metadata = std::move(metadata);
    ask(self, services, std::move(owner), std::move(draft), std::move(m), std::move(reply));
  }

  /// A chat message `m` from the platform, read for a bot addressed by `a`: when it
  /// addresses the bot, its words are answered (see `answer`; "help" and "/start" are
  /// `/help`) in the conversation of its chat (`title` names a new one), in the reply
  /// `make_reply()` starts. False when it is not for the bot or says nothing.
  template <class Self, class MakeReply>
  bool deliver(Self* self, const protocol::platform_services& services, const protocol::bot& b,
               const protocol::inbound_message& m, const addressing& a, std::string title,
               MakeReply make_reply, std::string help, const std::string& event_id = {}) {
    auto r = read_message(m, a);
    if (!r.addressed || r.text.empty())
      return false; // not for the bot, or pictures alone: nothing to answer yet
    protocol::conversation draft;
    draft.bot = b.id;
    draft.platform = m.platform;
    draft.platform_chat_id = session_chat_id(m.chat_id, m.user_id, m.group, a.per_user);
    draft.title = std::move(title);
    auto metadata = message_metadata(m, r, event_id);
    if (r.text == "help" || r.text == "/start")
      r.text = "/help";
    answer(self, services, b.owner, std::move(draft), std::move(r.text), std::move(metadata),
           make_reply(), std::move(help));
    return true;
  }

  /// `/reset`: archives the conversation of `draft`'s chat (its next message starts a new
  /// one), then shows `done` in `reply`.
  template <class Self>
  void reset(Self* self, const protocol::platform_services& services, protocol::user_id owner,
             protocol::conversation draft, live_reply_actor reply, std::string done) {
    using namespace protocol;
    auto failed = [self, reply](caf::error& err) {
      self->send(reply, finish_atom::value, sorry(describe(err).message));
    };
    self->request(services.conversations, std::chrono::seconds(30), open_atom::value, owner,
                  std::move(draft))
        .then(
            [self, services, owner, reply, done, failed](conversation& conv) {
              self->request(services.conversations, std::chrono::seconds(30), update_atom::value,
                            owner, conv.id, std::string{R"({"status":"archived"})"})
                  .then([self, reply,
                         done](conversation&) { self->send(reply, finish_atom::value, done); },
                        failed);
            },
            failed);
  }

  /// A piece of an answer in a conversation the adapter is subscribed to.
  template <class Self>
  void on_event(Self* self, const protocol::platform_services& services,
                protocol::stream_event& ev) {
    using protocol::stream_event;
    auto q = answering_.find(ev.conversation.value);
    if (q == answering_.end() || q->second.empty())
      return; // an answer to someone else (the API) in this chat's conversation
    auto r = replies_.find(q->second.front());
    if (ev.kind == stream_event::chunk) {
      if (r != replies_.end() && !ev.content.empty())
        self->send(r->second, grow_atom::value, std::move(ev.content));
      return;
    }
    if (ev.kind != stream_event::complete && ev.kind != stream_event::failed)
      return; // tool activity is not shown on platforms
    settle(self, services, ev.conversation, q->second.front(),
           ev.kind == stream_event::complete ? std::move(ev.content) : sorry(ev.content));
  }

 private:
  static std::string sorry(const std::string& why) { return "Sorry, I could not answer: " + why; }

  /// Reply `id` in `conv` is `text`, complete (nothing when it was settled already).
  template <class Self>
  void settle(Self* self, const protocol::platform_services& services,
              const protocol::conversation_id& conv, int64_t id, std::string text) {
    auto r = replies_.find(id);
    if (r == replies_.end())
      return;
    self->send(r->second, finish_atom::value, std::move(text));
    replies_.erase(r);
    auto q = answering_.find(conv.value);
    if (q == answering_.end())
      return;
    std::erase(q->second, id);
    if (q->second.empty()) {
      answering_.erase(q);
      self->send(services.conversations, protocol::unsubscribe_atom::value, conv,
                 caf::actor_cast<protocol::stream_subscriber_actor>(self));
    }
  }

  std::unordered_map<std::string, std::deque<int64_t>> answering_; // conversation → replies
  std::unordered_map<int64_t, live_reply_actor> replies_;          // by id
  int64_t next_ = 0;
};

} // namespace chatagent::adapters
