#include "support/fake_llm_server.hpp"

#include "protocol/json.hpp"
#include "support/fake_wire.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <cstring>
#include <ctime>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace chatagent::test {

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    auto n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool send_json(int fd, const std::string& status, const std::string& body) {
  return send_all(fd, "HTTP/1.1 " + status +
                          "\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body);
}

namespace {

std::string chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return size + data + "\r\n";
}

std::string json_quote(const std::string& s) {
  std::string out;
  protocol::append_json_string(out, s);
  return out;
}

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    cur.push_back(c);
    if (c == ' ') {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty())
    out.push_back(cur);
  return out;
}

enum class flavor { openai, anthropic, ollama };

std::string frame(flavor f, const std::string& text) {
  switch (f) {
  case flavor::openai:
    return "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{"
           "\"index\":0,\"delta\":{\"content\":" +
           json_quote(text) + "},\"finish_reason\":null}]}\n\n";
  case flavor::anthropic:
    return "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
           "\"delta\":{\"type\":\"text_delta\",\"text\":" +
           json_quote(text) + "}}\n\n";
  case flavor::ollama:
    return "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":" + json_quote(text) +
           "},\"done\":false}\n";
  }
  return {};
}

std::string opening(flavor f) {
  if (f == flavor::anthropic)
    return "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\","
           "\"role\":\"assistant\",\"content\":[]}}\n\n"
           "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
           "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
  if (f == flavor::openai)
    return ": keep-alive comment\n\n";
  return {};
}

std::string closing(flavor f) {
  switch (f) {
  case flavor::openai:
    return "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{},"
           "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
  case flavor::anthropic:
    return "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
           "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
           "\"end_turn\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  case flavor::ollama:
    return "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
           "\"done_reason\":\"stop\"}\n";
  }
  return {};
}

std::string error_body(flavor f, const std::string& message) {
  if (f == flavor::ollama)
    return "{\"error\":" + json_quote(message) + "}";
  return "{\"error\":{\"message\":" + json_quote(message) + ",\"type\":\"fake_error\"}}";
}

/// A call the fake model makes: `call <tool> <arguments>` in the user's message.
struct fake_call {
  std::string name;
  std::string arguments;
};

/// `call calculator {"expression":"2+3"} ; call datetime {...}` → the calls.
std::vector<fake_call> directives(const std::string& text) {
  std::vector<fake_call> out;
  size_t pos = 0;
  while ((pos = text.find("call ", pos)) != std::string::npos) {
    auto end = text.find(" ; ", pos);
    auto part = text.substr(pos + 5, end == std::string::npos ? std::string::npos : end - pos - 5);
    auto sp = part.find(' ');
    fake_call c;
    c.name = part.substr(0, sp);
    c.arguments = sp == std::string::npos ? "{}" : part.substr(sp + 1);
    out.push_back(std::move(c));
    if (end == std::string::npos)
      break;
    pos = end + 3;
  }
  return out;
}

/// The events that ask for `calls`, streamed as each provider does, arguments in pieces.
std::string tool_call_events(flavor f, const std::vector<fake_call>& calls) {
  std::string out;
  auto halves = [](const std::string& s) {
    auto mid = s.size() / 2;
    while (mid > 0 && (static_cast<unsigned char>(s[mid]) & 0xC0) == 0x80)
      --mid;
    return std::pair{s.substr(0, mid), s.substr(mid)};
  };
  switch (f) {
  case flavor::openai: {
    for (size_t i = 0; i < calls.size(); ++i) {
      auto [a, b] = halves(calls[i].arguments);
      auto idx = std::to_string(i);
      out += chunk("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
                   "null,\"tool_calls\":[{\"index\":" +
                   idx + ",\"id\":\"call_" + idx +
                   "\",\"type\":\"function\",\"function\":{\"name\":" + json_quote(calls[i].name) +
                   ",\"arguments\":" + json_quote(a) + "}}]},\"finish_reason\":null}]}\n\n");
      out += chunk("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":" + idx +
                   ",\"function\":{\"arguments\":" + json_quote(b) +
                   "}}]},\"finish_reason\":null}]}\n\n");
    }
    out += chunk("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}"
                 "\n\ndata: [DONE]\n\n");
    break;
  }
  case flavor::anthropic: {
    out += chunk("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
                 "\"m1\",\"role\":\"assistant\",\"content\":[]}}\n\n");
    for (size_t i = 0; i < calls.size(); ++i) {
      auto [a, b] = halves(calls[i].arguments);
      auto idx = std::to_string(i);
      out += chunk(
          "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":" + idx +
          ",\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_" + idx +
          "\",\"name\":" + json_quote(calls[i].name) + ",\"input\":{}}}\n\n");
      for (auto& piece : {a, b})
        out += chunk("event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                     "\"index\":" +
                     idx +
                     ",\"delta\":{\"type\":\"input_json_delta\","
                     "\"partial_json\":" +
                     json_quote(piece) + "}}\n\n");
      out += chunk("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":" +
                   idx + "}\n\n");
    }
    out += chunk("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{"
                 "\"stop_reason\":\"tool_use\"}}\n\nevent: message_stop\ndata: {\"type\":"
                 "\"message_stop\"}\n\n");
    break;
  }
  case flavor::ollama: {
    std::string list;
    for (auto& c : calls)
      list += (list.empty() ? "" : ",") + std::string{"{\"function\":{\"name\":"} +
              json_quote(c.name) + ",\"arguments\":" + c.arguments + "}}";
    out += chunk("{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\","
                 "\"tool_calls\":[" +
                 list + "]},\"done\":false}\n");
    out += chunk(closing(f));
    break;
  }
  }
  return out + "0\r\n\r\n";
}

/// The tool results at the end of a request's messages (OpenAI and Ollama: `tool` turns;
/// Anthropic: `tool_result` blocks of the last user turn).
std::vector<std::string> trailing_tool_results(const protocol::json_value& doc) {
  std::vector<std::string> out;
  auto msgs = doc.find("messages");
  if (msgs == nullptr || !msgs->is_array() || msgs->as_array().empty())
    return out;
  auto& list = msgs->as_array();
  auto& last = list.back();
  if (auto content = last.find("content"); content && content->is_array()) {
    for (auto& block : content->as_array())
      if (auto t = block.find("type"); t && t->is_string() && t->as_string() == "tool_result")
        if (auto c = block.find("content"); c && c->is_string())
          out.push_back(c->as_string());
    return out;
  }
  for (auto i = list.rbegin(); i != list.rend(); ++i) {
    auto r = i->find("role");
    if (r == nullptr || !r->is_string() || r->as_string() != "tool")
      break;
    auto c = i->find("content");
    out.insert(out.begin(), c && c->is_string() ? c->as_string() : std::string{});
  }
  return out;
}

/// An OpenWeatherMap-style `GET .../weather?q=<place>&appid=<key>&units=...`:
/// key `good-key` only; `Atlantis` is unknown (404); `Slowtown` answers after 3 s.
std::string weather_answer(const std::string& target) {
  auto param = [&](const std::string& name) {
    auto q = target.find('?');
    if (q == std::string::npos)
      return std::string{};
    auto rest = target.substr(q + 1);
    size_t pos = 0;
    while (pos <= rest.size()) {
      auto amp = rest.find('&', pos);
      auto pair = rest.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
      if (pair.rfind(name + "=", 0) == 0) {
        std::string v;
        auto raw = pair.substr(name.size() + 1);
        for (size_t i = 0; i < raw.size(); ++i) {
          if (raw[i] == '%' && i + 2 < raw.size()) {
            v.push_back(static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16)));
            i += 2;
          } else {
            v.push_back(raw[i] == '+' ? ' ' : raw[i]);
          }
        }
        return v;
      }
      if (amp == std::string::npos)
        break;
      pos = amp + 1;
    }
    return std::string{};
  };
  auto reply = [](const std::string& status, const std::string& body) {
    return "HTTP/1.1 " + status +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  };
  if (param("appid") != "good-key")
    return reply(
        "401 Unauthorized",
        R"({"cod":401,"message":"Invalid API key. Please see https://openweathermap.org/faq#error401 for more info."})");
  auto place = param("q");
  if (place == "Atlantis")
    return reply("404 Not Found", R"({"cod":"404","message":"city not found"})");
  if (place == "Slowtown")
    std::this_thread::sleep_for(std::chrono::seconds(3));
  return reply(
      "200 OK",
      R"({"coord":{"lon":116.4,"lat":39.9},"weather":[{"id":800,"main":"Clear","description":"晴","icon":"01d"}],"main":{"temp":21.5,"feels_like":20.9,"temp_min":19,"temp_max":23,"pressure":1015,"humidity":40},"wind":{"speed":3.2,"deg":180},"sys":{"country":"CN"},"name":)" +
          json_quote(place) + R"(,"cod":200})");
}

} // namespace

fake_llm_server::fake_llm_server(bool record_requests) : record_(record_requests) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::listen(listen_fd_, 128);
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

fake_llm_server::~fake_llm_server() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  telegram_cv_.notify_all();
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (int fd : open_fds_)
      ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : connections_)
    t.join();
}

std::string fake_llm_server::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<fake_llm_server::request> fake_llm_server::requests() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return requests_;
}

void fake_llm_server::accept_loop() {
  while (!stopping_) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0)
      return;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::lock_guard<std::mutex> guard{mtx_};
    open_fds_.push_back(fd);
    connections_.emplace_back([this, fd] { serve(fd); });
  }
}

namespace {

/// A deterministic embedding of 32 dimensions: words (split at spaces, lower-cased ASCII)
/// hashed into signed buckets, L2-normalized. Texts sharing words are close.
std::vector<double> fake_embedding(const std::string& text) {
  std::vector<double> v(32, 0.0);
  std::string word;
  auto add = [&] {
    if (word.empty())
      return;
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : word)
      h = (h ^ c) * 1099511628211ULL;
    v[h % 32] += (h >> 63) != 0U ? -1.0 : 1.0;
    word.clear();
  };
  for (char c : text) {
    if (c == ' ' || c == '.' || c == ',' || c == '?' || c == '!') {
      add();
      continue;
    }
    word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  add();
  return v; // left unnormalized on purpose: the server must normalize
}

} // namespace

/// OpenAI's `POST /v1/embeddings` (`{"data": [{"index", "embedding"}]}`) and Ollama's
/// `POST /api/embed` (`{"embeddings": [[...]]}`); model `fail-<status>` answers that
/// status, `flaky` a 503 the first time it sees an input.
bool fake_llm_server::answer_embeddings(int fd, const request& req) {
  bool ollama = req.path.ends_with("/api/embed");
  auto doc = protocol::parse_json(req.body);
  std::string model;
  std::vector<std::string> inputs;
  if (doc && doc->is_object()) {
    if (auto m = doc->find("model"); m && m->is_string())
      model = m->as_string();
    if (auto in = doc->find("input"); in && in->is_string())
      inputs.push_back(in->as_string());
    else if (in && in->is_array())
      for (auto& x : in->as_array())
        if (x.is_string())
          inputs.push_back(x.as_string());
  }
  auto reply = [fd](const std::string& status, const std::string& body) {
    return send_json(fd, status, body);
  };
  if (model == "slow") // 300 ms per request: an ingestion that takes a while
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  if (model.rfind("fail-", 0) == 0)
    return reply(model.substr(5) + " Fake",
                 R"({"error":{"message":"fake failure","type":"invalid_request_error"}})");
  if (model == "flaky" && !inputs.empty()) {
    int seen;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      seen = flaky_seen_["embed:" + inputs.front()]++;
    }
    if (seen == 0)
      return reply("503 Service Unavailable", R"({"error":{"message":"overloaded"}})");
  }
  if (inputs.empty())
    return reply("400 Bad Request", R"({"error":{"message":"input is required"}})");
  std::string body = ollama ? R"({"model":)" + json_quote(model) + R"(,"embeddings":[)"
                            : R"({"object":"list","data":[)";
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (i > 0)
      body += ",";
    std::string vec = "[";
    auto v = fake_embedding(inputs[i]);
    for (size_t k = 0; k < v.size(); ++k) {
      if (k > 0)
        vec += ',';
      vec += std::to_string(v[k]);
    }
    vec += "]";
    body += ollama ? vec
                   : R"({"object":"embedding","index":)" + std::to_string(i) + R"(,"embedding":)" +
                         vec + "}";
  }
  body += ollama ? "]}"
                 : R"(],"model":)" + json_quote(model) +
                       R"(,"usage":{"prompt_tokens":1,"total_tokens":1}})";
  return reply("200 OK", body);
}

void fake_llm_server::serve(int fd) {
  std::string in;
  char buf[65536];
  auto read_more = [&] {
    pollfd p{fd, POLLIN, 0};
    while (!stopping_) {
      if (::poll(&p, 1, 100) > 0) {
        auto n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
          return false;
        in.append(buf, static_cast<size_t>(n));
        return true;
      }
    }
    return false;
  };
  for (;;) { // one request after another on a kept-alive connection
    size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos)
      if (!read_more())
        goto done;
    {
      request req;
      auto head = in.substr(0, head_end);
      auto line_end = head.find("\r\n");
      auto request_line = head.substr(0, line_end);
      auto sp1 = request_line.find(' ');
      auto sp2 = request_line.find(' ', sp1 + 1);
      req.path = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
      req.method = request_line.substr(0, sp1);
      req.at = std::chrono::steady_clock::now();
      size_t pos = line_end + 2;
      while (pos < head.size()) {
        auto e = head.find("\r\n", pos);
        if (e == std::string::npos)
          e = head.size();
        auto h = head.substr(pos, e - pos);
        auto colon = h.find(':');
        if (colon != std::string::npos) {
          auto name = h.substr(0, colon);
          for (auto& c : name)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          auto value = h.substr(colon + 1);
          while (!value.empty() && value.front() == ' ')
            value.erase(0, 1);
          req.headers[name] = value;
        }
        pos = e + 2;
      }
      size_t length = 0;
      if (auto i = req.headers.find("content-length"); i != req.headers.end())
        length = std::stoul(i->second);
      while (in.size() < head_end + 4 + length)
        if (!read_more())
          goto done;
      req.body = in.substr(head_end + 4, length);
      in.erase(0, head_end + 4 + length);
      if (record_) {
        std::lock_guard<std::mutex> guard{mtx_};
        requests_.push_back(req);
      }

      if (req.path.rfind("/wecom/cgi-bin/", 0) == 0) {
        if (!answer_wecom(fd, req))
          goto done;
        continue;
      }
      if (req.path == "/dingtalk/v1.0/gateway/connections/open") {
        if (!answer_dingtalk_gateway(fd, req))
          goto done;
        continue;
      }
      if (req.path.rfind("/dingtalk/robot/sendBySession", 0) == 0) {
        if (!send_json(fd, "200 OK", R"({"errcode":0,"errmsg":"ok"})"))
          goto done;
        continue;
      }
      if (req.path.rfind("/lark/open-apis/", 0) == 0) {
        if (!answer_lark(fd, req))
          goto done;
        continue;
      }
      if (req.path.rfind("/discord/api/", 0) == 0) {
        if (!answer_discord(fd, req))
          goto done;
        continue;
      }
      if (req.path.rfind("/slack/api/", 0) == 0) {
        if (!answer_slack(fd, req))
          goto done;
        continue;
      }
      if (req.path.rfind("/tg/", 0) == 0) {
        if (!answer_telegram(fd, req))
          goto done;
        continue;
      }
      if (req.path.rfind("/hook/", 0) == 0) {
        // A user's HTTP plugin: `/hook/echo...` tells what it got, `/hook/fail` answers
        // 500, `/hook/slow` answers after 3 s.
        auto reply = [fd](const std::string& status, const std::string& body) {
          return send_json(fd, status, body);
        };
        bool sent;
        if (req.path.rfind("/hook/fail", 0) == 0) {
          sent = reply("500 Internal Server Error", R"({"error":"the order service is down"})");
        } else {
          if (req.path.rfind("/hook/slow", 0) == 0)
            std::this_thread::sleep_for(std::chrono::seconds(3));
          auto key = req.headers.count("x-api-key") ? req.headers["x-api-key"] : "";
          sent = reply("200 OK", "{\"method\":" + json_quote(req.method) + ",\"path\":" +
                                     json_quote(req.path) + ",\"body\":" + json_quote(req.body) +
                                     ",\"x_api_key\":" + json_quote(key) + "}");
        }
        if (!sent)
          goto done;
        continue;
      }
      if (req.path.find("/weather?") != std::string::npos) {
        if (!send_all(fd, weather_answer(req.path)))
          goto done;
        continue;
      }
      if (req.path.ends_with("/embeddings") || req.path.ends_with("/api/embed")) {
        if (!answer_embeddings(fd, req))
          goto done;
        continue;
      }
      flavor f = req.path.find("/messages") != std::string::npos   ? flavor::anthropic
                 : req.path.find("/api/chat") != std::string::npos ? flavor::ollama
                                                                   : flavor::openai;
      auto doc = protocol::parse_json(req.body);
      std::string model;
      std::string last_user;
      if (doc && doc->is_object()) {
        if (auto m = doc->find("model"); m && m->is_string())
          model = m->as_string();
        if (auto msgs = doc->find("messages"); msgs && msgs->is_array())
          for (auto& m : msgs->as_array())
            if (auto r = m.find("role"); r && r->is_string() && r->as_string() == "user")
              if (auto c = m.find("content"); c && c->is_string())
                last_user = c->as_string();
      }
      // Tool calling: `tools` asks for the calls that the user's message names (`call
      // <tool> <arguments> ; call ...`), then answers with the results it gets back;
      // `tools-loop` asks for them again whatever it gets.
      if ((model == "tools" || model == "tools-loop") && doc) {
        auto results = trailing_tool_results(*doc);
        auto calls = directives(last_user);
        bool offered = doc->find("tools") != nullptr; // a model calls only tools it has
        if (offered && !calls.empty() && (results.empty() || model == "tools-loop")) {
          if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: " +
                                std::string{f == flavor::ollama ? "application/x-ndjson"
                                                                : "text/event-stream"} +
                                "\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                tool_call_events(f, calls)))
            goto done;
          continue;
        }
        if (!results.empty()) {
          last_user = "Results:";
          for (auto& r : results)
            last_user += " [" + r + "]";
        }
      }
      if (model == "hang") {
        while (read_more()) {
        }
        goto done;
      }
      if (model == "flaky") {
        int seen;
        {
          std::lock_guard<std::mutex> guard{mtx_};
          seen = flaky_seen_[last_user]++;
        }
        if (seen == 0) {
          auto body = error_body(f, "temporarily overloaded");
          send_all(fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                       "Content-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body);
          continue;
        }
      }
      if (model.rfind("busy-", 0) == 0) {
        int seen;
        {
          std::lock_guard<std::mutex> guard{mtx_};
          seen = flaky_seen_[model + ":" + last_user]++;
        }
        if (seen == 0) {
          auto body = error_body(f, "rate limit reached");
          send_all(fd, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                       "Retry-After: " +
                           model.substr(5) + "\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\n\r\n" + body);
          continue;
        }
      }
      if (model.rfind("fail-", 0) == 0) {
        auto status = model.substr(5);
        auto body = error_body(f, "fake failure " + status);
        send_all(fd, "HTTP/1.1 " + status +
                         " Fake\r\nContent-Type: application/json\r\n"
                         "Content-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body);
        continue;
      }
      std::string out =
          "HTTP/1.1 200 OK\r\nContent-Type: " +
          std::string{f == flavor::ollama ? "application/x-ndjson" : "text/event-stream"} +
          "\r\nTransfer-Encoding: chunked\r\n\r\n";
      if (auto o = opening(f); !o.empty())
        out += chunk(o);
      auto words = words_of("Echo: " + last_user);
      if (model == "stamp") { // for load runs: when each chunk left, in CLOCK_MONOTONIC ns
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC, &ts);
        auto stamp = std::to_string(int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec) + " ";
        words.assign(16, stamp);
      }
      bool instant = model != "malformed" && model != "disconnect" && model != "slow";
      if (!instant && !send_all(fd, out))
        goto done;
      if (model == "malformed") {
        send_all(fd, chunk(frame(f, words.front())));
        send_all(fd, chunk(f == flavor::ollama ? "{not json\n" : "data: {not json\n\n"));
        send_all(fd, "0\r\n\r\n");
        continue;
      }
      if (model == "disconnect") {
        send_all(fd, chunk(frame(f, "partial ")));
        send_all(fd, chunk(frame(f, "answer ")));
        goto done;
      }
      if (model == "slow") {
        for (auto& w : words) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          if (!send_all(fd, chunk(frame(f, w))))
            goto done;
        }
        send_all(fd, chunk(closing(f)));
        send_all(fd, "0\r\n\r\n");
        continue;
      }
      // Answering at once: the events are all there, so they leave in one write, as
      // from a provider whose tokens come faster than the network takes them.
      for (auto& w : words)
        out += chunk(frame(f, w));
      out += chunk(closing(f));
      out += "0\r\n\r\n";
      if (!send_all(fd, out))
        goto done;
    }
  }
done:
  std::lock_guard<std::mutex> guard{mtx_};
  std::erase(open_fds_, fd);
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

} // namespace chatagent::test
