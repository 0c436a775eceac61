#include "actors/llm_wire.hpp"

#include "protocol/error.hpp"
#include "protocol/json.hpp"

#include <optional>

#include <simdjson.h>

namespace chatagent::actors {

using namespace protocol;

wire_format wire_of(std::string_view provider) noexcept {
  if (provider == "anthropic")
    return wire_format::anthropic;
  if (provider == "ollama")
    return wire_format::ollama;
  return wire_format::openai;
}

std::string default_base_url(std::string_view provider) {
  if (provider == "openai")
    return "https://api.openai.com/v1";
  if (provider == "deepseek")
    return "https://api.deepseek.com/v1";
  if (provider == "anthropic")
    return "https://api.anthropic.com/v1";
  if (provider == "ollama")
    return "http://127.0.0.1:11434";
  if (provider == "vllm")
    return "http://127.0.0.1:8000/v1";
  if (provider == "llamacpp")
    return "http://127.0.0.1:8080/v1";
  if (provider == "lmstudio")
    return "http://127.0.0.1:1234/v1";
  return {}; // openai_compatible, azure_openai: the bot must say where
}

namespace {

std::string default_model(std::string_view provider) {
  if (provider == "openai" || provider == "azure_openai")
    return "gpt-4o-mini";
  if (provider == "deepseek")
    return "deepseek-chat";
  if (provider == "anthropic")
    return "claude-3-5-haiku-latest";
  if (provider == "ollama")
    return "llama3.2";
  return {};
}

std::string join_url(std::string base, std::string_view path) {
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  return base + std::string{path};
}

/// The model's arguments as a JSON object (Anthropic and Ollama want one): `{}` when
/// they are not.
void write_arguments_object(json_writer& w, const std::string& arguments) {
  if (auto v = parse_json(arguments); v && v->is_object())
    w.value(*v);
  else
    w.begin_object().end_object();
}

/// OpenAI's and Ollama's tool list.
void write_function_tools(json_writer& w, const std::vector<tool_spec>& tools) {
  w.key("tools").begin_array();
  for (auto& t : tools) {
    w.begin_object().member("type", "function").key("function").begin_object();
    w.member("name", t.name).member("description", t.description);
    w.key("parameters").raw(t.parameters);
    w.end_object().end_object();
  }
  w.end_array();
}

/// A turn in OpenAI's (`ollama` false) or Ollama's message format.
void write_chat_turn(json_writer& w, const shared_turn& turn, bool ollama) {
  if (!turn.message_json().empty()) { // the same in both formats, rendered once
    w.raw(turn.message_json());
    return;
  }
  const llm_turn& t = turn;
  w.begin_object().member("role", t.role);
  if (t.role == "assistant" && !t.tool_calls.empty()) {
    if (t.content.empty() && !ollama)
      w.key("content").null();
    else
      w.member("content", t.content);
    w.key("tool_calls").begin_array();
    for (auto& c : t.tool_calls) {
      w.begin_object();
      if (!ollama)
        w.member("id", c.id).member("type", "function");
      w.key("function").begin_object().member("name", c.name).key("arguments");
      if (ollama)
        write_arguments_object(w, c.arguments);
      else
        w.value(c.arguments);
      w.end_object().end_object();
    }
    w.end_array();
  } else {
    w.member("content", t.content);
  }
  if (t.role == "tool") {
    if (ollama)
      w.member("tool_name", t.tool_name);
    else
      w.member("tool_call_id", t.tool_call_id);
  }
  w.end_object();
}

} // namespace

caf::expected<wire_request> build_request(const llm_request& req) {
  const auto& cfg = req.config;
  auto base = cfg.base_url.empty() ? default_base_url(cfg.provider) : cfg.base_url;
  if (base.empty())
    return api_error(errc::validation_error,
                     "llm_config.base_url is required for the " + cfg.provider + " provider",
                     "llm_config.base_url", "required");
  auto model = cfg.model.empty() ? default_model(cfg.provider) : cfg.model;
  if (model.empty())
    return api_error(errc::validation_error,
                     "llm_config.model is required for the " + cfg.provider + " provider",
                     "llm_config.model", "required");
  wire_request out;
  out.headers.push_back("Content-Type: application/json");
  json_writer w;
  // The turns' text is most of the body: one allocation for all of it.
  size_t size = 512 + cfg.model.size();
  for (auto& t : req.turns) {
    auto json = t.message_json();
    // The text is read below: its cache misses overlap here, while the sizes are summed.
    __builtin_prefetch(json.data());
    size += json.empty() ? t->content.size() + 256 : json.size() + 1;
  }
  for (auto& t : req.tools)
    size += t.name.size() + t.description.size() + t.parameters.size() + 64;
  w.reserve(size);
  w.begin_object().member("model", model);
  switch (wire_of(cfg.provider)) {
  case wire_format::openai: {
    out.url = join_url(base, "/chat/completions");
    out.headers.push_back("Accept: text/event-stream");
    if (!cfg.api_key.empty())
      out.headers.push_back(cfg.provider == "azure_openai"
                                ? "api-key: " + cfg.api_key
                                : "Authorization: Bearer " + cfg.api_key);
    w.key("messages").begin_array();
    for (auto& t : req.turns)
      write_chat_turn(w, t, false);
    w.end_array();
    w.member("temperature", cfg.temperature).member("max_tokens", cfg.max_tokens);
    if (!req.tools.empty()) {
      write_function_tools(w, req.tools);
      if (req.tools_forbidden)
        w.member("tool_choice", "none");
    }
    w.member("stream", true);
    break;
  }
  case wire_format::anthropic: {
    out.url = join_url(base, "/messages");
    out.headers.push_back("Accept: text/event-stream");
    out.headers.push_back("anthropic-version: 2023-06-01");
    if (!cfg.api_key.empty())
      out.headers.push_back("x-api-key: " + cfg.api_key);
    // Anthropic takes the system prompt apart from the turns.
    std::string system;
    for (const llm_turn& t : req.turns)
      if (t.role == "system")
        system += (system.empty() ? "" : "\n\n") + t.content;
    if (!system.empty())
      w.member("system", system);
    // Tool calls are content blocks of the assistant's turn; their results are blocks of
    // one user turn that follows it.
    w.key("messages").begin_array();
    for (size_t i = 0; i < req.turns.size(); ++i) {
      const llm_turn& t = req.turns[i];
      if (t.role == "system")
        continue;
      if (t.role == "tool") {
        w.begin_object().member("role", "user").key("content").begin_array();
        for (; i < req.turns.size() && req.turns[i]->role == "tool"; ++i)
          w.begin_object()
              .member("type", "tool_result")
              .member("tool_use_id", req.turns[i]->tool_call_id)
              .member("content", req.turns[i]->content)
              .end_object();
        --i;
        w.end_array().end_object();
        continue;
      }
      if (t.role == "assistant" && !t.tool_calls.empty()) {
        w.begin_object().member("role", "assistant").key("content").begin_array();
        if (!t.content.empty())
          w.begin_object().member("type", "text").member("text", t.content).end_object();
        for (auto& c : t.tool_calls) {
          w.begin_object()
              .member("type", "tool_use")
              .member("id", c.id)
              .member("name", c.name)
              .key("input");
          write_arguments_object(w, c.arguments);
          w.end_object();
        }
        w.end_array().end_object();
        continue;
      }
      w.raw(req.turns[i].message_json()); // user or assistant: as in the other formats
    }
    w.end_array();
    if (!req.tools.empty()) {
      w.key("tools").begin_array();
      for (auto& t : req.tools) {
        w.begin_object().member("name", t.name).member("description", t.description);
        w.key("input_schema").raw(t.parameters);
        w.end_object();
      }
      w.end_array();
      if (req.tools_forbidden)
        w.key("tool_choice").begin_object().member("type", "none").end_object();
    }
    w.member("temperature", std::min(cfg.temperature, 1.0)).member("max_tokens", cfg.max_tokens);
    w.member("stream", true);
    break;
  }
  case wire_format::ollama: {
    out.url = join_url(base, "/api/chat");
    if (!cfg.api_key.empty())
      out.headers.push_back("Authorization: Bearer " + cfg.api_key);
    w.key("messages").begin_array();
    for (auto& t : req.turns)
      write_chat_turn(w, t, true);
    w.end_array();
    if (!req.tools.empty() && !req.tools_forbidden)
      write_function_tools(w, req.tools);
    w.member("stream", true);
    w.key("options")
        .begin_object()
        .member("temperature", cfg.temperature)
        .member("num_predict", cfg.max_tokens)
        .end_object();
    break;
  }
  }
  w.end_object();
  out.body = w.take();
  return out;
}

caf::error stream_parser::feed(std::string_view bytes,
                               const std::function<void(std::string)>& on_text) {
  buffer_.append(bytes);
  size_t start = 0;
  for (;;) {
    auto nl = buffer_.find('\n', start);
    if (nl == std::string::npos)
      break;
    auto line = std::string_view{buffer_}.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (auto err = on_line(line, on_text))
      return err;
    start = nl + 1;
  }
  buffer_.erase(0, start);
  if (buffer_.size() > (1u << 20))
    return api_error(errc::bad_gateway, "the provider sent a line of over 1 MiB");
  return caf::none;
}

caf::error stream_parser::on_line(std::string_view line,
                                  const std::function<void(std::string)>& on_text) {
  if (format_ == wire_format::ollama) {
    if (line.find_first_not_of(" \t") == std::string_view::npos)
      return caf::none;
    return on_json(line, on_text);
  }
  if (line.empty())
    return on_event(on_text); // an event ends at a blank line
  if (line.starts_with(':'))
    return caf::none; // a comment (keep-alive)
  if (line.starts_with("data:")) {
    auto v = line.substr(5);
    if (v.starts_with(' '))
      v.remove_prefix(1);
    if (!data_.empty())
      data_.push_back('\n');
    data_.append(v);
  }
  return caf::none; // event:, id:, retry: carry nothing we need
}

caf::error stream_parser::on_event(const std::function<void(std::string)>& on_text) {
  if (data_.empty())
    return caf::none;
  std::string data;
  data.swap(data_);
  if (data.size() == 6 && data.compare(0, 6, "[DONE]") == 0) {
    finished_ = true;
    return caf::none;
  }
  return on_json(data, on_text);
}

namespace {

/// A stream event read straight from simdjson's DOM: a long answer comes in hundreds of
/// events, and building a `json_value` tree for each (every key and string copied) cost
/// more than the parse itself.
class event_reader {
 public:
  /// False: `text` is not a JSON object (or the parser could not get its memory).
  bool parse(std::string_view text) {
    // Like parse_json: 64 levels at most; the buffer grows for larger events.
    if (!allocated_ && parser_.allocate(64 * 1024, 64) != simdjson::SUCCESS)
      return false;
    allocated_ = true;
    return parser_.parse(text.data(), text.size(), true).get(doc_) == simdjson::SUCCESS &&
           doc_.is_object();
  }

  simdjson::dom::element doc() const { return doc_; }

 private:
  simdjson::dom::parser parser_{simdjson::SIMDJSON_MAXSIZE_BYTES};
  bool allocated_ = false;
  simdjson::dom::element doc_;
};

/// The member `key` of `obj` when `obj` is an object that has it.
std::optional<simdjson::dom::element> member(simdjson::dom::element obj, std::string_view key) {
  simdjson::dom::element v;
  if (!obj.is_object() || obj.at_key(key).get(v) != simdjson::SUCCESS)
    return std::nullopt;
  return v;
}

/// The string member `key` of `obj`, when it is one.
std::optional<std::string_view> string_member(simdjson::dom::element obj, std::string_view key) {
  std::string_view s;
  if (auto v = member(obj, key); v && v->get_string().get(s) == simdjson::SUCCESS)
    return s;
  return std::nullopt;
}

} // namespace

caf::error stream_parser::on_json(std::string_view text,
                                  const std::function<void(std::string)>& on_text) {
  thread_local event_reader reader;
  if (!reader.parse(text))
    return api_error(errc::bad_gateway, "the provider sent an unreadable stream event: " +
                                            std::string{text.substr(0, 200)});
  auto doc = reader.doc();
  if (auto e = member(doc, "error"); e && !e->is_null()) {
    std::string_view plain; // {"error": "..."}
    std::string message{e->get_string().get(plain) == simdjson::SUCCESS ? plain : ""};
    if (auto m = string_member(*e, "message"))
      message = *m;
    return api_error(errc::bad_gateway, "the provider reported an error: " + message);
  }
  // The text is handed on last: `on_text` may parse JSON on this thread, which would end
  // the life of the document read here.
  std::string text_piece;
  auto hand_on = [&] {
    if (!text_piece.empty())
      on_text(std::move(text_piece));
  };
  switch (format_) {
  case wire_format::openai: {
    simdjson::dom::array choices;
    if (auto c = member(doc, "choices");
        !c || c->get_array().get(choices) != simdjson::SUCCESS || choices.begin() == choices.end())
      return caf::none; // e.g. a usage-only event
    auto choice = *choices.begin();
    if (auto delta = member(choice, "delta")) {
      if (auto s = string_member(*delta, "content"))
        text_piece = *s;
      // Tool calls come in pieces: the first names the call, the next ones add to its
      // arguments; `index` says which call a piece belongs to.
      simdjson::dom::array calls;
      if (auto c = member(*delta, "tool_calls");
          c && c->get_array().get(calls) == simdjson::SUCCESS)
        for (auto c : calls) {
          size_t index = tool_calls_.size();
          int64_t i = 0;
          if (auto v = member(c, "index");
              v && v->get_int64().get(i) == simdjson::SUCCESS && i >= 0)
            index = static_cast<size_t>(i);
          if (index > 127) {
            hand_on();
            return api_error(errc::bad_gateway, "the provider asked for too many tool calls");
          }
          if (tool_calls_.size() <= index)
            tool_calls_.resize(index + 1, tool_call{{}, {}, {}});
          auto& call = tool_calls_[index];
          if (auto id = string_member(c, "id"))
            call.id = *id;
          if (auto fn = member(c, "function")) {
            if (auto name = string_member(*fn, "name"))
              call.name += *name;
            if (auto args = string_member(*fn, "arguments"))
              call.arguments += *args;
          }
        }
    }
    if (auto s = string_member(choice, "finish_reason"))
      finish_reason_ = *s;
    break;
  }
  case wire_format::anthropic: {
    auto type = string_member(doc, "type");
    if (!type)
      return caf::none;
    if (*type == "content_block_start") {
      if (auto block = member(doc, "content_block")) {
        auto kind = string_member(*block, "type");
        if (kind && *kind == "tool_use") {
          tool_call call;
          call.arguments.clear();
          if (auto id = string_member(*block, "id"))
            call.id = *id;
          if (auto name = string_member(*block, "name"))
            call.name = *name;
          tool_calls_.push_back(std::move(call));
          in_tool_block_ = true;
        } else {
          in_tool_block_ = false;
        }
      }
    } else if (*type == "content_block_delta") {
      if (auto delta = member(doc, "delta")) {
        if (auto s = string_member(*delta, "text"))
          text_piece = *s;
        if (auto j = string_member(*delta, "partial_json");
            j && in_tool_block_ && !tool_calls_.empty())
          tool_calls_.back().arguments += *j;
      }
    } else if (*type == "content_block_stop") {
      if (in_tool_block_ && !tool_calls_.empty() && tool_calls_.back().arguments.empty())
        tool_calls_.back().arguments = "{}";
      in_tool_block_ = false;
    } else if (*type == "message_delta") {
      if (auto delta = member(doc, "delta"))
        if (auto s = string_member(*delta, "stop_reason"))
          finish_reason_ = *s == "end_turn"     ? "stop"
                           : *s == "max_tokens" ? "length"
                           : *s == "tool_use"   ? "tool_calls"
                                                : std::string{*s};
    } else if (*type == "message_stop") {
      finished_ = true;
    }
    break;
  }
  case wire_format::ollama: {
    if (auto msg = member(doc, "message")) {
      if (auto s = string_member(*msg, "content"))
        text_piece = *s;
      simdjson::dom::array calls;
      if (auto c = member(*msg, "tool_calls"); c && c->get_array().get(calls) == simdjson::SUCCESS)
        for (auto c : calls) {
          auto fn = member(c, "function");
          if (!fn)
            continue;
          tool_call call;
          if (auto id = string_member(c, "id"))
            call.id = *id;
          if (auto name = string_member(*fn, "name"))
            call.name = *name;
          // Ollama sends the arguments as an object; some servers as a JSON string.
          if (auto args = member(*fn, "arguments")) {
            std::string_view str;
            if (args->get_string().get(str) == simdjson::SUCCESS)
              call.arguments = str;
            else
              call.arguments = simdjson::to_string(*args);
          }
          tool_calls_.push_back(std::move(call));
        }
    }
    bool done = false;
    if (auto d = member(doc, "done"); d && d->get_bool().get(done) == simdjson::SUCCESS && done) {
      finished_ = true;
      auto reason = string_member(doc, "done_reason");
      finish_reason_ = reason ? std::string{*reason} : "stop";
    }
    break;
  }
  }
  hand_on();
  return caf::none;
}

std::string provider_error_message(std::string_view body) {
  if (auto doc = parse_json(body); doc && doc->is_object()) {
    if (auto e = doc->find("error")) {
      if (e->is_string())
        return e->as_string();
      if (auto m = e->find("message"); m && m->is_string())
        return m->as_string();
    }
    if (auto m = doc->find("message"); m && m->is_string())
      return m->as_string();
  }
  auto s = std::string{body.substr(0, 200)};
  return s.empty() ? "no details" : s;
}

} // namespace chatagent::actors
