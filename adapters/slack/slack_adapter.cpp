#include "adapters/slack/slack_adapter.hpp"

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
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::adapters {

using namespace protocol;

namespace {

using hello_atom = caf::atom_constant<caf::atom("hello")>;

constexpr int64_t max_skew_s = 300;  // a signed request older (or newer) than this is refused
constexpr size_t max_message = 4000; // Slack's advice for one message's text

struct settings {
  std::string api; // the Web API's root
  std::string token;
  std::string signing_secret;
  std::string prefix;
  bool per_user = false;
};

struct adapter_state {
  adapter_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  chat_streams streams;
  recent_events seen;
  std::string self_id; // the bot's user id (auth.test)
  int failures = 0;    // consecutive failed auth.test calls
};

/// `hello_atom`: asks auth.test (again); `stream_event`: a piece of an answer of a
/// conversation it subscribed to.
using slack_actor = adapter_actor::extend<caf::reacts_to<hello_atom>, caf::reacts_to<stream_event>>;

caf::error refuse(errc code, const std::string& message) {
  return api_error(code, message);
}

/// Slack escapes `&`, `<` and `>` in message text (`<@U123>` is markup).
std::string unescape(std::string text) {
  static constexpr std::pair<std::string_view, std::string_view> entities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}};
  for (auto [from, to] : entities)
    for (size_t p = 0; (p = text.find(from, p)) != std::string::npos; p += to.size())
      text.replace(p, from.size(), to);
  return text;
}

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out.push_back(c);
  }
  return out;
}

/// The Web API's answer when it says `"ok": true`.
std::optional<json_value> ok_answer(const outbound_response& res) {
  auto doc = parse_json(res.body);
  if (res.status != 200 || !doc || !doc->is_object())
    return std::nullopt;
  auto v = doc->find("ok");
  if (v == nullptr || !v->is_bool() || !v->as_bool())
    return std::nullopt;
  return std::move(*doc);
}

/// Why a Web API call failed.
std::string failure(const outbound_response& res) {
  if (res.status == 0)
    return res.error;
  auto doc = parse_json(res.body);
  if (res.status == 200 && doc && doc->is_object())
    return scalar_text(doc->find("error"));
  return "HTTP " + std::to_string(res.status);
}

slack_actor::behavior_type adapter_impl(slack_actor::stateful_pointer<adapter_state> self, bot b,
                                        settings cfg, platform_services services) {
  auto call = [cfg](const std::string& method, std::string body) {
    outbound_request r;
    r.method = "POST";
    r.url = cfg.api + "/" + method;
    r.headers = {"Content-Type: application/json; charset=utf-8",
                 "Authorization: Bearer " + cfg.token};
    r.body = std::move(body);
    r.timeout_ms = 15000;
    return r;
  };
  // An answer in `channel` (in thread `thread`, empty: none): posted with its first piece,
  // then updated as it grows.
  auto reply_in = [self, b, services, call](const std::string& channel, const std::string& thread) {
    reply_surface s;
    s.max_bytes = max_message;
    s.post = [call, channel, thread](const std::string& text, size_t) {
      json_writer w;
      w.begin_object().member("channel", channel).member("text", escape(text));
      if (!thread.empty())
        w.member("thread_ts", thread);
      w.end_object();
      return call("chat.postMessage", w.take());
    };
    s.posted_id = [](const outbound_response& res) {
      auto doc = ok_answer(res);
      return doc ? scalar_text(doc->find("ts")) : std::string{};
    };
    s.edit = [call, channel](const std::string& ts, const std::string& text) {
      json_writer w;
      w.begin_object()
          .member("channel", channel)
          .member("ts", ts)
          .member("text", escape(text))
          .end_object();
      return call("chat.update", w.take());
    };
    s.failed = count_failure(services, b.id);
    return spawn_live_reply(self->system(), services.http, std::move(s));
  };
  auto help = [b, cfg] {
    return "I'm " + b.name + ". Message me directly, or mention me in a channel" +
           (cfg.prefix.empty() ? std::string{} : " (or start with " + cfg.prefix + ")") +
           ", and I answer. /reset starts a new conversation, /help shows this.";
  };
  auto draft_for = [b, cfg](const std::string& channel, const std::string& user, bool group) {
    conversation draft;
    draft.bot = b.id;
    draft.platform = "slack";
    draft.platform_chat_id = session_chat_id(channel, user, group, cfg.per_user);
    draft.title = group ? "Slack channel " + channel + (cfg.per_user ? " (" + user + ")" : "")
                        : "Slack: " + user;
    return draft;
  };
  // A slash command (form-encoded): /help and /reset are answered to the user alone;
  // another command's text is a question answered in the channel.
  auto on_command = [self, b, services, reply_in, help,
                     draft_for](const std::string& body) -> caf::result<platform_ack> {
    auto form = parse_form(body);
    auto command = form_value(form, "command");
    auto text = trimmed(form_value(form, "text"));
    auto channel = form_value(form, "channel_id");
    auto user = form_value(form, "user_id");
    if (command.empty() || channel.empty())
      return refuse(errc::validation_error, "a slash command needs command and channel_id");
    auto ephemeral = [](const std::string& said) {
      json_writer w;
      w.begin_object().member("response_type", "ephemeral").member("text", said).end_object();
      return platform_ack{200, w.take()};
    };
    bool group = !channel.starts_with("D"); // D…: a direct message channel
    if (command == "/help")
      return ephemeral(help());
    if (command == "/reset") {
      self->state.streams.reset(self, services, b.owner, draft_for(channel, user, group),
                                reply_in(channel, {}),
                                "Done: the next message starts a new "
                                "conversation.");
      return ephemeral("Starting over…");
    }
    if (text.empty())
      return ephemeral("Ask a question after " + command + ", or try /help.");
    message_draft m;
    m.content = text;
    json_writer meta;
    meta.begin_object()
        .member("platform", "slack")
        .member("slack_command", command)
        .member("platform_user_id", user)
        .member("platform_user_name", form_value(form, "user_name"))
        .end_object();
    m.metadata = meta.take();
    self->state.streams.ask(self, services, b.owner, draft_for(channel, user, group), std::move(m),
                            reply_in(channel, {}));
    json_writer w;
    w.begin_object().member("response_type", "in_channel").end_object();
    return platform_ack{200, w.take()};
  };
  // One event of an `event_callback`.
  auto on_event = [self, b, cfg, services, reply_in, help, draft_for](const json_value& ev,
                                                                      const std::string& event_id) {
    auto type = scalar_text(ev.find("type"));
    if (type != "message" && type != "app_mention")
      return;
    auto subtype = scalar_text(ev.find("subtype"));
    if (ev.find("bot_id") || (!subtype.empty() && subtype != "file_share"))
      return; // bots (itself included), edits, joins...: not questions
    auto& st = self->state;
    inbound_message m;
    m.platform = "slack";
    m.message_id = scalar_text(ev.find("ts"));
    m.user_id = scalar_text(ev.find("user"));
    m.chat_id = scalar_text(ev.find("channel"));
    if (m.user_id.empty() || m.chat_id.empty() || m.user_id == st.self_id)
      return;
    m.group = scalar_text(ev.find("channel_type")) != "im";
    m.segments = slack_segments(scalar_text(ev.find("text")));
    bool mentioned = std::any_of(m.segments.begin(), m.segments.end(), [&](auto& s) {
      return s.kind == segment_kind::mention && !st.self_id.empty() && s.ref == st.self_id;
    });
    // In channels a mention comes twice, as `message` and as `app_mention`: answered once,
    // as the latter.
    if (type == "message" && m.group && mentioned)
      return;
    if (type == "app_mention")
      m.group = !m.chat_id.starts_with("D");
    if (auto files = ev.find("files"); files && files->is_array())
      for (auto& f : files->as_array()) // shared files, by their private URLs
        m.segments.push_back(segment(kind_of_mime(scalar_text(f.find("mimetype"))),
                                     scalar_text(f.find("url_private")),
                                     scalar_text(f.find("name"))));
    // In channels the answer goes to the message's thread; in direct messages, to the
    // thread only when the question was asked in one.
    auto thread = scalar_text(ev.find("thread_ts"));
    if (thread.empty() && m.group)
      thread = m.message_id;
    auto channel = m.chat_id;
    st.streams.deliver(
        self, services, b, m, addressing{st.self_id, cfg.prefix, cfg.per_user},
        draft_for(m.chat_id, m.user_id, m.group).title, [&] { return reply_in(channel, thread); },
        help(), event_id);
  };
  self->send(self, hello_atom::value);
  return {
      [self, cfg, on_command, on_event](inbound_atom,
                                        const platform_event& ev) -> caf::result<platform_ack> {
        if (auto err = only_posts(ev))
          return err;
        auto ts = find_header(ev, "X-Slack-Request-Timestamp");
        auto sig = find_header(ev, "X-Slack-Signature");
        if (ts == nullptr || sig == nullptr)
          return refuse(errc::unauthorized,
                        "X-Slack-Request-Timestamp and X-Slack-Signature are required");
        int64_t when = 0;
        auto [end, ec] = std::from_chars(ts->data(), ts->data() + ts->size(), when);
        if (ec != std::errc{} || end != ts->data() + ts->size() ||
            std::abs(now_ms() / 1000 - when) > max_skew_s)
          return refuse(errc::unauthorized,
                        "X-Slack-Request-Timestamp must be the current unix time (within 5 "
                        "minutes)");
        if (!same_secret(*sig, slack_signature(cfg.signing_secret, *ts, ev.body)))
          return refuse(errc::unauthorized, "the X-Slack-Signature does not match the body");
        auto body = std::string_view{ev.body};
        auto first = body.find_first_not_of(" \t\r\n");
        if (first == std::string_view::npos || body[first] != '{')
          return on_command(ev.body);
        auto doc = parse_json(ev.body);
        if (!doc || !doc->is_object())
          return refuse(errc::validation_error, "the event must be a JSON object");
        auto type = scalar_text(doc->find("type"));
        if (type == "url_verification") {
          json_writer w;
          w.begin_object().member("challenge", scalar_text(doc->find("challenge"))).end_object();
          return platform_ack{200, w.take()};
        }
        if (type != "event_callback")
          return platform_ack{200, "{}"};
        auto event_id = scalar_text(doc->find("event_id"));
        auto event = doc->find("event");
        if (event_id.empty() || event == nullptr || !event->is_object())
          return refuse(errc::validation_error, "an event_callback needs event_id and event");
        if (self->state.seen.first_time(event_id))
          on_event(*event, event_id);
        return platform_ack{200, "{}"};
      },
      [self, services](stream_event& ev) { self->state.streams.on_event(self, services, ev); },
      [self, b, services, call](hello_atom) {
        self->request(services.http, caf::infinite, fetch_atom::value, call("auth.test", "{}"))
            .then(
                [self, b, services](outbound_response& res) {
                  auto& st = self->state;
                  if (auto doc = ok_answer(res)) {
                    st.self_id = scalar_text(doc->find("user_id"));
                    st.failures = 0;
                    self->send(services.bots, online_atom::value, b.id, true);
                    return;
                  }
                  ++st.failures;
                  self->send(services.bots, online_atom::value, b.id, false);
                  self->send(services.bots, activity_atom::value, b.id, int64_t{0}, int64_t{1});
                  spdlog::warn("slack bot {}: auth.test failed ({}), retrying", b.id.value,
                               failure(res));
                  self->delayed_send(self,
                                     std::chrono::milliseconds(std::min<int64_t>(
                                         300000, 1000LL << std::min(st.failures, 9))),
                                     hello_atom::value);
                },
                [self](caf::error&) {
                  self->delayed_send(self, std::chrono::seconds(30), hello_atom::value);
                });
      },
  };
}

} // namespace

std::vector<message_segment> slack_segments(std::string_view text) {
  std::vector<message_segment> out;
  auto words = [&](std::string_view t) {
    if (!t.empty())
      out.push_back(text_segment(unescape(std::string{t})));
  };
  size_t at = 0;
  for (size_t open; (open = text.find('<', at)) != std::string_view::npos;) {
    auto close = text.find('>', open);
    if (close == std::string_view::npos)
      break;
    words(text.substr(at, open - at));
    auto inner = text.substr(open + 1, close - open - 1);
    auto bar = inner.find('|');
    auto target = inner.substr(0, bar);
    auto label = bar == std::string_view::npos ? std::string_view{} : inner.substr(bar + 1);
    if (target.starts_with('@')) { // a user
      out.push_back(segment(segment_kind::mention, std::string{target.substr(1)},
                            unescape(std::string{label})));
    } else if (target == "!here" || target == "!channel" || target == "!everyone") {
      out.push_back(segment(segment_kind::mention_all, {}));
    } else if (target.starts_with('#') || target.starts_with("!subteam^")) {
      // a channel or a user group: by its name
      std::string name{target.starts_with('#') ? "#" : ""};
      name += label.empty() ? target.substr(target.starts_with('#') ? 1 : 0) : label;
      words(name);
    } else if (label.empty() || label == target) { // a link
      words(target);
    } else {
      std::string link{label};
      link += " (";
      link += target;
      link += ')';
      words(link);
    }
    at = close + 1;
  }
  words(text.substr(at));
  return out;
}

std::string slack_signature(std::string_view signing_secret, std::string_view timestamp,
                            std::string_view body) {
  return "v0=" + hmac_sha256_hex(signing_secret, {"v0:", timestamp, ":", body});
}

caf::expected<adapter_actor> spawn_slack_adapter(caf::actor_system& sys, const bot& b,
                                                 const platform_services& services) {
  auto doc = platform_config(b);
  if (!doc)
    return std::move(doc.error());
  settings cfg;
  cfg.token = scalar_text(doc->find("bot_token"));
  cfg.signing_secret = scalar_text(doc->find("signing_secret"));
  cfg.prefix = scalar_text(doc->find("prefix"));
  if (cfg.token.empty() || cfg.token.find_first_of(" \r\n") != std::string::npos)
    return api_error(errc::validation_error,
                     "platform_config.bot_token must be the app's Bot User OAuth Token (xoxb-…)",
                     "platform_config.bot_token", "required");
  if (cfg.signing_secret.empty())
    return api_error(errc::validation_error,
                     "platform_config.signing_secret must be the app's Signing Secret (Basic "
                     "Information page): it proves events come from Slack",
                     "platform_config.signing_secret", "required");
  auto api = api_base_url(*doc, "https://slack.com/api");
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
