#include "protocol/llm.hpp"

#include "protocol/json.hpp"

namespace chatagent::protocol {

// An empty turn is a plain one too: every turn but a tool call's or a tool result's has
// its message object, which the request writers rely on.
shared_turn::shared_turn() : shared_turn(llm_turn{}) {}

shared_turn::shared_turn(llm_turn t) {
  std::string json;
  if (t.tool_calls.empty() && t.role != "tool") {
    json_writer w;
    w.begin_object().member("role", t.role).member("content", t.content).end_object();
    json = w.take();
  }
  p_ = std::make_shared<const data>(data{std::move(t), std::move(json)});
}

} // namespace chatagent::protocol
