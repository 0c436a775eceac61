#pragma once

// The messages between a conversation and a language model provider.

#include "protocol/chat.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace chatagent::protocol {

/// One turn of the prompt: `role` is system, user, assistant or tool. An assistant turn
/// may carry the tool calls the model asked for; a tool turn is the result of one
/// (`tool_call_id`, `tool_name`).
struct llm_turn {
  std::string role;
  std::string content;
  std::vector<tool_call> tool_calls;
  std::string tool_call_id;
  std::string tool_name;

  llm_turn() = default;
  llm_turn(std::string r, std::string c) : role(std::move(r)), content(std::move(c)) {}
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, llm_turn& x) {
  return f(caf::meta::type_name("llm_turn"), x.role, x.content, x.tool_calls, x.tool_call_id,
           x.tool_name);
}

/// A turn as prompts carry it: immutable and shared, so that a conversation hands the same
/// history to every prompt it builds (and a provider a prompt to its retries) without
/// copying any text. Converts to `const llm_turn&`.
class shared_turn {
 public:
  shared_turn();
  shared_turn(llm_turn t);
  shared_turn(std::string role, std::string content)
      : shared_turn(llm_turn{std::move(role), std::move(content)}) {}

  const llm_turn& operator*() const noexcept { return p_->turn; }
  const llm_turn* operator->() const noexcept { return &p_->turn; }
  operator const llm_turn&() const noexcept { return p_->turn; }

  /// The turn as a chat API's message object, `{"role":…,"content":…}`, rendered once for
  /// all the prompts that carry it; empty for a turn with tool calls or a tool result,
  /// whose shapes differ between APIs.
  std::string_view message_json() const noexcept { return p_->json; }

 private:
  friend class turn_arena;

  struct data {
    llm_turn turn;
    std::string_view json; // `own`, or text in a `turn_arena`'s block
    std::string own;

    explicit data(llm_turn t) : turn(std::move(t)) {}
    data(const data&) = delete;
    data& operator=(const data&) = delete;
  };

  explicit shared_turn(std::shared_ptr<const data> p) noexcept : p_(std::move(p)) {}

  std::shared_ptr<const data> p_;
};

/// Makes the turns of one conversation's history side by side in memory: each block holds
/// a run of consecutive turns and their message objects' text, and the turns it hands out
/// share the block's one reference count. A prompt of a hundred turns then reads a few
/// runs of memory and counts one reference up and down a hundred times, instead of
/// touching two or three scattered heap blocks per turn (most of the cost of rendering a
/// long prompt, and of dropping it, once many conversations are live).
///
/// Owned by one actor; the turns it made may be read anywhere (a block is only appended
/// to, never changed where a turn already is). Turns with tool calls and tool results are
/// made on their own, as by `shared_turn{t}`.
class turn_arena {
 public:
  shared_turn add(llm_turn t);

 private:
  struct block;
  std::shared_ptr<block> current_;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shared_turn& x) {
  if constexpr (Inspector::reads_state) {
    auto copy = *x; // inspectors take mutable references
    return f(copy);
  } else {
    llm_turn loaded;
    return f(loaded, caf::meta::load_callback([&]() -> caf::error {
               x = shared_turn{std::move(loaded)};
               return caf::none;
             }));
  }
}

/// A completion request: the bot's model settings and the prompt, oldest turn first.
struct llm_request {
  llm_config config;
  std::string bot_name;
  std::vector<shared_turn> turns;
  int64_t prompt_tokens = 0; // the prompt's size as the requester counted it; 0: not counted
  int64_t tag = 0;    // copied into every chunk, so a late chunk of an abandoned call is known
  bool stream = true; // false: no `llm_chunk`s, only the final reply (nobody watches)
  std::vector<tool_spec> tools; // the tools the model may call
  bool tools_forbidden = false; // the model must answer now, without calling any
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, llm_request& x) {
  return f(caf::meta::type_name("llm_request"), x.config, x.bot_name, x.turns, x.prompt_tokens,
           x.tag, x.stream, x.tools, x.tools_forbidden);
}

/// A piece of a streamed completion, sent to the requester before the final reply.
/// `index` counts from 1.
struct llm_chunk {
  int64_t index = 0;
  std::string text;
  int64_t tag = 0; // the request's
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, llm_chunk& x) {
  return f(caf::meta::type_name("llm_chunk"), x.index, x.text, x.tag);
}

/// The whole completion.
struct llm_result {
  std::string content;
  std::string finish_reason; // stop, length, ...
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::vector<tool_call> tool_calls; // the model asks for these before it answers
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, llm_result& x) {
  return f(caf::meta::type_name("llm_result"), x.content, x.finish_reason, x.prompt_tokens,
           x.completion_tokens, x.tool_calls);
}

using generate_atom = caf::atom_constant<caf::atom("generate")>;

/// A language model provider.
///
/// - `generate_atom, llm_request` → the whole completion. While it is produced, the
///   provider sends `llm_chunk` messages to the requester, in order, then the reply.
///   Fails with BAD_GATEWAY (the provider answered an error), SERVICE_UNAVAILABLE (it
///   cannot be reached, or its circuit is open) or GATEWAY_TIMEOUT.
using llm_actor = caf::typed_actor<caf::replies_to<generate_atom, llm_request>::with<llm_result>>;

} // namespace chatagent::protocol
