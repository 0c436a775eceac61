#include "protocol/llm.hpp"

#include "protocol/json.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace chatagent::protocol {

namespace {

/// `t` as a chat API's message object; empty for a turn with tool calls or a tool
/// result, whose shapes differ between APIs.
std::string message_object(const llm_turn& t) {
  if (!t.tool_calls.empty() || t.role == "tool")
    return {};
  json_writer w;
  w.begin_object().member("role", t.role).member("content", t.content).end_object();
  return w.take();
}

// A conversation's first block is small (most conversations are short); each next one
// doubles, up to a size whose waste (the unused tail of the newest block, the oldest block
// kept whole while a turn of it is recent) stays small against a long history.
constexpr size_t first_block_turns = 4;
constexpr size_t first_block_text = 512;
constexpr size_t max_block_turns = 64;
constexpr size_t max_block_text = 8192;

} // namespace

// An empty turn is a plain one too: every turn but a tool call's or a tool result's has
// its message object, which the request writers rely on.
shared_turn::shared_turn() : shared_turn(llm_turn{}) {}

shared_turn::shared_turn(llm_turn t) {
  auto d = std::make_shared<data>(std::move(t));
  d->own = message_object(d->turn);
  d->json = d->own;
  p_ = std::move(d);
}

struct turn_arena::block {
  using data = shared_turn::data;

  size_t text_capacity;
  size_t text_used = 0;
  std::unique_ptr<char[]> text; // before `turns`: freed if allocating those fails
  size_t capacity;
  size_t size = 0;
  data* turns; // [0, size) constructed

  block(size_t turn_capacity, size_t text_bytes)
      : text_capacity(text_bytes), text(new char[text_bytes]), capacity(turn_capacity),
        turns(static_cast<data*>(::operator new(sizeof(data) * turn_capacity))) {}
  block(const block&) = delete;
  block& operator=(const block&) = delete;
  ~block() {
    for (size_t i = 0; i < size; ++i)
      turns[i].~data();
    ::operator delete(turns);
  }
};

shared_turn turn_arena::add(llm_turn t) {
  auto json = message_object(t);
  if (json.empty())
    return shared_turn{std::move(t)};
  auto* b = current_.get();
  if (b == nullptr || b->size == b->capacity || b->text_capacity - b->text_used < json.size()) {
    auto turns = b ? std::min(b->capacity * 2, max_block_turns) : first_block_turns;
    auto text = b ? std::min(b->text_capacity * 2, max_block_text) : first_block_text;
    current_ = std::make_shared<block>(turns, std::max(text, json.size()));
    b = current_.get();
  }
  char* where = b->text.get() + b->text_used;
  std::memcpy(where, json.data(), json.size());
  b->text_used += json.size();
  auto* d = new (&b->turns[b->size]) shared_turn::data{std::move(t)};
  ++b->size;
  d->json = std::string_view{where, json.size()};
  return shared_turn{std::shared_ptr<const shared_turn::data>{current_, d}};
}

} // namespace chatagent::protocol
