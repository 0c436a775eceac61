#include "actors/local_model.hpp"

#include "protocol/json.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string_view>

namespace chatagent::actors {

namespace {

bool has_cjk(std::string_view s) {
  // UTF-8 lead bytes of U+3000..U+9FFF (CJK punctuation, kana, ideographs) are E3..E9.
  for (unsigned char c : s)
    if (c >= 0xE3 && c <= 0xE9)
      return true;
  return false;
}

bool contains_any(const std::string& lower, std::initializer_list<std::string_view> words) {
  for (auto w : words)
    if (lower.find(w) != std::string::npos)
      return true;
  return false;
}

/// Evaluates + - * / ^ and parentheses over decimal numbers; nullopt unless the whole
/// text (after a question prefix is stripped) is such an expression.
class calculator {
 public:
  explicit calculator(std::string_view s) : s_(s) {}

  std::optional<double> run() {
    auto v = sum();
    skip();
    if (!v || pos_ != s_.size() || operators_ == 0)
      return std::nullopt;
    return v;
  }

 private:
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
  }
  bool eat(char c) {
    skip();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::optional<double> sum() {
    auto v = product();
    while (v) {
      if (eat('+')) {
        auto r = product();
        if (!r)
          return std::nullopt;
        *v += *r;
      } else if (eat('-')) {
        auto r = product();
        if (!r)
          return std::nullopt;
        *v -= *r;
      } else {
        break;
      }
      ++operators_;
    }
    return v;
  }
  std::optional<double> product() {
    auto v = power();
    while (v) {
      if (eat('*') || eat('x')) {
        auto r = power();
        if (!r)
          return std::nullopt;
        *v *= *r;
      } else if (eat('/')) {
        auto r = power();
        if (!r || *r == 0)
          return std::nullopt;
        *v /= *r;
      } else {
        break;
      }
      ++operators_;
    }
    return v;
  }
  std::optional<double> power() {
    auto v = unary();
    if (v && eat('^')) {
      auto r = power();
      if (!r)
        return std::nullopt;
      ++operators_;
      return std::pow(*v, *r);
    }
    return v;
  }
  std::optional<double> unary() {
    if (eat('-')) {
      auto v = unary();
      return v ? std::optional<double>{-*v} : std::nullopt;
    }
    if (eat('(')) {
      if (++depth_ > 32)
        return std::nullopt;
      auto v = sum();
      --depth_;
      if (!v || !eat(')'))
        return std::nullopt;
      return v;
    }
    skip();
    size_t start = pos_;
    while (pos_ < s_.size() &&
           (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.'))
      ++pos_;
    if (start == pos_)
      return std::nullopt;
    try {
      return std::stod(std::string{s_.substr(start, pos_ - start)});
    } catch (...) {
      return std::nullopt;
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  int depth_ = 0;
  int operators_ = 0;
};

std::optional<std::string> arithmetic(std::string text) {
  auto lower = protocol::to_lower_ascii(text);
  for (std::string_view prefix :
       {"what is", "what's", "calculate", "compute", "计算", "等于多少"}) {
    if (auto p = lower.find(prefix); p != std::string::npos) {
      lower.erase(p, prefix.size());
    }
  }
  for (std::string_view tail : {"?", "？", "=", "等于几", "是多少", "多少"})
    while (lower.size() >= tail.size() && lower.ends_with(tail))
      lower.erase(lower.size() - tail.size());
  calculator calc{lower};
  auto v = calc.run();
  if (!v || !std::isfinite(*v))
    return std::nullopt;
  char buf[64];
  if (std::abs(*v) < 1e15 && *v == std::floor(*v))
    std::snprintf(buf, sizeof(buf), "%.0f", *v);
  else
    std::snprintf(buf, sizeof(buf), "%.10g", *v);
  return std::string{buf};
}

/// Knowledge passages the conversation put into system turns, marked "[knowledge]".
std::vector<std::string> knowledge_of(const protocol::llm_request& req) {
  std::vector<std::string> out;
  for (const protocol::llm_turn& t : req.turns)
    if (t.role == "system" && t.content.starts_with("[knowledge]"))
      out.push_back(t.content.substr(11));
  return out;
}

} // namespace

std::string local_model::answer(const protocol::llm_request& req, int64_t now_ms) {
  std::string question;
  for (auto i = req.turns.rbegin(); i != req.turns.rend(); ++i)
    if ((*i)->role == "user") {
      question = (*i)->content;
      break;
    }
  auto zh = has_cjk(question);
  auto lower = protocol::to_lower_ascii(question);
  auto name = req.bot_name.empty() ? std::string{zh ? "这个机器人" : "this bot"} : req.bot_name;

  if (auto result = arithmetic(question))
    return zh ? "计算结果是 " + *result + "。" : "The result is " + *result + ".";

  if (auto passages = knowledge_of(req); !passages.empty()) {
    std::string out = zh ? "根据知识库中的资料：\n" : "From the knowledge base:\n";
    for (auto& p : passages)
      out += "- " + p + "\n";
    return out;
  }

  auto how_to_configure =
      zh ? std::string{"要获得完整的大模型回答，请更新机器人的 llm_config：例如 "
                       "{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"api_key\": "
                       "\"sk-...\"}；也可以用 base_url 指向 DeepSeek、vLLM、llama.cpp、LM Studio "
                       "等兼容 OpenAI 的服务，或使用 \"anthropic\"、\"ollama\"（如 "
                       "http://127.0.0.1:11434）。"}
         : std::string{"For full answers from a language model, update the bot's llm_config, "
                       "e.g. {\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"api_key\": "
                       "\"sk-...\"}; base_url can point at any OpenAI-compatible server "
                       "(DeepSeek, vLLM, llama.cpp, LM Studio), or use \"anthropic\" or "
                       "\"ollama\" (e.g. http://127.0.0.1:11434)."};

  if (contains_any(lower, {"what time", "what day", "date today", "today's date", "几点", "日期",
                           "今天几号", "现在时间"})) {
    auto t = protocol::format_time(now_ms);
    return zh ? "现在是 UTC 时间 " + t + "。" : "It is " + t + " (UTC).";
  }
  if (contains_any(lower, {"configure", "set up", "setup", "api key", "api_key", "provider", "配置",
                           "设置", "密钥"}))
    return how_to_configure;
  if (contains_any(lower, {"what can you do", "help", "who are you", "capabilit", "你能做什么",
                           "你是谁", "帮助", "功能"})) {
    return zh ? name +
                    " 目前运行在 ChatAgent 内置的离线模型上。我可以：进行简单的计算（如 "
                    "\"12*(3+4)\"）、告诉你当前时间、引用机器人知识库中的资料，并说明如何接入"
                    "真正的大模型。" +
                    how_to_configure
              : name +
                    " is running on ChatAgent's built-in offline model. I can do arithmetic "
                    "(try \"12*(3+4)\"), tell you the time, quote the bot's knowledge base, "
                    "and explain how to connect a real model. " +
                    how_to_configure;
  }
  if (contains_any(lower, {"hello", "hi ", "hey", "good morning", "good evening", "你好", "您好",
                           "嗨", "早上好", "晚上好"}) ||
      lower == "hi") {
    return zh ? "你好！我是 " + name +
                    "，运行在 ChatAgent 的内置离线模型上。可以问我\"你能做什么\"。"
              : "Hello! I'm " + name +
                    ", running on ChatAgent's built-in offline model. Ask me \"what can you "
                    "do?\" to see what works without a provider.";
  }
  return zh ? name + " 正在使用内置的离线模型，它无法回答开放性问题。" + how_to_configure
            : name +
                  " is using the built-in offline model, which cannot answer open questions "
                  "like this one. " +
                  how_to_configure;
}

namespace {

bool offers(const protocol::llm_request& req, std::string_view tool) {
  return std::any_of(req.tools.begin(), req.tools.end(),
                     [&](const protocol::tool_spec& t) { return t.name == tool; });
}

/// What a tool's result says, in a sentence.
std::string describe_result(const protocol::llm_turn& t, bool zh) {
  auto doc = protocol::parse_json(t.content);
  auto str = [&](const char* k) {
    auto v = doc && doc->is_object() ? doc->find(k) : nullptr;
    if (v == nullptr)
      return std::string{};
    if (v->is_string())
      return v->as_string();
    protocol::json_writer w;
    w.value(*v);
    return w.take();
  };
  if (!doc || !doc->is_object())
    return (zh ? "插件 " + t.tool_name + " 未能完成："
               : "The " + t.tool_name + " plugin failed: ") +
           t.content;
  if (t.tool_name == "calculator")
    return (zh ? "计算结果是 " : "The result is ") + str("result") + (zh ? "。" : ".");
  if (t.tool_name == "datetime" && !str("datetime").empty())
    return (zh ? "现在是 " : "It is ") + str("datetime") + " (" + str("weekday") + ", " +
           str("timezone") + ")" + (zh ? "。" : ".");
  if (t.tool_name == "weather")
    return zh ? str("location") + "：" + str("conditions") + "，" + str("temperature") +
                    "°，体感 " + str("feels_like") + "°，湿度 " + str("humidity_percent") + "%。"
              : str("location") + ": " + str("conditions") + ", " + str("temperature") +
                    "°, feels like " + str("feels_like") + "°, humidity " +
                    str("humidity_percent") + "%.";
  return (zh ? "插件 " + t.tool_name + " 返回：" : "The " + t.tool_name + " plugin returned: ") +
         t.content;
}

} // namespace

protocol::llm_result local_model::respond(const protocol::llm_request& req, int64_t now_ms) {
  protocol::llm_result res;
  res.finish_reason = "stop";
  // The question, and the tool results that came after it.
  size_t last_user = req.turns.size();
  for (size_t i = req.turns.size(); i-- > 0;)
    if (req.turns[i]->role == "user") {
      last_user = i;
      break;
    }
  if (last_user == req.turns.size()) {
    res.content = answer(req, now_ms);
    return res;
  }
  auto& question = req.turns[last_user]->content;
  auto zh = has_cjk(question);
  std::vector<const protocol::llm_turn*> results;
  for (size_t i = last_user + 1; i < req.turns.size(); ++i)
    if (req.turns[i]->role == "tool")
      results.push_back(&*req.turns[i]);
  if (!results.empty()) {
    for (auto* r : results) {
      if (!res.content.empty())
        res.content += ' ';
      res.content += describe_result(*r, zh);
    }
    return res;
  }
  if (!req.tools_forbidden) {
    auto lower = protocol::to_lower_ascii(question);
    auto call = [&](std::string name, std::string arguments) {
      res.tool_calls.push_back({"call_local_1", std::move(name), std::move(arguments)});
      res.finish_reason = "tool_calls";
      return res;
    };
    if (offers(req, "calculator") && arithmetic(question)) {
      // The expression as the user wrote it, without the question around it.
      auto expr = question;
      for (std::string_view w : {"what is", "What is", "what's", "calculate", "Calculate",
                                 "compute", "计算", "等于多少", "等于几", "是多少", "多少"})
        if (auto p = expr.find(w); p != std::string::npos)
          expr.erase(p, w.size());
      while (!expr.empty() && (expr.back() == '?' || expr.back() == '=' || expr.back() == ' '))
        expr.pop_back();
      while (!expr.empty() && expr.front() == ' ')
        expr.erase(0, 1);
      if (expr.ends_with("？"))
        expr.erase(expr.size() - 3);
      protocol::json_writer w;
      w.begin_object().member("expression", expr).end_object();
      return call("calculator", w.take());
    }
    if (offers(req, "weather") && contains_any(lower, {"weather", "天气", "气温"}))
      return call("weather", "{}");
    if (offers(req, "datetime") &&
        contains_any(lower, {"what time", "what day", "date today", "today's date", "几点", "日期",
                             "今天几号", "现在时间", "星期几"}))
      return call("datetime", R"({"operation":"now"})");
  }
  res.content = answer(req, now_ms);
  return res;
}

std::vector<std::string> local_model::pieces(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
    len = std::min(len, text.size() - i);
    cur.append(text, i, len);
    bool boundary = len >= 3 || c == ' ' || c == '\n';
    if (boundary) {
      out.push_back(std::move(cur));
      cur.clear();
    }
    i += len;
  }
  if (!cur.empty())
    out.push_back(std::move(cur));
  return out;
}

int64_t local_model::count_tokens(const std::string& text) {
  int64_t ascii = 0;
  int64_t wide = 0;
  for (unsigned char c : text) {
    if (c < 0x80)
      ++ascii;
    else if ((c & 0xC0) != 0x80)
      ++wide;
  }
  return (ascii + 3) / 4 + wide;
}

} // namespace chatagent::actors
