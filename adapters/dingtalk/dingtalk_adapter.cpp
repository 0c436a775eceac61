#include "adapters/dingtalk/dingtalk_adapter.hpp"

#include "adapters/adapters.hpp"
#include "adapters/chat_streams.hpp"
#include "adapters/inbound.hpp"
#include "adapters/live_reply.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/json.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"

#include <charconv>
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

struct settings {
  std::string api; // sessionWebhooks must start with it
  std::string app_secret;
  bool per_user = false;
};

struct adapter_state {
  adapter_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  chat_streams streams;
  recent_events seen;
};

using dingtalk_actor = adapter_actor::extend<caf::reacts_to<stream_event>>;

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
  self->send(services.bots, online_atom::value, b.id, true); // DingTalk calls: nothing to dial
  return {
      [self, b, cfg, services, reply_in](inbound_atom,
                                         platform_event& ev) -> caf::result<platform_ack> {
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
        auto msg_id = scalar_text(doc->find("msgId"));
        auto webhook = scalar_text(doc->find("sessionWebhook"));
        auto conv = scalar_text(doc->find("conversationId"));
        if (msg_id.empty() || conv.empty() || webhook.empty())
          return api_error(errc::validation_error,
                           "msgId, conversationId and sessionWebhook are required");
        // The answer goes where the request says: only to DingTalk itself.
        if (!webhook.starts_with(cfg.api + "/"))
          return api_error(errc::validation_error, "sessionWebhook must be under " + cfg.api,
                           "sessionWebhook", "not DingTalk");
        if (!self->state.seen.first_time(msg_id))
          return platform_ack{200, "{}"};
        // In groups DingTalk calls only when the robot is @-mentioned (the mention is
        // taken out of the text; `isInAtList` says so).
        inbound_message m;
        m.platform = "dingtalk";
        m.message_id = msg_id;
        m.chat_id = conv;
        m.group = scalar_text(doc->find("conversationType")) == "2";
        m.chat_title = scalar_text(doc->find("conversationTitle"));
        auto staff = scalar_text(doc->find("senderStaffId"));
        m.user_id = staff.empty() ? scalar_text(doc->find("senderId")) : staff;
        m.user_name = scalar_text(doc->find("senderNick"));
        auto robot = scalar_text(doc->find("chatbotUserId"));
        if (auto at = doc->find("isInAtList"); at && at->is_bool() && at->as_bool())
          m.segments.push_back(segment(segment_kind::mention, robot.empty() ? "robot" : robot));
        auto type = scalar_text(doc->find("msgtype"));
        auto content = doc->find("content");
        auto field = [&](const char* name) {
          return content && content->is_object() ? scalar_text(content->find(name)) : std::string{};
        };
        if (type == "text") {
          auto text_obj = doc->find("text");
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
          m.segments.push_back(
              segment(segment_kind::file, field("downloadCode"), field("fileName")));
        } else {
          m.segments.push_back(segment(segment_kind::unknown, {}, type));
        }
        self->state.streams.deliver(
            self, services, b, m, addressing{robot.empty() ? "robot" : robot, {}, cfg.per_user},
            m.group ? "DingTalk group " + m.chat_title : "DingTalk: " + m.user_name,
            [&] { return reply_in(webhook, m.group ? staff : std::string{}); },
            "I'm " + b.name + ". Send me a message" +
                (m.group ? std::string{" (in groups, @ me)"} : std::string{}) +
                " and I answer. /reset starts a new conversation.");
        return platform_ack{200, "{}"};
      },
      [self, services](stream_event& ev) { self->state.streams.on_event(self, services, ev); },
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
  cfg.app_secret = scalar_text(doc->find("app_secret"));
  if (cfg.app_secret.empty())
    return api_error(errc::validation_error,
                     "platform_config.app_secret must be the app's AppSecret: it signs "
                     "DingTalk's calls",
                     "platform_config.app_secret", "required");
  auto api = api_base_url(*doc, "https://oapi.dingtalk.com");
  if (!api)
    return std::move(api.error());
  cfg.api = std::move(*api);
  auto scope = per_user_scope(*doc);
  if (!scope)
    return std::move(scope.error());
  cfg.per_user = *scope;
  return sys.spawn(adapter_impl, b, cfg, services);
}

} // namespace chatagent::adapters
