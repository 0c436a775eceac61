#include "adapters/dingtalk/dingtalk_adapter.hpp"

#include "adapters/adapters.hpp"
#include "adapters/chat_streams.hpp"
#include "adapters/inbound.hpp"
#include "adapters/live_reply.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/form.hpp"
#include "protocol/json.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::adapters {

using namespace protocol;

namespace {

constexpr int64_t max_skew_ms = 3600 * 1000; // DingTalk's own rule: within an hour
constexpr size_t max_message = 6000;

constexpr const char* bot_message_topic = "/v1.0/im/bot/messages/get";

struct settings {
  std::string api; // sessionWebhooks must start with it
  std::string app_key;
  std::string app_secret;
  bool per_user = false;
  bool stream = false; // stream mode: the adapter connects to DingTalk's gateway
  std::string gateway; // stream mode: the gateway API's root
};

struct adapter_state {
  adapter_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  chat_streams streams;
  recent_events seen;
  peer_link link;   // stream mode: the connection, while there is one
  int failures = 0; // stream mode: consecutive failed or lost connections
};

using dial_again_atom = caf::atom_constant<caf::atom("redial")>;

/// `stream_event`: a piece of an answer of a conversation it subscribed to;
/// `dial_again_atom`: (stream mode) opens a connection to DingTalk's gateway.
using dingtalk_actor =
    adapter_actor::extend<caf::reacts_to<stream_event>, caf::reacts_to<dial_again_atom>>;

std::chrono::milliseconds backoff(int failures) {
  return std::chrono::milliseconds(
      std::min<int64_t>(60000, 500LL << std::clamp(failures - 1, 0, 7)));
}

dingtalk_actor::behavior_type adapter_impl(dingtalk_actor::stateful_pointer<adapter_state> self,
                                           bot b, settings cfg, platform_services services) {
  // An answer posted to `webhook` (the message's sessionWebhook), @-ing `staff` in groups.
  auto reply_in = [self, b, services](const std::string& webhook, const std::string& staff) {
    reply_surface s;
    s.max_bytes = max_message;
    s.post = [webhook, staff](const std::string& text, size_t index) {
      outbound_request r;
      r.url = webhook;
      r.headers = {"Content-Type: application/json"};
      json_writer w;
      w.begin_object().member("msgtype", "text").key("text").begin_object();
      w.member("content", text).end_object();
      if (index == 0 && !staff.empty()) {
        w.key("at").begin_object().key("atUserIds").begin_array().value(staff).end_array();
        w.end_object();
      }
      w.end_object();
      r.body = w.take();
      return r;
    };
    s.posted_id = [](const outbound_response& res) {
      auto doc = parse_json(res.body);
      if (res.status != 200 || !doc || !doc->is_object())
        return std::string{};
      auto code = doc->find("errcode");
      return code && code->is_integer() && code->as_int() == 0 ? std::string{"sent"}
                                                               : std::string{};
    };
    s.failed = count_failure(services, b.id);
    return spawn_live_reply(self->system(), services.http, std::move(s));
  };
  // A robot message (an HTTP callback or a stream frame's data): answered through its
  // sessionWebhook; a refused one says why.
  auto on_message = [self, b, cfg, services, reply_in](const json_value& doc) -> caf::error {
    auto& st = self->state;
    auto msg_id = scalar_text(doc.find("msgId"));
    auto webhook = scalar_text(doc.find("sessionWebhook"));
    auto conv = scalar_text(doc.find("conversationId"));
    if (msg_id.empty() || conv.empty() || webhook.empty())
      return api_error(errc::validation_error,
                       "msgId, conversationId and sessionWebhook are required");
    // The answer goes where the message says: only to DingTalk itself.
    if (!webhook.starts_with(cfg.api + "/"))
      return api_error(errc::validation_error, "sessionWebhook must be under " + cfg.api,
                       "sessionWebhook", "not DingTalk");
    if (!st.seen.first_time(msg_id))
      return caf::none;
    // In groups DingTalk sends only what @-mentions the robot (the mention is taken out of
    // the text; `isInAtList` says so).
    inbound_message m;
    m.platform = "dingtalk";
    m.message_id = msg_id;
    m.chat_id = conv;
    m.group = scalar_text(doc.find("conversationType")) == "2";
    m.chat_title = scalar_text(doc.find("conversationTitle"));
    auto staff = scalar_text(doc.find("senderStaffId"));
    m.user_id = staff.empty() ? scalar_text(doc.find("senderId")) : staff;
    m.user_name = scalar_text(doc.find("senderNick"));
    auto robot = scalar_text(doc.find("chatbotUserId"));
    if (robot.empty())
      robot = "robot";
    if (auto at = doc.find("isInAtList"); at && at->is_bool() && at->as_bool())
      m.segments.push_back(segment(segment_kind::mention, robot));
    auto type = scalar_text(doc.find("msgtype"));
    auto content = doc.find("content");
    auto field = [&](const char* name) {
      return content && content->is_object() ? scalar_text(content->find(name)) : std::string{};
    };
    if (type == "text") {
      auto text_obj = doc.find("text");
      m.segments.push_back(
          text_segment(text_obj ? scalar_text(text_obj->find("content")) : std::string{}));
    } else if (type == "picture") {
      m.segments.push_back(segment(segment_kind::image, field("downloadCode")));
    } else if (type == "audio") { // DingTalk's own speech recognition comes along
      m.segments.push_back(segment(segment_kind::voice, field("downloadCode")));
      m.segments.push_back(text_segment(field("recognition")));
    } else if (type == "video") {
      m.segments.push_back(segment(segment_kind::video, field("downloadCode")));
    } else if (type == "file") {
      m.segments.push_back(segment(segment_kind::file, field("downloadCode"), field("fileName")));
    } else {
      m.segments.push_back(segment(segment_kind::unknown, {}, type));
    }
    st.streams.deliver(
        self, services, b, m, addressing{robot, {}, cfg.per_user},
        m.group ? "DingTalk group " + m.chat_title : "DingTalk: " + m.user_name,
        [&] { return reply_in(webhook, m.group ? staff : std::string{}); },
        "I'm " + b.name + ". Send me a message" +
            (m.group ? std::string{" (in groups, @ me)"} : std::string{}) +
            " and I answer. /reset starts a new conversation.");
    return caf::none;
  };
  // Stream mode: the connection is gone; another one is opened after a while.
  auto lost = [self, b, services](const std::string& why) {
    auto& st = self->state;
    st.link.peer = nullptr;
    ++st.failures;
    self->send(services.bots, online_atom::value, b.id, false);
    self->send(services.bots, activity_atom::value, b.id, int64_t{0}, int64_t{1});
    spdlog::warn("bot {}: DingTalk stream: {}; connecting again in {} ms", b.id.value, why,
                 backoff(st.failures).count());
    self->delayed_send(self, backoff(st.failures), dial_again_atom::value);
  };
  // Stream mode: a frame from DingTalk, acknowledged with the same messageId.
  auto on_frame = [self, b, on_message](const std::string& text) {
    auto frame = parse_json(text);
    if (!frame || !frame->is_object())
      return;
    auto headers = frame->find("headers");
    auto header = [&](const char* name) {
      return headers && headers->is_object() ? scalar_text(headers->find(name)) : std::string{};
    };
    auto type = scalar_text(frame->find("type"));
    auto topic = header("topic");
    auto data = scalar_text(frame->find("data"));
    std::string answer = R"({"response":null})";
    if (type == "SYSTEM" && topic == "ping") {
      answer = data; // echoed
    } else if (type == "SYSTEM") {
      if (topic == "disconnect") // the connection closes soon; another follows
        spdlog::info("bot {}: DingTalk asks to reconnect the stream", b.id.value);
      return;
    } else if (type == "CALLBACK" && topic == bot_message_topic) {
      auto doc = parse_json(data);
      if (!doc || !doc->is_object())
        spdlog::warn("bot {}: a DingTalk stream message is not JSON", b.id.value);
      else if (auto err = on_message(*doc))
        spdlog::warn("bot {}: a DingTalk stream message was refused: {}", b.id.value,
                     describe(err).message);
    } else if (type == "EVENT") {
      answer = R"({"status":"SUCCESS","message":"success"})";
    }
    json_writer w;
    w.begin_object()
        .member("code", 200)
        .key("headers")
        .begin_object()
        .member("contentType", "application/json")
        .member("messageId", header("messageId"))
        .end_object()
        .member("message", "OK")
        .member("data", answer)
        .end_object();
    self->send(self->state.link.peer, frame_atom::value, w.take());
  };
  if (cfg.stream) {
    self->send(services.bots, online_atom::value, b.id, false); // until it connects
    self->send(self, dial_again_atom::value);
  } else {
    self->send(services.bots, online_atom::value, b.id, true); // DingTalk calls: nothing to dial
  }
  return {
      [self, cfg, on_message, on_frame, lost](inbound_atom,
                                              platform_event& ev) -> caf::result<platform_ack> {
        auto& st = self->state;
        if (cfg.stream) {
          bool ours = st.link.peer && ev.peer == st.link.peer;
          if (ev.kind == platform_event::ws_text && ours)
            on_frame(ev.body);
          else if (ev.kind == platform_event::ws_close && ours)
            lost("the connection closed (" + ev.body + ")");
          else if (ev.kind != platform_event::ws_text && ev.kind != platform_event::ws_close)
            return api_error(errc::validation_error,
                             "this DingTalk bot uses stream mode: it connects to DingTalk, "
                             "DingTalk does not call it",
                             "platform_config.mode", "stream");
          return platform_ack{};
        }
        if (auto err = only_posts(ev))
          return err;
        auto ts = find_header(ev, "timestamp");
        auto sign = find_header(ev, "sign");
        if (ts == nullptr || sign == nullptr)
          return api_error(errc::unauthorized, "the timestamp and sign headers are required");
        int64_t when = 0;
        auto [end, ec] = std::from_chars(ts->data(), ts->data() + ts->size(), when);
        if (ec != std::errc{} || end != ts->data() + ts->size() ||
            std::abs(now_ms() - when) > max_skew_ms)
          return api_error(errc::unauthorized,
                           "timestamp must be the current time in milliseconds (within an hour)");
        if (!same_secret(*sign, dingtalk_signature(cfg.app_secret, *ts)))
          return api_error(errc::unauthorized, "the sign does not match (check app_secret)");
        auto doc = parse_json(ev.body);
        if (!doc || !doc->is_object())
          return api_error(errc::validation_error, "the message must be a JSON object");
        if (auto err = on_message(*doc))
          return err;
        return platform_ack{200, "{}"};
      },
      [self, services](stream_event& ev) { self->state.streams.on_event(self, services, ev); },
      [self, b, cfg, services, lost](dial_again_atom) {
        if (self->state.link.peer)
          return;
        // A ticket for a connection, then the connection (subscribed to robot messages).
        json_writer w;
        w.begin_object()
            .member("clientId", cfg.app_key)
            .member("clientSecret", cfg.app_secret)
            .key("subscriptions")
            .begin_array()
            .begin_object()
            .member("type", "CALLBACK")
            .member("topic", bot_message_topic)
            .end_object()
            .end_array()
            .member("ua", "chatagent")
            .end_object();
        outbound_request r;
        r.url = cfg.gateway + "/v1.0/gateway/connections/open";
        r.headers = {"Content-Type: application/json", "Accept: application/json"};
        r.body = w.take();
        r.timeout_ms = 15000;
        self->request(services.http, caf::infinite, fetch_atom::value, std::move(r))
            .then(
                [self, b, services, lost](outbound_response& res) {
                  auto doc = parse_json(res.body);
                  auto endpoint =
                      doc && doc->is_object() ? scalar_text(doc->find("endpoint")) : std::string{};
                  auto ticket =
                      doc && doc->is_object() ? scalar_text(doc->find("ticket")) : std::string{};
                  if (res.status != 200 || endpoint.empty() || ticket.empty())
                    return lost("no connection ticket (" +
                                (res.status == 0 ? res.error
                                                 : "HTTP " + std::to_string(res.status) + " " +
                                                       res.body.substr(0, 200)) +
                                ")");
                  self->request(services.websocket, std::chrono::seconds(60), dial_atom::value,
                                endpoint + "?ticket=" + form_escape(ticket),
                                std::vector<std::string>{}, caf::actor_cast<adapter_actor>(self))
                      .then(
                          [self, b, services](platform_peer_actor& peer) {
                            auto& st = self->state;
                            st.link.peer = std::move(peer);
                            st.failures = 0;
                            self->send(services.bots, online_atom::value, b.id, true);
                            spdlog::info("bot {}: DingTalk stream connected", b.id.value);
                          },
                          [lost](caf::error& err) { lost(describe(err).message); });
                },
                [lost](caf::error& err) { lost(describe(err).message); });
      },
  };
}

} // namespace

std::string dingtalk_signature(std::string_view app_secret, std::string_view timestamp) {
  return hmac_sha256_base64(app_secret, {timestamp, "\n", app_secret});
}

caf::expected<adapter_actor> spawn_dingtalk_adapter(caf::actor_system& sys, const bot& b,
                                                    const platform_services& services) {
  auto doc = platform_config(b);
  if (!doc)
    return std::move(doc.error());
  settings cfg;
  cfg.app_key = scalar_text(doc->find("app_key"));
  cfg.app_secret = scalar_text(doc->find("app_secret"));
  auto mode = scalar_text(doc->find("mode"));
  if (mode != "" && mode != "http" && mode != "stream")
    return api_error(errc::validation_error,
                     "platform_config.mode must be \"http\" (DingTalk calls the server) or "
                     "\"stream\" (the server connects to DingTalk)",
                     "platform_config.mode", "invalid");
  cfg.stream = mode == "stream";
  if (cfg.stream && cfg.app_key.empty())
    return api_error(errc::validation_error,
                     "platform_config.app_key (the app's AppKey / Client ID) is required in "
                     "stream mode",
                     "platform_config.app_key", "required");
  if (cfg.app_secret.empty())
    return api_error(errc::validation_error,
                     "platform_config.app_secret must be the app's AppSecret: it signs "
                     "DingTalk's calls",
                     "platform_config.app_secret", "required");
  auto api = api_base_url(*doc, "https://oapi.dingtalk.com");
  if (!api)
    return std::move(api.error());
  cfg.api = std::move(*api);
  auto gateway = scalar_text(doc->find("stream_base_url"));
  if (gateway.empty())
    gateway = "https://api.dingtalk.com";
  while (gateway.ends_with('/'))
    gateway.pop_back();
  if (auto why = check_http_url(gateway); !why.empty())
    return api_error(errc::validation_error, "platform_config.stream_base_url " + why,
                     "platform_config.stream_base_url", "invalid");
  cfg.gateway = std::move(gateway);
  auto scope = per_user_scope(*doc);
  if (!scope)
    return std::move(scope.error());
  cfg.per_user = *scope;
  return sys.spawn(adapter_impl, b, cfg, services);
}

} // namespace chatagent::adapters
