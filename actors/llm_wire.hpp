#pragma once

// The wire formats of the LLM providers: how a completion request is sent and how the
// streamed answer is read. Plain code, no actors, no network (unit-tested directly).

#include "protocol/llm.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace chatagent::actors {

/// The three wire formats behind the providers.
enum class wire_format { openai, anthropic, ollama };

/// The format `provider` speaks (every OpenAI-compatible server speaks `openai`).
wire_format wire_of(std::string_view provider) noexcept;

/// The endpoint used when a bot sets no `base_url`; empty when the provider needs one.
std::string default_base_url(std::string_view provider);

/// An HTTP request for a streamed completion.
struct wire_request {
  std::string url;
  std::vector<std::string> headers;
  std::string body;
};

/// Builds the request for `req`. VALIDATION_ERROR when the bot lacks what the provider
/// needs (a base URL for `openai_compatible`, a model).
caf::expected<wire_request> build_request(const protocol::llm_request& req);

/// Reads a streamed answer: Server-Sent Events (OpenAI, Anthropic) or newline-delimited
/// JSON (Ollama), fed in pieces as they arrive.
class stream_parser {
 public:
  explicit stream_parser(wire_format f) : format_(f) {}

  /// Consumes `bytes`, calling `on_text` for each piece of the answer. An error means the
  /// provider reported one in the stream or sent something unreadable.
  caf::error feed(std::string_view bytes, const std::function<void(std::string)>& on_text);

  /// Whether the stream said it is complete ([DONE], message_stop, done: true).
  bool finished() const noexcept { return finished_; }

  /// Why the model stopped (stop, length, ...), when the stream said.
  const std::string& finish_reason() const noexcept { return finish_reason_; }

  /// The tool calls the model asked for so far, in order (their arguments as sent: meant
  /// to be JSON objects).
  const std::vector<protocol::tool_call>& tool_calls() const noexcept { return tool_calls_; }

 private:
  caf::error on_line(std::string_view line, const std::function<void(std::string)>& on_text);
  caf::error on_event(const std::function<void(std::string)>& on_text);
  caf::error on_json(std::string_view json, const std::function<void(std::string)>& on_text);

  wire_format format_;
  std::string buffer_;
  std::string data_; // the data lines of the current event
  bool finished_ = false;
  std::string finish_reason_;
  std::vector<protocol::tool_call> tool_calls_;
  bool in_tool_block_ = false; // Anthropic: the current content block is a tool_use
};

/// The provider's own message in an error body (`{"error":{"message":...}}`,
/// `{"error":"..."}`), or the start of the body when it has none.
std::string provider_error_message(std::string_view body);

} // namespace chatagent::actors
