#include "adapters/lark/lark_adapter.hpp"

#include "adapters/access_token.hpp"
#include "adapters/adapters.hpp"
#include "adapters/chat_streams.hpp"
#include "adapters/inbound.hpp"
#include "adapters/live_reply.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/json.hpp"
#include "protocol/time.hpp"
#include "protocol/validation.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <openssl/evp.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

namespace chatagent::adapters {

using namespace protocol;

namespace {

using hello_atom = caf::atom_constant<caf::atom("hello")>;

constexpr size_t max_message = 4000; // bytes per message (Feishu allows about 150 KB)

struct settings {
  std::string api;
  std::string app_id;
  std::string app_secret;
  std::string verification_token;
  std::string encrypt_key;
  std::string prefix;
  bool per_user = false;
};

struct adapter_state {
  adapter_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  chat_streams streams;
  recent_events seen;
  access_token token;  // tenant_access_token
  std::string open_id; // the bot's
  int failures = 0;
};

/// `hello_atom`: gets a token and the bot's open_id (again); `fetch_atom`: makes an Open
/// API call with the tenant token (replies send through it); `stream_event`: answers.
using lark_actor =
    adapter_actor::extend<caf::reacts_to<hello_atom>,
                          caf::replies_to<fetch_atom, outbound_request>::with<outbound_response>,
                          caf::reacts_to<stream_event>>;

/// An Open API answer when its `code` is 0 (success).
std::optional<json_value> api_ok(const outbound_response& res) {
  auto doc = parse_json(res.body);
  if (!doc || !doc->is_object())
    return std::nullopt;
  auto c = doc->find("code");
  if (c == nullptr || !c->is_integer() || c->as_int() != 0)
    return std::nullopt;
  return std::move(*doc);
}

/// A text message to `path` of the Open API (`api_base_url` and the token are added by the
/// adapter's `fetch_atom`): a reply (POST) or an edit (PUT).
outbound_request text_message(std::string method, std::string path, const std::string& text) {
  outbound_request r;
  r.method = std::move(method);
  r.url = std::move(path);
  r.headers = {"Content-Type: application/json; charset=utf-8"};
  json_writer content;
  content.begin_object().member("text", text).end_object();
  json_writer w;
  w.begin_object().member("msg_type", "text").member("content", content.take()).end_object();
  r.body = w.take();
  return r;
}

/// The words of a message: a `text` message's text, or a rich-text `post`'s title and
/// lines (mentions kept as their `@_user_N` placeholders); the `post`'s image keys are
/// added to `images`. Empty for other types (pictures, files, stickers).
std::string lark_message_text(const std::string& type, const std::string& content_json,
                              std::vector<std::string>& images) {
  auto content = parse_json(content_json);
  if (!content || !content->is_object())
    return {};
  if (type == "text")
    return scalar_text(content->find("text"));
  if (type == "image")
    images.push_back(scalar_text(content->find("image_key")));
  if (type != "post")
    return {};
  std::string text = scalar_text(content->find("title"));
  auto lines = content->find("content");
  if (lines == nullptr || !lines->is_array())
    return text;
  for (auto& line : lines->as_array()) {
    if (!line.is_array())
      continue;
    std::string words;
    for (auto& el : line.as_array()) {
      auto tag = scalar_text(el.find("tag"));
      if (tag == "text" || tag == "a")
        words += scalar_text(el.find("text"));
      else if (tag == "at")
        words += scalar_text(el.find("user_id"));
      else if (tag == "img")
        images.push_back(scalar_text(el.find("image_key")));
    }
    if (words.empty())
      continue;
    if (!text.empty())
      text += '\n';
    text += words;
  }
  return text;
}

lark_actor::behavior_type adapter_impl(lark_actor::stateful_pointer<adapter_state> self, bot b,
                                       settings cfg, platform_services services) {
  {
    outbound_request r;
    r.url = cfg.api + "/auth/v3/tenant_access_token/internal";
    r.headers = {"Content-Type: application/json; charset=utf-8"};
    json_writer w;
    w.begin_object().member("app_id", cfg.app_id).member("app_secret", cfg.app_secret).end_object();
    r.body = w.take();
    self->state.token.setup(
        std::move(r),
        [](const outbound_response& res) -> std::optional<std::pair<std::string, int64_t>> {
          auto doc = api_ok(res);
          if (!doc)
            return std::nullopt;
          auto e = doc->find("expire");
          return std::pair{scalar_text(doc->find("tenant_access_token")),
                           e && e->is_integer() ? e->as_int() : int64_t{7200}};
        },
        services.bots, b.id, "Lark");
  }
  auto with_token = [self, services](std::function<void(const std::string*)> then) {
    self->state.token.with(self, services.http, std::move(then));
  };
  auto reply_in = [self, b, services](const std::string& message_id) {
    reply_surface s;
    s.max_bytes = max_message;
    s.post = [message_id](const std::string& text, size_t) {
      return text_message("POST", "/im/v1/messages/" + message_id + "/reply", text);
    };
    s.posted_id = [](const outbound_response& res) {
      auto doc = api_ok(res);
      if (!doc)
        return std::string{};
      auto data = doc->find("data");
      auto id = data && data->is_object() ? scalar_text(data->find("message_id")) : std::string{};
      return id.empty() ? std::string{"sent"} : id;
    };
    // Streamed: the reply is edited as the answer grows (Lark allows 20 edits a message:
    // every 1.5 s, and the last one kept for the final text).
    s.edit = [](const std::string& id, const std::string& text) {
      return text_message("PUT", "/im/v1/messages/" + id, text);
    };
    s.edit_interval = std::chrono::milliseconds(1500);
    s.max_edits = 20;
    s.failed = count_failure(services, b.id);
    return spawn_live_reply(self->system(), caf::actor_cast<http_client_actor>(self), std::move(s));
  };
  auto on_message = [self, b, cfg, services, reply_in](const json_value& event,
                                                       const std::string& event_id) {
    auto& st = self->state;
    auto sender = event.find("sender");
    auto message = event.find("message");
    if (sender == nullptr || message == nullptr || !message->is_object())
      return;
    if (scalar_text(sender->find("sender_type")) != "user")
      return; // apps and bots
    auto ids = sender->find("sender_id");
    inbound_message m;
    m.platform = "lark";
    m.user_id = ids ? scalar_text(ids->find("open_id")) : std::string{};
    m.message_id = scalar_text(message->find("message_id"));
    m.chat_id = scalar_text(message->find("chat_id"));
    m.group = scalar_text(message->find("chat_type")) == "group";
    if (m.message_id.empty() || m.chat_id.empty())
      return;
    if (auto parent = scalar_text(message->find("parent_id")); !parent.empty())
      m.segments.push_back(segment(segment_kind::quote, {}, parent));
    std::vector<std::string> images;
    auto text = lark_message_text(scalar_text(message->find("message_type")),
                                  scalar_text(message->find("content")), images);
    // Mentions come as @_user_N placeholders in the text, `mentions` says whom.
    std::vector<message_segment> words{text_segment(std::move(text))};
    if (auto ms = message->find("mentions"); ms && ms->is_array())
      for (auto& who : ms->as_array()) {
        auto id = who.find("id");
        words = token_segments(std::move(words), scalar_text(who.find("key")),
                               id ? scalar_text(id->find("open_id")) : std::string{},
                               scalar_text(who.find("name")));
      }
    m.segments.insert(m.segments.end(), words.begin(), words.end());
    for (auto& key : images)
      m.segments.push_back(segment(segment_kind::image, key));
    auto message_id = m.message_id;
    st.streams.deliver(
        self, services, b, m, addressing{st.open_id, cfg.prefix, cfg.per_user},
        m.group ? "Feishu group " + m.chat_id : "Feishu: " + m.user_id,
        [&] { return reply_in(message_id); },
        "I'm " + b.name + ". Send me a message and I answer" +
            (m.group ? std::string{" (in groups, @ me)"} : std::string{}) +
            ". /reset starts a new conversation.",
        event_id);
  };
  self->send(self, hello_atom::value);
  return {
      [self, cfg, on_message](inbound_atom, platform_event& ev) -> caf::result<platform_ack> {
        if (auto err = only_posts(ev))
          return err;
        auto doc = parse_json(ev.body);
        if (!doc || !doc->is_object())
          return api_error(errc::validation_error, "the event must be a JSON object");
        std::string plain;
        if (auto enc = doc->find("encrypt")) {
          if (cfg.encrypt_key.empty())
            return api_error(errc::validation_error, "the event is encrypted but the bot has no "
                                                     "platform_config.encrypt_key");
          auto ts = find_header(ev, "X-Lark-Request-Timestamp");
          auto nonce = find_header(ev, "X-Lark-Request-Nonce");
          auto sig = find_header(ev, "X-Lark-Signature");
          if (sig && ts && nonce &&
              !same_secret(*sig, sha256_hex({*ts, *nonce, cfg.encrypt_key, ev.body})))
            return api_error(errc::unauthorized, "the X-Lark-Signature does not match the body");
          auto decrypted = lark_decrypt(cfg.encrypt_key, scalar_text(enc));
          if (!decrypted)
            return api_error(errc::unauthorized,
                             "the event does not decrypt with the bot's encrypt_key");
          plain = std::move(*decrypted);
          doc = parse_json(plain);
          if (!doc || !doc->is_object())
            return api_error(errc::validation_error, "the decrypted event is not JSON");
        } else if (!cfg.encrypt_key.empty()) {
          return api_error(errc::unauthorized,
                           "events must be encrypted with the app's Encrypt Key");
        }
        // The Verification Token proves the event comes from the app's subscription.
        auto header = doc->find("header");
        auto token = scalar_text(header ? header->find("token") : doc->find("token"));
        if (!cfg.verification_token.empty() && !same_secret(token, cfg.verification_token))
          return api_error(errc::unauthorized, "the event's token is not the Verification Token");
        if (scalar_text(doc->find("type")) == "url_verification") {
          json_writer w;
          w.begin_object().member("challenge", scalar_text(doc->find("challenge"))).end_object();
          return platform_ack{200, w.take()};
        }
        if (header == nullptr)
          return platform_ack{200, "{}"}; // 1.0 events are not subscribed to
        auto event_id = scalar_text(header->find("event_id"));
        auto type = scalar_text(header->find("event_type"));
        auto event = doc->find("event");
        if (type == "im.message.receive_v1" && event && !event_id.empty() &&
            self->state.seen.first_time(event_id))
          on_message(*event, event_id);
        return platform_ack{200, "{}"};
      },
      [self, cfg, services, with_token](fetch_atom,
                                        outbound_request& req) -> caf::result<outbound_response> {
        auto rp = self->make_response_promise<outbound_response>();
        with_token([self, cfg, services, rp, req](const std::string* token) mutable {
          if (token == nullptr) {
            rp.deliver(outbound_response{0, {}, "no tenant_access_token"});
            return;
          }
          req.url = cfg.api + req.url;
          req.headers.push_back("Authorization: Bearer " + *token);
          self->request(services.http, caf::infinite, fetch_atom::value, std::move(req))
              .then([rp](outbound_response& res) mutable { rp.deliver(std::move(res)); },
                    [rp](caf::error& err) mutable {
                      rp.deliver(outbound_response{0, {}, describe(err).message});
                    });
        });
        return rp;
      },
      [self, b, services, with_token](hello_atom) {
        with_token([self, b, services](const std::string* token) {
          auto& st = self->state;
          if (token == nullptr) {
            self->delayed_send(self,
                               std::chrono::seconds(std::min(300, 5 << std::min(st.failures++, 6))),
                               hello_atom::value);
            return;
          }
          outbound_request r;
          r.method = "GET";
          r.url = "/bot/v3/info";
          self->request(caf::actor_cast<lark_actor>(self), caf::infinite, fetch_atom::value,
                        std::move(r))
              .then([self, b, services](outbound_response& res) {
                if (auto doc = api_ok(res))
                  if (auto bot_info = doc->find("bot"))
                    self->state.open_id = scalar_text(bot_info->find("open_id"));
                self->state.failures = 0;
                self->send(services.bots, online_atom::value, b.id, true);
              });
        });
      },
      [self, services](stream_event& ev) { self->state.streams.on_event(self, services, ev); },
  };
}

} // namespace

std::optional<std::string> lark_decrypt(std::string_view encrypt_key, std::string_view encrypted) {
  std::string raw(encrypted.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), encrypted.data(),
                        encrypted.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len < 32 || len % 16 != 0)
    return std::nullopt;
  raw.resize(len);
  unsigned char key[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(key, reinterpret_cast<const unsigned char*>(encrypt_key.data()),
                     encrypt_key.size());
  auto* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr)
    return std::nullopt;
  std::string out(len, '\0');
  int n = 0;
  int tail = 0;
  auto* iv = reinterpret_cast<const unsigned char*>(raw.data());
  bool ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), nullptr, key, iv) == 1 &&
            EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &n,
                              reinterpret_cast<const unsigned char*>(raw.data()) + 16,
                              static_cast<int>(len - 16)) == 1 &&
            EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + n, &tail) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok)
    return std::nullopt;
  out.resize(static_cast<size_t>(n + tail));
  return out;
}

caf::expected<adapter_actor> spawn_lark_adapter(caf::actor_system& sys, const bot& b,
                                                const platform_services& services) {
  auto doc = platform_config(b);
  if (!doc)
    return std::move(doc.error());
  settings cfg;
  cfg.app_id = scalar_text(doc->find("app_id"));
  cfg.app_secret = scalar_text(doc->find("app_secret"));
  cfg.verification_token = scalar_text(doc->find("verification_token"));
  cfg.encrypt_key = scalar_text(doc->find("encrypt_key"));
  cfg.prefix = scalar_text(doc->find("prefix"));
  if (cfg.app_id.empty())
    return api_error(errc::validation_error,
                     "platform_config.app_id must be the app's App ID (cli_…)",
                     "platform_config.app_id", "required");
  if (cfg.app_secret.empty())
    return api_error(errc::validation_error, "platform_config.app_secret is required",
                     "platform_config.app_secret", "required");
  if (cfg.verification_token.empty() && cfg.encrypt_key.empty())
    return api_error(errc::validation_error,
                     "set platform_config.verification_token (or encrypt_key): without it "
                     "anyone could post events as Lark",
                     "platform_config.verification_token", "required");
  auto api = api_base_url(*doc, "https://open.feishu.cn/open-apis");
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
