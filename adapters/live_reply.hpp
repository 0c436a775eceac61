#pragma once

// How an answer reaches a platform chat while it is being written: posted with its first
// piece and edited as it grows (on platforms that can edit messages), or sent in parts
// as they are complete (on those that cannot). Long answers are split at paragraph,
// line, sentence or word boundaries into several messages, never mid-character.

#include "protocol/platform.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace chatagent::adapters {

/// What one platform offers to show a reply in one chat.
struct reply_surface {
  /// The request that posts `text` as part `index` (0: the first, which may quote the
  /// user's message) of the answer.
  std::function<protocol::outbound_request(const std::string& text, size_t index)> post;
  /// The posted message's id from the platform's answer to `post`; empty: not posted.
  std::function<std::string(const protocol::outbound_response&)> posted_id;
  /// The request that makes posted message `id` show `text`; empty when the platform
  /// cannot edit (parts are then sent once complete).
  std::function<protocol::outbound_request(const std::string& id, const std::string& text)> edit;
  /// Called (on the reply's own actor) when a part could not be posted.
  std::function<void(const std::string& why)> failed;
  size_t max_bytes = 4096;                       // the longest message, bytes of UTF-8
  std::chrono::milliseconds edit_interval{1000}; // at most one edit this often
  /// At most this many edits of one message (0: no limit): the last one is kept for the
  /// message's final text.
  int max_edits = 0;
};

using grow_atom = caf::atom_constant<caf::atom("grow")>;
using finish_atom = caf::atom_constant<caf::atom("finish")>;

/// One answer on its way to a chat.
/// - `grow_atom, piece`: the answer goes on with `piece`;
/// - `finish_atom, text`: the whole answer is `text` (replacing the pieces); the actor
///   ends once it is shown.
using live_reply_actor = caf::typed_actor<caf::reacts_to<grow_atom, std::string>,
                                          caf::reacts_to<finish_atom, std::string>>;

/// Starts the reply; its platform calls go through `http`.
live_reply_actor spawn_live_reply(caf::actor_system& sys, protocol::http_client_actor http,
                                  reply_surface surface);

/// How long to wait before calling again after `res` refused a call for too many requests
/// (HTTP 429), the `attempt`th time in a row (0: the first): what the platform asked for
/// (the `Retry-After` header; Discord's `retry_after` or Telegram's
/// `parameters.retry_after` in the body), else 1 s doubling; between 0.1 and 60 s.
std::chrono::milliseconds retry_delay(const protocol::outbound_response& res, int attempt);

/// `text` in messages of at most `max_bytes` bytes, split at the best boundary (paragraph,
/// line, sentence (Chinese punctuation included), space) in the last three quarters of
/// each, else before a UTF-8 character. Whitespace at the cuts is dropped.
std::vector<std::string> split_message(std::string_view text, size_t max_bytes);

} // namespace chatagent::adapters
