#include "actors/conversation_manager.hpp"

#include "actors/bot_ledger.hpp"
#include "actors/llm_providers.hpp"
#include "actors/local_model.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/time.hpp"
#include "storage/chat_store.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::actors {

using namespace protocol;

namespace {

using sweep_atom = caf::atom_constant<caf::atom("sweep")>;
using due_atom = caf::atom_constant<caf::atom("due")>;

constexpr auto store_timeout = std::chrono::seconds(30);
constexpr auto retrieve_timeout = std::chrono::seconds(10);

// Retrieval for bots with knowledge bases: passages per question, and how good a passage
// must be to be given to the model.
constexpr int64_t passages_per_question = 4;
constexpr double passage_min_score = 0.15;

// The requests on the path of every message carry no timeout of their own: each timeout
// is a registration with CAF's clock thread, which then wakes for every message. They are
// bounded elsewhere: the HTTP bridge answers the client at its deadline, and a provider's
// HTTP call has `llm_timeout` (answered as GATEWAY_TIMEOUT).
constexpr auto hot_path = caf::infinite;

caf::error no_such_conversation() {
  return api_error(errc::not_found, "no such conversation", "conversation_id", "not found");
}

// -- one conversation -------------------------------------------------------------

/// A live conversation: owns the order of its messages, builds each prompt, asks the
/// bot's provider and persists both sides. Requests come from the manager (which counts
/// them, see `conversation_board::idle_at`); `llm_chunk`s come from the provider while it
/// streams; `due_atom`s come from the manager when a message it forwarded has waited
/// `question_delay` (see `conversation_state::waiting`).
using conversation_actor =
    caf::typed_actor<caf::replies_to<find_atom, user_id>::with<conversation>,
                     caf::replies_to<update_atom, user_id, std::string>::with<conversation>,
                     caf::replies_to<delete_atom, user_id>::with<bool>,
                     caf::replies_to<send_atom, user_id, message_draft>::with<exchange>,
                     caf::replies_to<history_atom, user_id, int64_t, int64_t>::with<message_page>,
                     caf::replies_to<subscribe_atom, user_id, stream_subscriber_actor>::with<bool>,
                     caf::reacts_to<unsubscribe_atom, stream_subscriber_actor>,
                     caf::reacts_to<llm_chunk>, caf::reacts_to<due_atom>>;

using manager_impl_actor =
    conversation_manager_actor::extend<caf::reacts_to<sweep_atom>, caf::reacts_to<due_atom>>;

/// A message the user sent, waiting for (or getting) the bot's answer.
struct pending_send {
  chat_message user_message;
  caf::typed_response_promise<exchange> rp;
  bool durable = false;   // the user message is stored
  bool lost = false;      // storing it failed; the request was answered with that error
  bool settled = false;   // the provider answered: `result` or `failure`
  bool finishing = false; // its answer (or failure) is being stored and delivered
  llm_result result;
  caf::error failure;
  std::vector<retrieved_chunk> sources; // knowledge given to the model for this answer
  std::vector<std::pair<tool_call, tool_outcome>> tools; // the tools called for this answer
  int64_t tool_rounds = 0;
  std::string earlier_text; // what the model said in the rounds before its answer
};

/// An answer that may take several rounds with the provider: the request grows by the
/// model's tool calls and their results each round.
struct answer_round {
  llm_request req;
  std::vector<plugin_install> installs; // the bot's plugins: what the tools run with
  llm_actor provider;
};

/// The tool turns a stored answer's metadata records (`tool_calls`), to replay them in
/// later prompts: the model's calls, then their results.
std::vector<llm_turn> tool_turns_of(const std::string& metadata) {
  std::vector<llm_turn> out;
  if (metadata.find("\"tool_calls\"") == std::string::npos)
    return out;
  auto doc = parse_json(metadata);
  if (!doc)
    return out;
  auto calls = doc->find("tool_calls");
  if (calls == nullptr || !calls->is_array() || calls->as_array().empty())
    return out;
  llm_turn asked{"assistant", ""};
  std::vector<llm_turn> results;
  for (auto& c : calls->as_array()) {
    auto str = [&](const char* k) {
      auto v = c.find(k);
      return v && v->is_string() ? v->as_string() : std::string{};
    };
    tool_call call;
    call.id = str("id");
    call.name = str("name");
    if (auto args = c.find("arguments"); args && !args->is_string()) {
      json_writer w;
      w.value(*args);
      call.arguments = w.take();
    } else {
      call.arguments = str("arguments");
    }
    llm_turn result{"tool", str("result")};
    result.tool_call_id = call.id;
    result.tool_name = call.name;
    asked.tool_calls.push_back(std::move(call));
    results.push_back(std::move(result));
  }
  out.push_back(std::move(asked));
  for (auto& r : results)
    out.push_back(std::move(r));
  return out;
}

/// A committed message kept for prompts: its turn (shared with the prompts that carry it),
/// the tool calls of an answer that made some, and their size in tokens, counted once.
struct recent_message {
  int64_t seq = 0;
  shared_turn turn;
  std::vector<shared_turn> tool_turns;
  int64_t tokens = 0;

  recent_message(const chat_message& m, turn_arena& arena)
      : seq(m.seq), turn(arena.add({m.sender_type == "bot" ? "assistant" : "user", m.content})),
        tokens(local_model::count_tokens(m.content)) {
    for (auto& t : tool_turns_of(m.metadata)) {
      tokens += local_model::count_tokens(t.content);
      for (auto& c : t.tool_calls)
        tokens += local_model::count_tokens(c.arguments) + 8;
      tool_turns.emplace_back(std::move(t));
    }
  }
};

/// What a conversation and the manager share, so that they need not send each other a
/// message per exchange:
/// - the questions waiting for a commit (see `conversation_state::waiting`): the manager
///   tells a conversation a send is due (`due_atom`) only when a question waits for it
///   (usually its answer was committed first);
/// - when the conversation last had nothing in flight, and the number of requests it had
///   handled then: the manager passivates it only when that number equals what it
///   forwarded, so that no request can be in the actor's mailbox when it stops.
struct conversation_board {
  std::atomic<int64_t> dues{0};          // the manager's sends to the conversation now due
  std::atomic<int64_t> waiting_from{0};  // the send of the oldest waiting question; 0: none
  std::atomic<int64_t> idle_since_ns{0}; // steady clock; written before `idle_at`
  std::atomic<int64_t> idle_at{-1};      // requests handled when it became idle; -1: never
};

struct conversation_state {
  conversation_state() = default;    // not an aggregate: CAF 0.17 would construct it from `self`
  caf::error missing;                // set when the conversation does not exist (any more)
  conversation record;               // as last committed (or being committed)
  std::deque<recent_message> recent; // committed messages, oldest first
  turn_arena arena;                  // where their turns are
  std::deque<pending_send> queue;    // answered one at a time, in order
  bool answering = false;
  int64_t commits_in_flight = 0;
  // Questions not given to the store writer yet (`question_delay`): the next commit carries
  // them first, usually their answer's. Their senders have no answer yet.
  storage::write_batch waiting;
  std::vector<int64_t> waiting_seqs;
  // The bot's activity that the next commit stores (one merge for all of it): the waiting
  // questions' and the answer or failure that commit is for.
  storage::counters uncommitted_activity;
  int64_t sends = 0;   // `send_atom`s handled
  int64_t handled = 0; // requests from the manager
  int64_t reported = -1;
  std::vector<stream_subscriber_actor> subscribers; // monitored
  int64_t chunk_id = 0;                             // of the answer being streamed
  int64_t answer_tag = 0;                           // of the provider call being streamed
  // Asks the provider about the oldest message in the queue, if none is being answered;
  // `settle` finishes that answer once the provider answered and the user message is
  // stored (the two run side by side). In the state, not captured by themselves: that
  // cycle would keep the actor's context alive.
  std::function<void()> pump;
  std::function<void()> settle;
  // Asks the provider one round of the front message's answer; runs the tools it calls
  // and asks again, until it answers.
  std::function<void(std::shared_ptr<answer_round>)> round;
  // What a commit that carried waiting questions does for them (see `commit`); here so
  // that the many handlers holding `commit` do not each hold a copy of them.
  std::function<void(const std::vector<int64_t>&)> questions_stored;
  std::function<void(const std::vector<int64_t>&, const caf::error&)> questions_lost;
  // The bot as the bots service last gave it, and the ledger's version of it then: kept
  // until the bot changes (it is asked for again then).
  std::shared_ptr<bot_ledger::entry> bot_entry;
  std::optional<bot> bot_config;
  uint64_t bot_version = 0;

  /// Counts the work done for the bot in its live counters (the stored ones go with the
  /// messages' commits).
  void count_activity(int64_t messages, int64_t errors) const {
    if (bot_entry)
      bot_entry->count(messages, errors, now_ms());
  }

  /// Adds to the activity the next commit stores.
  void store_activity(int64_t messages, int64_t errors, int64_t at_ms) {
    auto& a = uncommitted_activity;
    a.messages += messages;
    a.errors += errors;
    a.last_at_ms = std::max(a.last_at_ms, at_ms);
  }
};

struct conversation_context {
  conversation_id id;
  chat_store_actors store;
  bot_manager_actor bots;
  knowledge_manager_actor knowledge;
  plugin_registry_actor plugins;
  manager_impl_actor manager;
  std::shared_ptr<const llm_providers> providers;
  chat_settings settings;
  std::shared_ptr<bot_ledger> ledger;
  std::shared_ptr<conversation_board> board;
};

conversation_actor::behavior_type
conversation_impl(conversation_actor::stateful_pointer<conversation_state> self,
                  std::shared_ptr<conversation_context> ctx) {
  // Loads before handling anything: requests wait in the mailbox meanwhile.
  self->request(ctx->store.reader(), store_timeout, load_atom::value, ctx->id,
                ctx->settings.recent_messages)
      .await(
          [self, ctx](conversation_snapshot& snap) {
            self->state.record = std::move(snap.record);
            self->state.bot_entry = ctx->ledger->find(self->state.record.bot.value);
            for (auto& m : snap.recent)
              self->state.recent.emplace_back(m, self->state.arena);
          },
          [self](caf::error& err) {
            self->state.missing = err == errc::not_found ? no_such_conversation() : std::move(err);
          });

  auto report_if_idle = [self, ctx] {
    auto& st = self->state;
    if (st.queue.empty() && st.commits_in_flight == 0 && st.subscribers.empty() &&
        st.handled != st.reported) {
      st.reported = st.handled;
      auto now = std::chrono::steady_clock::now().time_since_epoch();
      ctx->board->idle_since_ns.store(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now).count(),
          std::memory_order_relaxed);
      ctx->board->idle_at.store(st.handled, std::memory_order_release);
    }
  };

  auto broadcast = [self](const stream_event& ev) {
    for (auto& s : self->state.subscribers)
      self->send(s, ev);
  };

  self->set_down_handler([self, report_if_idle](caf::down_msg& msg) {
    auto& subs = self->state.subscribers;
    std::erase_if(subs, [&](const auto& a) { return a.address() == msg.source; });
    report_if_idle();
  });

  auto remember = [self, ctx](const chat_message& m) {
    auto& recent = self->state.recent;
    recent.emplace_back(m, self->state.arena);
    while (static_cast<int64_t>(recent.size()) > ctx->settings.recent_messages)
      recent.pop_front();
  };

  // The questions numbered `seqs` are durable: they go into the prompts.
  self->state.questions_stored = [self, remember](const std::vector<int64_t>& seqs) {
    if (seqs.empty()) // the commit carried no waiting question
      return;
    for (auto& job : self->state.queue)
      if (std::find(seqs.begin(), seqs.end(), job.user_message.seq) != seqs.end()) {
        job.durable = true;
        remember(job.user_message);
      }
  };

  // Storing the questions numbered `seqs` failed: nothing of their requests was stored, and
  // each fails as a whole. A question whose answer was in the same commit is failed by that
  // commit's own error handling.
  self->state.questions_lost = [self, report_if_idle](const std::vector<int64_t>& seqs,
                                                      const caf::error& err) {
    auto& st = self->state;
    if (seqs.empty())
      return;
    for (size_t i = 0; i < st.queue.size();) {
      auto& job = st.queue[i];
      if (job.finishing ||
          std::find(seqs.begin(), seqs.end(), job.user_message.seq) == seqs.end()) {
        ++i;
        continue;
      }
      job.rp.deliver(err);
      if (i == 0 && st.answering) {
        job.lost = true; // its provider call is still running
        ++i;
      } else {
        st.queue.erase(st.queue.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    st.settle(); // a lost question whose provider already answered is dropped now
    report_if_idle();
  };

  // Commits the waiting questions and then `batch`, in one atomic write, then runs `done`;
  // a failed commit fails `on_error`. The questions go first: the store's messages stay
  // numbered without gaps, and nothing is stored before the question it answers. The
  // stored record is not rewritten for them: its message count and times of activity are
  // read from its last message (`chat_store::find_conversation`).
  auto commit = [self, ctx](storage::write_batch batch, auto done, auto on_error) {
    auto& st = self->state;
    std::vector<int64_t> questions;
    if (auto& a = st.uncommitted_activity; a.messages != 0 || a.errors != 0) {
      storage::chat_store::add_bot_activity(batch, st.record.bot, a.messages, a.errors,
                                            a.last_at_ms);
      a = storage::counters{};
    }
    if (!st.waiting_seqs.empty()) {
      auto all = std::exchange(st.waiting, storage::write_batch{});
      all.append(std::move(batch));
      batch = std::move(all);
      questions = std::exchange(st.waiting_seqs, {});
      ctx->board->waiting_from.store(0, std::memory_order_relaxed);
    }
    ++st.commits_in_flight;
    self->request(ctx->store.writer, hot_path, commit_atom::value, std::move(batch))
        .then(
            [self, done, questions](bool) mutable {
              --self->state.commits_in_flight;
              self->state.questions_stored(questions);
              done();
            },
            [self, on_error, questions](caf::error& err) mutable {
              --self->state.commits_in_flight;
              self->state.questions_lost(questions, err);
              on_error(err);
            });
  };

  // Whether the question numbered `seq` waits for a commit to carry it.
  auto is_waiting = [self](int64_t seq) {
    auto& seqs = self->state.waiting_seqs;
    return std::find(seqs.begin(), seqs.end(), seq) != seqs.end();
  };

  // A new message with the next sequence number, counted in the record.
  auto next_message = [self](std::string sender_type, std::string sender_id) {
    auto& rec = self->state.record;
    chat_message m;
    m.id = new_id<message_id_tag>();
    m.conversation = rec.id;
    m.seq = ++rec.message_count;
    m.sender_type = std::move(sender_type);
    m.sender_id = std::move(sender_id);
    m.created_at_ms = now_ms();
    // As the stored record reads them back (`chat_store::find_conversation`).
    rec.last_message_at_ms = rec.updated_at_ms = m.created_at_ms;
    return m;
  };

  // The prompt for `question`: the system prompt, then as much of the history before it
  // as the bot's token budget allows, then the question.
  auto build_prompt = [self](const bot& b, const chat_message& question,
                             std::vector<retrieved_chunk>& passages, bool with_tools) {
    llm_request req;
    req.config = b.llm;
    req.bot_name = b.name;
    int64_t budget = b.llm.context_tokens - local_model::count_tokens(question.content);
    if (!b.llm.system_prompt.empty()) {
      req.turns.push_back({"system", b.llm.system_prompt});
      budget -= local_model::count_tokens(b.llm.system_prompt);
    }
    // Knowledge first, within half of what is left; the best passages first.
    if (!passages.empty()) {
      auto share = budget / 2;
      std::vector<retrieved_chunk> used;
      std::vector<std::string> texts;
      for (auto& p : passages) {
        auto where = p.title.empty() ? p.source : p.title;
        if (p.page > 0)
          where += ", p. " + std::to_string(p.page);
        auto text =
            "[knowledge][" + std::to_string(used.size() + 1) + "] (" + where + ") " + p.content;
        auto cost = local_model::count_tokens(text);
        if (cost > share)
          continue;
        share -= cost;
        budget -= cost;
        texts.push_back(std::move(text));
        used.push_back(std::move(p));
      }
      passages = std::move(used);
      if (!texts.empty()) {
        req.turns.push_back(
            {"system", "Answer from the following excerpts of the user's knowledge base when "
                       "they are relevant, and cite them by their number, like [1]. If they do "
                       "not answer the question, say so."});
        for (auto& t : texts)
          req.turns.push_back({"system", std::move(t)});
      }
    }
    // The newest messages that fit, then taken oldest first.
    auto budget_before_history = budget;
    auto& recent = self->state.recent;
    auto first = recent.end();
    while (first != recent.begin()) {
      auto prev = std::prev(first);
      if (prev->seq >= question.seq) {
        first = prev; // not before the question (an answer may be committed meanwhile)
        continue;
      }
      budget -= prev->tokens;
      if (budget < 0)
        break;
      first = prev;
    }
    req.turns.reserve(req.turns.size() + static_cast<size_t>(recent.end() - first) + 1);
    int64_t history_tokens = 0;
    for (auto i = first; i != recent.end(); ++i) {
      if (i->seq >= question.seq)
        continue;
      // Earlier tool calls are replayed only to a model that is given tools: some APIs
      // refuse tool turns without tool definitions (they count in the budget either way).
      if (with_tools)
        for (auto& t : i->tool_turns)
          req.turns.push_back(t);
      req.turns.push_back(i->turn);
      history_tokens += i->tokens;
    }
    req.turns.push_back({"user", question.content});
    // What the budget spent before the history, the history, and the question.
    req.prompt_tokens = b.llm.context_tokens - budget_before_history + history_tokens;
    return req;
  };

  auto pump = [self] { self->state.pump(); };
  auto settle = [self] { self->state.settle(); };

  // The answer to the front message failed: count it, tell the subscribers and the sender.
  auto fail = [self, commit, pump, report_if_idle, broadcast](caf::error err) {
    auto& st = self->state;
    if (st.queue.empty()) // the conversation was deleted meanwhile
      return;
    // The bot's error count, stored like its message count (and with the question when it
    // still waits); the failure is told once it is durable (or could not be stored: it is
    // an error either way), so that a failure a client saw is counted after a crash too,
    // and its question is in the history.
    auto answer = [self, pump, report_if_idle, broadcast, err] {
      auto& st = self->state;
      if (st.queue.empty()) // the conversation was deleted meanwhile
        return;
      if (!st.subscribers.empty()) {
        auto info = describe(err);
        stream_event ev;
        ev.kind = stream_event::failed;
        ev.conversation = st.record.id;
        ev.content = info.message;
        ev.error_code = std::string{code_name(info.code)};
        ev.created_at_ms = now_ms();
        broadcast(ev);
      }
      st.queue.front().rp.deliver(err);
      st.queue.pop_front();
      st.answering = false;
      self->state.count_activity(1, 1);
      pump();
      report_if_idle();
    };
    st.store_activity(0, 1, now_ms());
    commit(storage::write_batch{}, answer, [answer](caf::error&) { answer(); });
  };

  self->state.settle = [self, commit, remember, next_message, report_if_idle, pump, fail, broadcast,
                        is_waiting] {
    auto& st = self->state;
    if (!st.answering || st.queue.empty() || !st.queue.front().settled ||
        st.queue.front().finishing)
      return;
    auto& job = st.queue.front();
    if (job.lost) { // its sender has the storage error already; the answer goes nowhere
      st.queue.pop_front();
      st.answering = false;
      pump();
      report_if_idle();
      return;
    }
    // The answer is stored after the question, never before: with it when the question
    // still waits, after it when the question's own commit is under way.
    if (!job.durable && !is_waiting(job.user_message.seq))
      return;
    job.finishing = true;
    if (job.failure) {
      fail(std::move(job.failure));
      return;
    }
    auto reply = next_message("bot", st.record.bot.value);
    reply.content = job.earlier_text + job.result.content;
    reply.message_type = "text";
    if (!job.sources.empty() || !job.tools.empty()) {
      // The knowledge the answer was given, for the client to show its sources, and the
      // tools it called (replayed in later prompts).
      json_writer w;
      w.begin_object();
      if (!job.tools.empty()) {
        w.key("tool_calls").begin_array();
        for (auto& [call, outcome] : job.tools) {
          w.begin_object().member("id", call.id).member("name", call.name);
          if (auto args = parse_json(call.arguments); args && args->is_object())
            w.member("arguments", *args);
          else
            w.member("arguments", call.arguments);
          w.member("result", outcome.content)
              .member("ok", outcome.ok)
              .member("duration_ms", outcome.duration_ms)
              .end_object();
        }
        w.end_array().member("tool_rounds", job.tool_rounds);
      }
      w.key("sources").begin_array();
      for (size_t i = 0; i < job.sources.size(); ++i) {
        auto& p = job.sources[i];
        w.begin_object()
            .member("index", static_cast<int64_t>(i + 1))
            .member("title", p.title)
            .member("source", p.source);
        if (p.page > 0)
          w.member("page", p.page);
        w.member("knowledge_base_id", p.base_id)
            .member("document_id", p.document_id)
            .member("score", p.score)
            .end_object();
      }
      w.end_array().end_object();
      reply.metadata = w.take();
    }
    storage::write_batch batch;
    storage::chat_store::put_message(batch, reply);
    st.store_activity(1, 0, reply.created_at_ms);
    commit(
        std::move(batch),
        [self, remember, reply, report_if_idle, pump, broadcast] {
          auto& st = self->state;
          remember(reply);
          if (!st.subscribers.empty()) {
            stream_event last;
            last.conversation = st.record.id;
            last.chunk_id = ++st.chunk_id;
            last.is_final = true;
            broadcast(last);
            stream_event done;
            done.kind = stream_event::complete;
            done.conversation = st.record.id;
            done.message = reply.id;
            done.content = reply.content;
            done.metadata = reply.metadata;
            done.created_at_ms = reply.created_at_ms;
            broadcast(done);
          }
          if (st.queue.empty()) // the conversation was deleted meanwhile
            return;
          auto& job = st.queue.front();
          job.rp.deliver(exchange{job.user_message, reply});
          st.queue.pop_front();
          st.answering = false;
          self->state.count_activity(2, 0);
          pump();
          report_if_idle();
        },
        [fail](caf::error& err) { fail(err); });
  };

  // The provider finished the front message's answer (`res`) or failed (`err`).
  auto settled = [self, settle](llm_result* res, caf::error* err) {
    if (self->state.queue.empty()) // the conversation was deleted meanwhile
      return;
    auto& job = self->state.queue.front();
    job.settled = true;
    if (res)
      job.result = std::move(*res);
    if (err)
      job.failure = std::move(*err);
    settle();
  };

  self->state.round = [self, ctx, settled, broadcast](std::shared_ptr<answer_round> r) {
    auto& st = self->state;
    if (st.queue.empty()) // the conversation was deleted meanwhile
      return;
    r->req.tag = ++st.answer_tag;
    // Chunks only interest WebSocket clients; a client that subscribes in the middle of
    // an unstreamed answer gets its stream_complete.
    r->req.stream = !st.subscribers.empty();
    // A round that may be followed by another keeps its request, which the next one
    // extends (the turns are shared, not copied); without tools there is no next round.
    auto req = r->req.tools.empty() ? std::move(r->req) : r->req;
    self->request(r->provider, hot_path, generate_atom::value, std::move(req))
        .then(
            [self, ctx, r, settled, broadcast](llm_result& res) {
              auto& st = self->state;
              if (st.queue.empty())
                return;
              auto& job = st.queue.front();
              if (res.tool_calls.empty() || r->req.tools.empty()) {
                settled(&res, nullptr);
                return;
              }
              if (r->req.tools_forbidden) { // told to answer, it asked for tools again
                if (!res.content.empty())
                  res.content += "\n\n";
                res.content += "(The model kept asking for tools after " +
                               std::to_string(job.tool_rounds) +
                               " rounds and was stopped before it answered.)";
                res.tool_calls.clear();
                settled(&res, nullptr);
                return;
              }
              ++job.tool_rounds;
              job.earlier_text += res.content;
              auto calls = std::move(res.tool_calls);
              for (size_t i = 0; i < calls.size(); ++i)
                if (calls[i].id.empty()) // Ollama does not name its calls
                  calls[i].id =
                      "call_" + std::to_string(job.tool_rounds) + "_" + std::to_string(i + 1);
              llm_turn asked{"assistant", std::move(res.content)};
              asked.tool_calls = calls;
              r->req.turns.push_back(std::move(asked));
              struct gathering {
                std::vector<tool_call> calls;
                std::vector<tool_outcome> outcomes;
                size_t left = 0;
              };
              auto g = std::make_shared<gathering>();
              g->calls = std::move(calls);
              g->outcomes.resize(g->calls.size());
              g->left = g->calls.size();
              // One call's outcome; the next round starts when all are in.
              auto done = [self, ctx, r, g, broadcast](size_t i, tool_outcome o) {
                auto& st = self->state;
                if (st.queue.empty())
                  return;
                if (!st.subscribers.empty()) {
                  stream_event ev;
                  ev.kind = stream_event::tool_result;
                  ev.conversation = st.record.id;
                  ev.tool = g->calls[i].name;
                  ev.call_id = g->calls[i].id;
                  ev.content = o.content;
                  ev.is_final = o.ok;
                  ev.created_at_ms = now_ms();
                  broadcast(ev);
                }
                g->outcomes[i] = std::move(o);
                if (--g->left > 0)
                  return;
                auto& job = st.queue.front();
                for (size_t k = 0; k < g->calls.size(); ++k) {
                  llm_turn result{"tool", g->outcomes[k].content};
                  result.tool_call_id = g->calls[k].id;
                  result.tool_name = g->calls[k].name;
                  r->req.turns.push_back(std::move(result));
                  job.tools.emplace_back(g->calls[k], std::move(g->outcomes[k]));
                }
                if (job.tool_rounds >= ctx->settings.tool_rounds)
                  r->req.tools_forbidden = true;
                st.round(r);
              };
              for (size_t i = 0; i < g->calls.size(); ++i) {
                auto& call = g->calls[i];
                if (!st.subscribers.empty()) {
                  stream_event ev;
                  ev.kind = stream_event::tool_call;
                  ev.conversation = st.record.id;
                  ev.tool = call.name;
                  ev.call_id = call.id;
                  ev.content = call.arguments;
                  ev.created_at_ms = now_ms();
                  broadcast(ev);
                }
                auto in = std::find_if(r->installs.begin(), r->installs.end(), [&](auto& p) {
                  return p.enabled && p.plugin_id == call.name;
                });
                if (in == r->installs.end()) {
                  std::string names;
                  for (auto& t : r->req.tools)
                    names += (names.empty() ? "" : ", ") + t.name;
                  tool_outcome o;
                  o.content = "there is no tool named '" + call.name + "'; the tools are: " + names;
                  done(i, std::move(o));
                  continue;
                }
                self->request(ctx->plugins, ctx->settings.plugins.timeout + std::chrono::seconds(2),
                              invoke_atom::value, st.record.owner, *in, call)
                    .then([done, i](tool_outcome& o) { done(i, std::move(o)); },
                          [done, i](caf::error& err) {
                            tool_outcome o;
                            o.content = "the tool failed: " + describe(err).message;
                            done(i, std::move(o));
                          });
              }
            },
            [settled](caf::error& err) { settled(nullptr, &err); });
  };

  // The provider is asked while the user message is being stored: the answer waits for
  // that write (see `settle`), so nothing is acknowledged or stored out of order, and the
  // time of a WAL sync is not added to every answer.
  self->state.pump = [self, ctx, build_prompt, settled] {
    auto& st = self->state;
    if (st.answering || st.queue.empty())
      return;
    st.answering = true;
    st.chunk_id = 0;
    // Asks the provider, with what the knowledge bases gave for the question and the
    // bot's tools.
    auto ask = [self, ctx, build_prompt](const bot& b, std::vector<retrieved_chunk> passages,
                                         std::vector<tool_spec> tools) {
      if (self->state.queue.empty()) // the conversation was deleted meanwhile
        return;
      auto& job = self->state.queue.front();
      auto r = std::make_shared<answer_round>();
      r->provider = ctx->providers->select(b.llm);
      r->req = build_prompt(b, job.user_message, passages, !tools.empty());
      r->req.tools = std::move(tools);
      r->installs = b.plugins;
      job.sources = std::move(passages);
      self->state.round(std::move(r));
    };
    // A bot's tools, when it has enabled plugins; without them when the registry fails.
    auto with_tools = [self, ctx, ask](const bot& b, std::vector<retrieved_chunk> passages) {
      bool any = ctx->settings.tool_rounds > 0 &&
                 std::any_of(b.plugins.begin(), b.plugins.end(), [](auto& p) { return p.enabled; });
      if (!any) {
        ask(b, std::move(passages), {});
        return;
      }
      self->request(ctx->plugins, retrieve_timeout, tools_atom::value, self->state.record.owner,
                    b.plugins)
          .then(
              [ask, b, passages](std::vector<tool_spec>& tools) mutable {
                ask(b, std::move(passages), std::move(tools));
              },
              [ask, b, passages, ctx](caf::error& err) mutable {
                spdlog::warn("conversation {}: the bot's tools are unavailable: {}", ctx->id.value,
                             describe(err).message);
                ask(b, std::move(passages), {});
              });
    };
    auto with_bot = [self, ctx, with_tools](const bot& b) {
      if (b.knowledge_base_ids.empty() || self->state.queue.empty()) {
        with_tools(b, {});
        return;
      }
      // A failed retrieval leaves the model without knowledge, not the user without an
      // answer.
      auto question = self->state.queue.front().user_message.content;
      self->request(ctx->knowledge, retrieve_timeout, retrieve_atom::value,
                    self->state.record.owner, b.knowledge_base_ids, std::move(question),
                    passages_per_question, passage_min_score)
          .then([with_tools,
                 b](std::vector<retrieved_chunk>& found) { with_tools(b, std::move(found)); },
                [with_tools, b, ctx](caf::error& err) {
                  spdlog::warn("conversation {}: knowledge retrieval failed: {}", ctx->id.value,
                               describe(err).message);
                  with_tools(b, {});
                });
    };
    // The bot as it was last given, unless it changed since (or was deleted).
    if (st.bot_config && st.bot_entry &&
        st.bot_entry->version.load(std::memory_order_acquire) == st.bot_version) {
      with_bot(*st.bot_config);
      return;
    }
    // Read before asking: a change after it makes the next message ask again.
    auto version = st.bot_entry ? st.bot_entry->version.load(std::memory_order_acquire) : 0;
    self->request(ctx->bots, hot_path, config_atom::value, st.record.bot)
        .then(
            [self, with_bot, version](bot& b) {
              auto& st = self->state;
              if (st.bot_entry) {
                st.bot_config = b;
                st.bot_version = version;
              }
              with_bot(b);
            },
            [settled](caf::error& err) { settled(nullptr, &err); });
  };

  // Gives the waiting questions to the store writer, then runs `done` (or `on_error`, after
  // their requests failed).
  auto store_waiting = [commit](auto done, auto on_error) {
    commit(storage::write_batch{}, std::move(done), std::move(on_error));
  };
  auto store_waiting_now = [store_waiting, settle] {
    // Their answers may be waiting for them (see `settle`).
    store_waiting(settle, [](caf::error&) {});
  };

  auto check = [self](const user_id& who) -> caf::error {
    auto& st = self->state;
    if (st.missing)
      return st.missing;
    if (st.record.owner != who)
      return no_such_conversation();
    return caf::none;
  };

  return {
      [self, check, report_if_idle](find_atom, const user_id& who) -> caf::result<conversation> {
        ++self->state.handled;
        auto err = check(who);
        report_if_idle();
        if (err)
          return err;
        return self->state.record;
      },
      [self, check, commit, report_if_idle](update_atom, const user_id& who,
                                            const std::string& patch) -> caf::result<conversation> {
        ++self->state.handled;
        if (auto err = check(who)) {
          report_if_idle();
          return err;
        }
        auto body = parse_json(patch);
        if (!body || !body->is_object()) {
          report_if_idle();
          return body ? api_error(errc::validation_error, "the request body must be a JSON object")
                      : std::move(body.error());
        }
        auto& rec = self->state.record;
        auto next = rec;
        if (auto err = apply_conversation_json(next, *body, false)) {
          report_if_idle();
          return err;
        }
        next.updated_at_ms = now_ms();
        // Only these fields change here; counters stay the actor's.
        rec.title = next.title;
        rec.status = next.status;
        rec.context = next.context;
        rec.updated_at_ms = next.updated_at_ms;
        storage::write_batch batch;
        storage::chat_store::put_conversation(batch, rec, false);
        auto rp = self->make_response_promise<conversation>();
        commit(
            std::move(batch),
            [self, rp, report_if_idle]() mutable {
              rp.deliver(self->state.record);
              report_if_idle();
            },
            [rp, report_if_idle](caf::error& err) mutable {
              rp.deliver(std::move(err));
              report_if_idle();
            });
        return rp;
      },
      [self, check, commit, report_if_idle](delete_atom, const user_id& who) -> caf::result<bool> {
        ++self->state.handled;
        if (auto err = check(who)) {
          report_if_idle();
          return err;
        }
        storage::write_batch batch;
        storage::chat_store::erase_conversation(batch, self->state.record);
        // From now on the conversation answers as a missing one, even before the commit.
        self->state.missing = no_such_conversation();
        for (auto& job : self->state.queue)
          job.rp.deliver(api_error(errc::not_found, "the conversation was deleted"));
        self->state.queue.clear();
        auto rp = self->make_response_promise<bool>();
        commit(
            std::move(batch),
            [rp, report_if_idle]() mutable {
              rp.deliver(true);
              report_if_idle();
            },
            [rp, report_if_idle](caf::error& err) mutable {
              rp.deliver(std::move(err));
              report_if_idle();
            });
        return rp;
      },
      [self, ctx, check, next_message, pump, report_if_idle, store_waiting_now](
          send_atom, const user_id& who, message_draft& draft) -> caf::result<exchange> {
        ++self->state.handled;
        ++self->state.sends;
        if (auto err = check(who)) {
          report_if_idle();
          return err;
        }
        auto& st = self->state;
        auto msg = next_message("user", who.value);
        msg.content = std::move(draft.content);
        msg.message_type = std::move(draft.message_type);
        msg.metadata = std::move(draft.metadata);
        // The question is stored with the next commit, at the latest after `question_delay`:
        // an answer that comes sooner shares its write (one log write per exchange instead
        // of two). The provider is asked meanwhile; nothing is acknowledged before both are
        // durable, and a reader of the history makes it store at once (see `history_atom`).
        storage::chat_store::put_message(st.waiting, msg);
        st.store_activity(1, 0, msg.created_at_ms);
        bool first = st.waiting_seqs.empty();
        if (first) // seq_cst: see the manager's `due_atom`
          ctx->board->waiting_from.store(st.sends);
        st.waiting_seqs.push_back(msg.seq);
        auto rp = self->make_response_promise<exchange>();
        pending_send job;
        job.user_message = std::move(msg);
        job.rp = rp;
        st.queue.push_back(std::move(job));
        // Else when the manager says it is due (`due_atom`); it looked before this send
        // came when the send is due already (a busy mailbox).
        if (ctx->settings.question_delay.count() <= 0 ||
            (first && ctx->board->dues.load() >= st.sends))
          store_waiting_now();
        pump();
        return rp;
      },
      [self, ctx, check, store_waiting,
       report_if_idle](history_atom, const user_id& who, int64_t limit,
                       int64_t offset) -> caf::result<message_page> {
        ++self->state.handled;
        if (auto err = check(who)) {
          report_if_idle();
          return err;
        }
        auto rp = self->make_response_promise<message_page>();
        auto read = [self, ctx, rp, limit, offset]() mutable {
          message_page page;
          page.limit = limit;
          page.offset = offset;
          // Only durable messages are counted: the ones a reader can see.
          int64_t durable = self->state.record.message_count;
          for (auto& job : self->state.queue)
            if (!job.durable)
              --durable;
          page.total = durable;
          self->request(ctx->store.reader(), store_timeout, history_atom::value, ctx->id, offset,
                        std::min(limit, std::max<int64_t>(0, durable - offset)))
              .then(
                  [rp, page](std::vector<chat_message>& msgs) mutable {
                    page.messages = std::move(msgs);
                    rp.deliver(std::move(page));
                  },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        };
        if (self->state.waiting_seqs.empty()) {
          read();
        } else {
          // A question the user sent is in the history they read: stored first.
          store_waiting(
              [self, read]() mutable {
                read();
                self->state.settle();
              },
              [rp](caf::error& err) mutable { rp.deliver(err); });
        }
        report_if_idle();
        return rp;
      },
      [self, ctx, store_waiting_now](due_atom) {
        // The manager's sends are due in the order it made them: the waiting questions are
        // stored without their answers once the oldest one's send is due.
        auto& board = *ctx->board;
        if (!self->state.waiting_seqs.empty() &&
            board.waiting_from.load(std::memory_order_relaxed) <=
                board.dues.load(std::memory_order_relaxed))
          store_waiting_now();
      },
      [self, broadcast](llm_chunk& chunk) {
        // To the WebSocket subscribers as it arrives; the REST answer waits for the whole.
        auto& st = self->state;
        // A chunk of an abandoned call (it timed out) belongs to no answer.
        if (!st.answering || chunk.tag != st.answer_tag || st.subscribers.empty())
          return;
        stream_event ev;
        ev.conversation = st.record.id;
        ev.chunk_id = ++st.chunk_id;
        ev.content = std::move(chunk.text);
        broadcast(ev);
      },
      [self, check, report_if_idle](subscribe_atom, const user_id& who,
                                    stream_subscriber_actor& subscriber) -> caf::result<bool> {
        ++self->state.handled;
        if (auto err = check(who)) {
          report_if_idle();
          return err;
        }
        auto& subs = self->state.subscribers;
        if (std::find(subs.begin(), subs.end(), subscriber) == subs.end()) {
          self->monitor(subscriber.address());
          subs.push_back(std::move(subscriber));
        }
        return true;
      },
      [self, report_if_idle](unsubscribe_atom, const stream_subscriber_actor& subscriber) {
        ++self->state.handled;
        auto& subs = self->state.subscribers;
        if (auto i = std::find(subs.begin(), subs.end(), subscriber); i != subs.end()) {
          self->demonitor(subscriber.address());
          subs.erase(i);
        }
        report_if_idle();
      },
  };
}

// -- the directory of live conversations ------------------------------------------------

struct live_entry {
  conversation_actor actor;
  std::shared_ptr<conversation_board> board;
  int64_t forwarded = 0;
};

struct manager_state {
  manager_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  std::unordered_map<std::string, live_entry> live;
  std::unordered_map<caf::actor_addr, std::string> by_address;
  bool sweeping = false;
  // The messages sent to conversations in the last `question_delay`, oldest first: each
  // conversation is told `due_atom` once a message it got is that old (see the conversation's
  // `waiting`). One timer for all of them, not one per message: each timer wakes CAF's
  // clock thread.
  struct due_send {
    std::chrono::steady_clock::time_point at;
    conversation_actor actor;
    std::shared_ptr<conversation_board> board;
  };
  std::deque<due_send> due;
  bool due_timer = false;
  // Platform chats being opened (`bot/platform/chat`) and who waits for them.
  std::unordered_map<std::string, std::vector<caf::typed_response_promise<conversation>>> opening;
};

manager_impl_actor::behavior_type
manager_impl(manager_impl_actor::stateful_pointer<manager_state> self, chat_store_actors store,
             bot_manager_actor bots, knowledge_manager_actor knowledge,
             plugin_registry_actor plugins, std::shared_ptr<const llm_providers> providers,
             chat_settings settings, std::shared_ptr<bot_ledger> ledger) {
  auto sweep_every = std::max<std::chrono::milliseconds>(
      std::chrono::milliseconds{250},
      std::chrono::duration_cast<std::chrono::milliseconds>(settings.conversation_idle) / 2);
  // Conversations are monitored, not linked (one failing must not stop the others): stop
  // them explicitly when the service stops.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [id, e] : self->state.live)
      self->send_exit(e.actor, msg.reason);
    self->quit(msg.reason);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (auto i = st.by_address.find(msg.source); i != st.by_address.end()) {
      if (msg.reason && msg.reason != caf::exit_reason::user_shutdown)
        spdlog::warn("conversation {} stopped: {}", i->second, caf::to_string(msg.reason));
      st.live.erase(i->second);
      st.by_address.erase(i);
    }
  });
  // The live actor of conversation `id`, spawned (and loading) on first use; counts the
  // request about to be forwarded to it.
  auto route = [self, store, bots, knowledge, plugins, providers, settings, ledger,
                sweep_every](const conversation_id& id) -> conversation_actor& {
    auto& st = self->state;
    auto i = st.live.find(id.value);
    if (i == st.live.end()) {
      auto ctx = std::make_shared<conversation_context>(conversation_context{
          id, store, bots, knowledge, plugins, caf::actor_cast<manager_impl_actor>(self), providers,
          settings, ledger, std::make_shared<conversation_board>()});
      auto actor = self->spawn(conversation_impl, ctx);
      self->monitor(actor);
      st.by_address.emplace(actor.address(), id.value);
      live_entry fresh;
      fresh.actor = std::move(actor);
      fresh.board = ctx->board;
      i = st.live.emplace(id.value, std::move(fresh)).first;
      if (!st.sweeping) {
        st.sweeping = true;
        self->delayed_send(self, sweep_every, sweep_atom::value);
      }
    }
    ++i->second.forwarded;
    return i->second.actor;
  };
  // Creates conversation `c` of `owner` (whose bot it must be), then `done(result)`.
  auto create = [self, store, bots](const user_id& owner, conversation c, auto done) {
    self->request(bots, store_timeout, find_atom::value, owner, c.bot)
        .then(
            [self, store, owner, c, done](bot& b) mutable {
              c.id = new_id<conversation_id_tag>();
              c.owner = owner;
              if (c.title.empty())
                c.title = "Conversation with " + b.name;
              c.message_count = 0;
              c.last_message_at_ms = 0;
              c.created_at_ms = c.updated_at_ms = now_ms();
              storage::write_batch batch;
              storage::chat_store::put_conversation(batch, c, true);
              self->request(store.writer, store_timeout, commit_atom::value, std::move(batch))
                  .then([c, done](bool) mutable { done(std::move(c)); },
                        [done](caf::error& err) mutable { done(std::move(err)); });
            },
            [done](caf::error& err) mutable { done(std::move(err)); });
  };
  return {
      [self, create](create_atom, const user_id& owner,
                     conversation& c) -> caf::result<conversation> {
        auto rp = self->make_response_promise<conversation>();
        create(owner, std::move(c), [rp](caf::expected<conversation> made) mutable {
          if (made)
            rp.deliver(std::move(*made));
          else
            rp.deliver(std::move(made.error()));
        });
        return rp;
      },
      [self, store, route, create](open_atom, const user_id& owner,
                                   conversation& draft) -> caf::result<conversation> {
        auto rp = self->make_response_promise<conversation>();
        auto key = draft.bot.value + "/" + draft.platform + "/" + draft.platform_chat_id;
        auto& waiting = self->state.opening[key];
        waiting.push_back(rp);
        if (waiting.size() > 1) // this chat is being opened: its result answers this too
          return rp;
        auto done = [self, key](caf::expected<conversation> c) {
          auto i = self->state.opening.find(key);
          if (i == self->state.opening.end())
            return;
          auto waiting = std::move(i->second);
          self->state.opening.erase(i);
          for (auto& p : waiting)
            if (c)
              p.deliver(*c);
            else
              p.deliver(c.error());
        };
        self->request(store.reader(), store_timeout, open_atom::value, draft.bot, draft.platform,
                      draft.platform_chat_id)
            .then(
                [self, route, owner, draft, create, done](conversation_id& id) mutable {
                  // A deleted or archived conversation ends the chat's context: the chat's
                  // next message starts a new one.
                  self->request(route(id), store_timeout, find_atom::value, owner)
                      .then(
                          [owner, draft, create, done](conversation& c) mutable {
                            if (c.status == "archived")
                              create(owner, std::move(draft), done);
                            else
                              done(std::move(c));
                          },
                          [owner, draft, create, done](caf::error& err) mutable {
                            if (err == errc::not_found)
                              create(owner, std::move(draft), done);
                            else
                              done(std::move(err));
                          });
                },
                [owner, draft, create, done](caf::error& err) mutable {
                  if (err != errc::not_found) {
                    done(std::move(err));
                    return;
                  }
                  create(owner, std::move(draft), done);
                });
        return rp;
      },
      [self, store](list_atom, const user_id& owner, const conversation_query& q) {
        return self->delegate(store.reader(), list_atom::value, owner, q);
      },
      [self, route](find_atom, const user_id& who, const conversation_id& id) {
        return self->delegate(route(id), find_atom::value, who);
      },
      [self, route](update_atom, const user_id& who, const conversation_id& id,
                    const std::string& patch) {
        return self->delegate(route(id), update_atom::value, who, patch);
      },
      [self, route](delete_atom, const user_id& who, const conversation_id& id) {
        return self->delegate(route(id), delete_atom::value, who);
      },
      [self, route, settings](send_atom, const user_id& who, const conversation_id& id,
                              message_draft& draft) {
        auto& target = route(id);
        auto& st = self->state;
        if (settings.question_delay.count() > 0) {
          st.due.push_back({std::chrono::steady_clock::now() + settings.question_delay, target,
                            st.live.at(id.value).board});
          if (!st.due_timer) {
            st.due_timer = true;
            self->delayed_send(self, settings.question_delay, due_atom::value);
          }
        }
        return self->delegate(target, send_atom::value, who, std::move(draft));
      },
      [self, settings](due_atom) {
        auto& st = self->state;
        st.due_timer = false;
        auto now = std::chrono::steady_clock::now();
        while (!st.due.empty() && st.due.front().at <= now) {
          auto& d = st.due.front();
          // Sequentially consistent, as the conversation's store of `waiting_from` and load
          // of `dues`: of a question that comes as its send becomes due, either this sees
          // it waiting or the conversation sees its send due.
          auto dues = d.board->dues.fetch_add(1) + 1;
          auto from = d.board->waiting_from.load();
          if (from != 0 && from <= dues) // else nothing waits for it (see `conversation_board`)
            self->send(d.actor, due_atom::value);
          st.due.pop_front();
        }
        if (st.due.empty())
          return;
        // A few ticks per delay: a question waits at most a quarter longer than it.
        auto tick = std::max<std::chrono::steady_clock::duration>(std::chrono::milliseconds{1},
                                                                  settings.question_delay / 4);
        st.due_timer = true;
        self->delayed_send(self,
                           std::chrono::duration_cast<std::chrono::microseconds>(
                               std::max(st.due.front().at - now, tick)),
                           due_atom::value);
      },
      [self, route](history_atom, const user_id& who, const conversation_id& id, int64_t limit,
                    int64_t offset) {
        return self->delegate(route(id), history_atom::value, who, limit, offset);
      },
      [self, route](subscribe_atom, const user_id& who, const conversation_id& id,
                    stream_subscriber_actor& subscriber) {
        return self->delegate(route(id), subscribe_atom::value, who, std::move(subscriber));
      },
      [self](unsubscribe_atom, const conversation_id& id, stream_subscriber_actor& subscriber) {
        // A conversation that is not in memory has no subscribers.
        auto& st = self->state;
        if (auto i = st.live.find(id.value); i != st.live.end()) {
          ++i->second.forwarded;
          self->send(i->second.actor, unsubscribe_atom::value, std::move(subscriber));
        }
      },
      [self, store](purge_atom, const bot_id& bot) -> caf::result<bool> {
        auto rp = self->make_response_promise<bool>();
        self->request(store.reader(), store_timeout, purge_atom::value, bot)
            .then(
                [self, store, rp](storage::write_batch& batch,
                                  std::vector<conversation_id>& ids) mutable {
                  // Stop the live ones first: nothing of theirs may be written afterwards.
                  auto& st = self->state;
                  for (auto& id : ids)
                    if (auto i = st.live.find(id.value); i != st.live.end()) {
                      self->demonitor(i->second.actor.address());
                      st.by_address.erase(i->second.actor.address());
                      self->send_exit(i->second.actor, caf::exit_reason::user_shutdown);
                      st.live.erase(i);
                    }
                  self->request(store.writer, store_timeout, commit_atom::value, std::move(batch))
                      .then([rp](bool) mutable { rp.deliver(true); },
                            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self, settings, sweep_every](sweep_atom) {
        auto& st = self->state;
        auto cutoff =
            std::chrono::duration_cast<std::chrono::nanoseconds>(
                (std::chrono::steady_clock::now() - settings.conversation_idle).time_since_epoch())
                .count();
        for (auto i = st.live.begin(); i != st.live.end();) {
          auto& e = i->second;
          if (e.board->idle_at.load(std::memory_order_acquire) == e.forwarded &&
              e.board->idle_since_ns.load(std::memory_order_relaxed) <= cutoff) {
            spdlog::debug("conversation {} passivated", i->first);
            self->demonitor(e.actor.address());
            st.by_address.erase(e.actor.address());
            self->send_exit(e.actor, caf::exit_reason::user_shutdown);
            i = st.live.erase(i);
          } else {
            ++i;
          }
        }
        if (st.live.empty())
          st.sweeping = false;
        else
          self->delayed_send(self, sweep_every, sweep_atom::value);
      },
  };
}

} // namespace

conversation_manager_actor
spawn_conversation_manager(caf::actor_system& sys, chat_store_actors store, bot_manager_actor bots,
                           knowledge_manager_actor knowledge, plugin_registry_actor plugins,
                           std::shared_ptr<const llm_providers> providers, chat_settings settings,
                           std::shared_ptr<bot_ledger> ledger) {
  return sys.spawn(manager_impl, std::move(store), std::move(bots), std::move(knowledge),
                   std::move(plugins), std::move(providers), settings, std::move(ledger));
}

} // namespace chatagent::actors
