#pragma once

#include "protocol/llm.hpp"

#include <string>
#include <vector>

namespace chatagent::actors {

/// The built-in offline model behind the `local` provider: no network, no weights. It
/// answers what it can answer honestly (greetings, what the bot can do, arithmetic, the
/// date and time, passages from the bot's knowledge given in the system turns) and
/// otherwise explains how to connect a real provider. It replies in Chinese to Chinese.
class local_model {
 public:
  /// The answer to the last user turn of `req`.
  static std::string answer(const protocol::llm_request& req, int64_t now_ms);

  /// What the model does with `req`: when the bot offers the `calculator`, `datetime` or
  /// `weather` tool and the question is for it, it calls the tool; with the tools' results
  /// it answers from them; otherwise `answer`.
  static protocol::llm_result respond(const protocol::llm_request& req, int64_t now_ms);

  /// Splits `text` into streaming pieces: words with their trailing space, and single
  /// characters of CJK text.
  static std::vector<std::string> pieces(const std::string& text);

  /// A rough token count (4 bytes of English or one CJK character per token).
  static int64_t count_tokens(const std::string& text);
};

} // namespace chatagent::actors
