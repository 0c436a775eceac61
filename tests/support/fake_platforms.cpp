// The fake IM platforms of fake_llm_server: the Telegram Bot API and Slack's Web API.

#include "protocol/json.hpp"
#include "support/fake_llm_server.hpp"
#include "support/fake_wire.hpp"

#include <algorithm>
#include <chrono>

namespace chatagent::test {

int64_t fake_llm_server::push_telegram_message(const std::string& message) {
  int64_t id;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    id = telegram_next_++;
    telegram_updates_.emplace_back(id, "{\"update_id\":" + std::to_string(id) +
                                           ",\"message\":" + message + "}");
  }
  telegram_cv_.notify_all();
  return id;
}

void fake_llm_server::fail_telegram_polls(int n) {
  std::lock_guard<std::mutex> guard{mtx_};
  telegram_failing_ = n;
}

bool fake_llm_server::answer_telegram(int fd, const request& req) {
  auto reply = [fd](const std::string& status, const std::string& body) {
    return send_json(fd, status, body);
  };
  auto prefix = std::string{"/tg/bot"} + telegram_token + "/";
  if (req.path.rfind(prefix, 0) != 0)
    return reply("401 Unauthorized",
                 R"({"ok":false,"error_code":401,"description":"Unauthorized"})");
  auto method = req.path.substr(prefix.size());
  auto doc = protocol::parse_json(req.body);
  if (method == "getMe")
    return reply("200 OK", R"({"ok":true,"result":{"id":777,"is_bot":true,"first_name":"Fake",)"
                           R"("username":"fake_bot"}})");
  if (method == "setWebhook" || method == "deleteWebhook") {
    std::string url;
    if (auto u = doc && doc->is_object() ? doc->find("url") : nullptr; u && u->is_string())
      url = u->as_string();
    if (method == "setWebhook" && url.empty())
      return reply("400 Bad Request",
                   R"({"ok":false,"error_code":400,"description":"Bad Request: bad webhook"})");
    {
      std::lock_guard<std::mutex> guard{mtx_};
      telegram_webhook_ = url;
    }
    return reply("200 OK", R"({"ok":true,"result":true,"description":"Webhook was set"})");
  }
  if (method == "getUpdates") {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (telegram_failing_ > 0) {
        --telegram_failing_;
        return reply("502 Bad Gateway",
                     R"({"ok":false,"error_code":502,"description":"Bad Gateway"})");
      }
      if (!telegram_webhook_.empty()) // as the real API
        return reply("409 Conflict", R"({"ok":false,"error_code":409,"description":"Conflict: )"
                                     R"(can't use getUpdates method while webhook is active; )"
                                     R"(use deleteWebhook to delete the webhook first"})");
    }
    int64_t offset = 0;
    int64_t timeout = 0;
    if (doc && doc->is_object()) {
      if (auto o = doc->find("offset"); o && o->is_integer())
        offset = o->as_int();
      if (auto t = doc->find("timeout"); t && t->is_integer())
        timeout = t->as_int();
    }
    std::string out = R"({"ok":true,"result":[)";
    {
      std::unique_lock<std::mutex> lock{mtx_};
      auto any = [&] {
        return stopping_ || std::any_of(telegram_updates_.begin(), telegram_updates_.end(),
                                        [&](auto& u) { return u.first >= offset; });
      };
      // Long polling, as the real API: answered when an update comes or at the timeout.
      telegram_cv_.wait_for(lock, std::chrono::seconds(std::min<int64_t>(timeout, 30)), any);
      bool first = true;
      for (auto& [id, u] : telegram_updates_)
        if (id >= offset) {
          out += (first ? "" : ",") + u;
          first = false;
        }
    }
    return reply("200 OK", out + "]}");
  }
  if (method == "editMessageText")
    return reply("200 OK", R"({"ok":true,"result":{"message_id":1,"date":0,)"
                           R"("chat":{"id":0,"type":"private"}}})");
  if (method == "sendMessage") {
    int64_t n;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      n = ++telegram_sent_;
    }
    return reply("200 OK", R"({"ok":true,"result":{"message_id":)" + std::to_string(5000 + n) +
                               R"(,"date":0,"chat":{"id":0,"type":"private"}}})");
  }
  return reply("404 Not Found", R"({"ok":false,"error_code":404,"description":"Not Found"})");
}

void fake_llm_server::throttle_slack(int n) {
  std::lock_guard<std::mutex> guard{mtx_};
  slack_throttled_ = n;
}

/// Slack's Web API under `/slack/api/<method>`: answers HTTP 200 with `"ok"` as Slack does.
bool fake_llm_server::answer_slack(int fd, const request& req) {
  auto reply = [fd](const std::string& body) { return send_json(fd, "200 OK", body); };
  auto auth = req.headers.find("authorization");
  if (auth == req.headers.end() || auth->second != std::string{"Bearer "} + slack_token)
    return reply(R"({"ok":false,"error":"invalid_auth"})");
  auto method = req.path.substr(std::string{"/slack/api/"}.size());
  auto doc = protocol::parse_json(req.body);
  auto field = [&](const char* name) {
    const protocol::json_value* v = doc && doc->is_object() ? doc->find(name) : nullptr;
    return v && v->is_string() ? v->as_string() : std::string{};
  };
  if (method == "auth.test")
    return reply(R"({"ok":true,"url":"https://fake.slack.com/","team":"Fake","user":"chatbot",)"
                 R"("team_id":"T0001","user_id":"UBOT","bot_id":"BBOT"})");
  if (method == "chat.postMessage") {
    std::lock_guard<std::mutex> guard{mtx_};
    if (slack_throttled_ > 0) {
      --slack_throttled_;
      std::string body = R"({"ok":false,"error":"ratelimited"})";
      return send_all(fd, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n"
                          "Content-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body);
    }
  }
  if (method == "chat.postMessage" || method == "chat.update") {
    auto channel = field("channel");
    if (channel.empty() || field("text").empty())
      return reply(R"({"ok":false,"error":"no_text"})");
    if (channel == "CGONE")
      return reply(R"({"ok":false,"error":"channel_not_found"})");
    std::string ts = field("ts");
    if (method == "chat.postMessage") {
      std::lock_guard<std::mutex> guard{mtx_};
      ts = "1700000000." + std::to_string(100000 + ++slack_posted_);
    }
    return reply(R"({"ok":true,"channel":")" + channel + R"(","ts":")" + ts + R"("})");
  }
  return reply(R"({"ok":false,"error":"unknown_method"})");
}

void fake_llm_server::set_dingtalk_stream(const std::string& endpoint,
                                          const std::string& app_secret) {
  std::lock_guard<std::mutex> guard{mtx_};
  dingtalk_stream_ = endpoint;
  dingtalk_secret_ = app_secret;
}

bool fake_llm_server::answer_dingtalk_gateway(int fd, const request& req) {
  auto doc = protocol::parse_json(req.body);
  auto field = [&](const char* name) {
    const protocol::json_value* v = doc && doc->is_object() ? doc->find(name) : nullptr;
    return v && v->is_string() ? v->as_string() : std::string{};
  };
  std::lock_guard<std::mutex> guard{mtx_};
  if (field("clientId") != dingtalk_app_key || field("clientSecret") != dingtalk_secret_)
    return send_json(fd, "401 Unauthorized",
                     R"({"code":"InvalidAuthentication","message":"clientId or clientSecret"})");
  return send_json(fd, "200 OK",
                   R"({"endpoint":")" + dingtalk_stream_ + R"(","ticket":"dingtalk-ticket"})");
}

void fake_llm_server::set_discord_gateway(const std::string& url) {
  std::lock_guard<std::mutex> guard{mtx_};
  discord_gateway_ = url;
}

/// Discord's REST API under `/discord/api/`.
bool fake_llm_server::answer_discord(int fd, const request& req) {
  auto auth = req.headers.find("authorization");
  if (auth == req.headers.end() || auth->second != std::string{"Bot "} + discord_token)
    return send_json(fd, "401 Unauthorized", R"({"message":"401: Unauthorized","code":0})");
  auto path = req.path.substr(std::string{"/discord/api"}.size());
  if (req.method == "GET" && path == "/gateway/bot") {
    std::lock_guard<std::mutex> guard{mtx_};
    return send_json(fd, "200 OK",
                     R"({"url":")" + discord_gateway_ +
                         R"(","shards":1,"session_start_limit":{"total":1000,"remaining":999,)"
                         R"("reset_after":0,"max_concurrency":1}})");
  }
  // /channels/{channel}/messages[/{message}]
  if (path.rfind("/channels/", 0) == 0) {
    auto rest = path.substr(10);
    auto slash = rest.find('/');
    auto channel = rest.substr(0, slash);
    auto tail = slash == std::string::npos ? std::string{} : rest.substr(slash);
    if (req.method == "POST" && tail == "/messages") {
      int64_t n;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        n = ++discord_posted_;
      }
      return send_json(fd, "200 OK",
                       R"({"id":")" + std::to_string(800000 + n) + R"(","channel_id":")" + channel +
                           R"("})");
    }
    if (req.method == "PATCH" && tail.rfind("/messages/", 0) == 0)
      return send_json(fd, "200 OK",
                       R"({"id":")" + tail.substr(10) + R"(","channel_id":")" + channel + R"("})");
  }
  return send_json(fd, "404 Not Found", R"({"message":"404: Not Found","code":0})");
}

/// Lark/Feishu's Open API under `/lark/open-apis/`.
bool fake_llm_server::answer_lark(int fd, const request& req) {
  auto path = req.path.substr(std::string{"/lark/open-apis"}.size());
  auto doc = protocol::parse_json(req.body);
  auto field = [&](const char* name) {
    const protocol::json_value* v = doc && doc->is_object() ? doc->find(name) : nullptr;
    return v && v->is_string() ? v->as_string() : std::string{};
  };
  if (path == "/auth/v3/tenant_access_token/internal") {
    if (field("app_id") != lark_app_id || field("app_secret") != lark_app_secret)
      return send_json(fd, "200 OK", R"({"code":10014,"msg":"app secret invalid"})");
    return send_json(fd, "200 OK",
                     R"({"code":0,"msg":"ok","tenant_access_token":"t-test-token","expire":7200})");
  }
  auto auth = req.headers.find("authorization");
  if (auth == req.headers.end() || auth->second != "Bearer t-test-token")
    return send_json(fd, "400 Bad Request", R"({"code":99991663,"msg":"Invalid access token"})");
  if (path == "/bot/v3/info")
    return send_json(fd, "200 OK",
                     R"({"code":0,"msg":"ok","bot":{"app_name":"Fake","open_id":"ou_bot"}})");
  // Replies to om_X are re_om_X_1, re_om_X_2, ... (in order); each may be edited 20 times.
  if (path.rfind("/im/v1/messages/", 0) == 0 && path.ends_with("/reply")) {
    auto original = path.substr(16, path.size() - 16 - 6);
    std::string id;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      id = "re_" + original + "_" + std::to_string(++lark_replies_[original]);
    }
    return send_json(fd, "200 OK",
                     R"({"code":0,"msg":"success","data":{"message_id":")" + id + R"("}})");
  }
  if (path.rfind("/im/v1/messages/", 0) == 0 && req.method == "PUT") {
    std::lock_guard<std::mutex> guard{mtx_};
    if (++lark_edits_[path.substr(16)] > 20)
      return send_json(fd, "400 Bad Request",
                       R"({"code":230072,"msg":"The message has reached the number of times )"
                       R"(it can be edited."})");
    return send_json(fd, "200 OK", R"({"code":0,"msg":"success","data":{}})");
  }
  return send_json(fd, "404 Not Found", R"({"code":404,"msg":"not found"})");
}

/// WeCom's API under `/wecom/cgi-bin/`.
bool fake_llm_server::answer_wecom(int fd, const request& req) {
  if (req.path.rfind("/wecom/cgi-bin/gettoken?", 0) == 0) {
    auto expected = std::string{"corpid="} + wecom_corp_id + "&corpsecret=" + wecom_secret;
    if (req.path.find(expected) == std::string::npos)
      return send_json(fd, "200 OK", R"({"errcode":40001,"errmsg":"invalid credential"})");
    return send_json(
        fd, "200 OK",
        R"({"errcode":0,"errmsg":"ok","access_token":"wecom-token","expires_in":7200})");
  }
  if (req.path.rfind("/wecom/cgi-bin/message/send?", 0) == 0) {
    if (req.path.find("access_token=wecom-token") == std::string::npos)
      return send_json(fd, "200 OK", R"({"errcode":40014,"errmsg":"invalid access_token"})");
    return send_json(fd, "200 OK", R"({"errcode":0,"errmsg":"ok","msgid":"msg-1"})");
  }
  return send_json(fd, "404 Not Found", R"({"errcode":404,"errmsg":"not found"})");
}

} // namespace chatagent::test
