#include "adapters/wecom/wecom_adapter.hpp"

#include "adapters/access_token.hpp"
#include "adapters/adapters.hpp"
#include "adapters/chat_streams.hpp"
#include "adapters/inbound.hpp"
#include "adapters/live_reply.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/error.hpp"
#include "protocol/form.hpp"
#include "protocol/json.hpp"
#include "protocol/validation.hpp"

#include <algorithm>
#include <array>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

namespace chatagent::adapters {

using namespace protocol;

namespace {

constexpr size_t max_message = 2000; // WeCom takes at most 2048 bytes of text

struct settings {
  std::string api;
  std::string corp_id;
  std::string agent_id;
  std::string secret;
  std::string token;
  std::string aes_key;
};

struct adapter_state {
  adapter_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  chat_streams streams;
  recent_events seen;
  access_token token;
};

/// `fetch_atom`: a message API call with the access token (replies send through it).
using wecom_actor =
    adapter_actor::extend<caf::replies_to<fetch_atom, outbound_request>::with<outbound_response>,
                          caf::reacts_to<stream_event>>;

/// A WeCom answer when its `errcode` is 0.
std::optional<json_value> api_ok(const outbound_response& res) {
  auto doc = parse_json(res.body);
  if (res.status != 200 || !doc || !doc->is_object())
    return std::nullopt;
  auto c = doc->find("errcode");
  if (c == nullptr || !c->is_integer() || c->as_int() != 0)
    return std::nullopt;
  return std::move(*doc);
}

wecom_actor::behavior_type adapter_impl(wecom_actor::stateful_pointer<adapter_state> self, bot b,
                                        settings cfg, platform_services services) {
  {
    outbound_request r;
    r.method = "GET";
    r.url = cfg.api + "/cgi-bin/gettoken?corpid=" + cfg.corp_id + "&corpsecret=" + cfg.secret;
    self->state.token.setup(
        std::move(r),
        [](const outbound_response& res) -> std::optional<std::pair<std::string, int64_t>> {
          auto doc = api_ok(res);
          if (!doc)
            return std::nullopt;
          auto e = doc->find("expires_in");
          return std::pair{scalar_text(doc->find("access_token")),
                           e && e->is_integer() ? e->as_int() : int64_t{7200}};
        },
        services.bots, b.id, "WeCom");
  }
  auto reply_to = [self, b, cfg, services](const std::string& user) {
    reply_surface s;
    s.max_bytes = max_message;
    s.post = [cfg, user](const std::string& text, size_t) {
      outbound_request r;
      r.url = "/cgi-bin/message/send"; // the token is added by the fetch handler
      r.headers = {"Content-Type: application/json"};
      json_writer w;
      w.begin_object().member("touser", user).member("msgtype", "text").key("agentid");
      if (cfg.agent_id.find_first_not_of("0123456789") == std::string::npos)
        w.raw(cfg.agent_id);
      else
        w.value(cfg.agent_id);
      w.key("text").begin_object().member("content", text).end_object().end_object();
      r.body = w.take();
      return r;
    };
    s.posted_id = [](const outbound_response& res) {
      auto doc = api_ok(res);
      if (!doc)
        return std::string{};
      auto id = scalar_text(doc->find("msgid"));
      return id.empty() ? std::string{"sent"} : id;
    };
    s.failed = count_failure(services, b.id);
    return spawn_live_reply(self->system(), caf::actor_cast<http_client_actor>(self), std::move(s));
  };
  self->send(services.bots, online_atom::value, b.id, true);
  return {
      [self, b, cfg, services, reply_to](inbound_atom,
                                         platform_event& ev) -> caf::result<platform_ack> {
        if (ev.kind != platform_event::callback)
          return api_error(errc::validation_error,
                           "this platform calls with HTTP, not over a WebSocket");
        if (ev.method != "GET" && ev.method != "POST")
          return api_error(errc::method_not_allowed,
                           "WeCom verifies the URL with GET and posts messages");
        auto query = parse_form(ev.query);
        auto signature = form_value(query, "msg_signature");
        auto ts = form_value(query, "timestamp");
        auto nonce = form_value(query, "nonce");
        // GET: WeCom checks the URL; the answer is the decrypted echostr, as text.
        std::string encrypted =
            ev.method == "GET" ? form_value(query, "echostr") : xml_element(ev.body, "Encrypt");
        if (signature.empty() || ts.empty() || nonce.empty() || encrypted.empty())
          return api_error(errc::unauthorized,
                           "msg_signature, timestamp, nonce and the encrypted message are "
                           "required");
        if (!same_secret(signature, wecom_signature(cfg.token, ts, nonce, encrypted)))
          return api_error(errc::unauthorized, "msg_signature does not match (check token)");
        auto plain = wecom_decrypt(cfg.aes_key, cfg.corp_id, encrypted);
        if (!plain)
          return api_error(errc::unauthorized,
                           "the message does not decrypt with encoding_aes_key for corp_id");
        if (ev.method == "GET")
          return platform_ack{200, std::move(*plain)};
        // An app's messages: private chats with one member each.
        inbound_message m;
        m.platform = "wecom";
        m.message_id = xml_element(*plain, "MsgId");
        m.user_id = xml_element(*plain, "FromUserName");
        m.chat_id = m.user_id;
        auto type = xml_element(*plain, "MsgType");
        if (type == "event" || m.user_id.empty())
          return platform_ack{200, ""}; // entering the app, menus...: not messages
        if (!m.message_id.empty() && !self->state.seen.first_time(m.message_id))
          return platform_ack{200, ""};
        auto media = xml_element(*plain, "MediaId");
        if (type == "text") {
          m.segments.push_back(text_segment(xml_element(*plain, "Content")));
        } else if (type == "image") {
          auto url = xml_element(*plain, "PicUrl");
          m.segments.push_back(segment(segment_kind::image, url.empty() ? media : url));
        } else if (type == "voice") { // with speech recognition on, its words come along
          m.segments.push_back(segment(segment_kind::voice, media));
          m.segments.push_back(text_segment(xml_element(*plain, "Recognition")));
        } else if (type == "video") {
          m.segments.push_back(segment(segment_kind::video, media));
        } else {
          m.segments.push_back(segment(segment_kind::unknown, {}, type));
        }
        auto user = m.user_id;
        self->state.streams.deliver(
            self, services, b, m, addressing{}, "WeCom: " + user, [&] { return reply_to(user); },
            "I'm " + b.name +
                ". Send me a message and I answer. /reset starts a new conversation.");
        return platform_ack{200, ""};
      },
      [self, cfg, services](fetch_atom, outbound_request& req) -> caf::result<outbound_response> {
        auto rp = self->make_response_promise<outbound_response>();
        self->state.token.with(
            self, services.http, [self, cfg, services, rp, req](const std::string* token) mutable {
              if (token == nullptr) {
                rp.deliver(outbound_response{0, {}, "no access_token"});
                return;
              }
              req.url = cfg.api + req.url + "?access_token=" + *token;
              self->request(services.http, caf::infinite, fetch_atom::value, std::move(req))
                  .then([rp](outbound_response& res) mutable { rp.deliver(std::move(res)); },
                        [rp](caf::error& err) mutable {
                          rp.deliver(outbound_response{0, {}, describe(err).message});
                        });
            });
        return rp;
      },
      [self, services](stream_event& ev) { self->state.streams.on_event(self, services, ev); },
  };
}

} // namespace

std::string wecom_signature(std::string_view token, std::string_view timestamp,
                            std::string_view nonce, std::string_view encrypted) {
  std::array<std::string_view, 4> parts{token, timestamp, nonce, encrypted};
  std::sort(parts.begin(), parts.end());
  std::string joined;
  for (auto p : parts)
    joined += p;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), digest);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

std::optional<std::string> wecom_decrypt(std::string_view encoding_aes_key,
                                         std::string_view corp_id, std::string_view encrypted) {
  auto b64_key = std::string{encoding_aes_key} + "=";
  unsigned char key[32];
  size_t key_len = 0;
  if (sodium_base642bin(key, sizeof(key), b64_key.data(), b64_key.size(), nullptr, &key_len,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      key_len != 32)
    return std::nullopt;
  std::string raw(encrypted.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), encrypted.data(),
                        encrypted.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len == 0 || len % 16 != 0)
    return std::nullopt;
  std::string out(len, '\0');
  int n = 0;
  int tail = 0;
  auto* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr)
    return std::nullopt;
  // PKCS#7 to 32-byte blocks: removed below, not by OpenSSL (which pads to 16).
  bool ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), nullptr, key, key) == 1 &&
            EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
            EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &n,
                              reinterpret_cast<const unsigned char*>(raw.data()),
                              static_cast<int>(len)) == 1 &&
            EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + n, &tail) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok)
    return std::nullopt;
  out.resize(static_cast<size_t>(n + tail));
  if (out.empty())
    return std::nullopt;
  auto pad = static_cast<unsigned char>(out.back());
  if (pad < 1 || pad > 32 || pad > out.size())
    return std::nullopt;
  out.resize(out.size() - pad);
  if (out.size() < 20)
    return std::nullopt;
  uint32_t msg_len = (static_cast<uint32_t>(static_cast<unsigned char>(out[16])) << 24) |
                     (static_cast<uint32_t>(static_cast<unsigned char>(out[17])) << 16) |
                     (static_cast<uint32_t>(static_cast<unsigned char>(out[18])) << 8) |
                     static_cast<uint32_t>(static_cast<unsigned char>(out[19]));
  if (20 + static_cast<size_t>(msg_len) > out.size())
    return std::nullopt;
  if (std::string_view{out}.substr(20 + msg_len) != corp_id)
    return std::nullopt; // meant for another corporation
  return out.substr(20, msg_len);
}

std::string xml_element(std::string_view xml, std::string_view tag) {
  auto open = "<" + std::string{tag} + ">";
  auto close = "</" + std::string{tag} + ">";
  auto start = xml.find(open);
  if (start == std::string_view::npos)
    return {};
  start += open.size();
  auto end = xml.find(close, start);
  if (end == std::string_view::npos)
    return {};
  auto inner = xml.substr(start, end - start);
  constexpr std::string_view cdata_open = "<![CDATA[";
  constexpr std::string_view cdata_close = "]]>";
  if (inner.starts_with(cdata_open) && inner.ends_with(cdata_close))
    return std::string{
        inner.substr(cdata_open.size(), inner.size() - cdata_open.size() - cdata_close.size())};
  return std::string{inner};
}

caf::expected<adapter_actor> spawn_wecom_adapter(caf::actor_system& sys, const bot& b,
                                                 const platform_services& services) {
  auto doc = platform_config(b);
  if (!doc)
    return std::move(doc.error());
  settings cfg;
  cfg.corp_id = scalar_text(doc->find("corp_id"));
  cfg.agent_id = scalar_text(doc->find("agent_id"));
  cfg.secret = scalar_text(doc->find("secret"));
  cfg.token = scalar_text(doc->find("token"));
  cfg.aes_key = scalar_text(doc->find("encoding_aes_key"));
  for (auto [value, name] :
       {std::pair{&cfg.corp_id, "corp_id"}, std::pair{&cfg.agent_id, "agent_id"},
        std::pair{&cfg.secret, "secret"}, std::pair{&cfg.token, "token"}})
    if (value->empty() || value->find_first_of("&?# ") != std::string::npos)
      return api_error(errc::validation_error,
                       std::string{"platform_config."} + name + " is required (the app's page)",
                       std::string{"platform_config."} + name, "required");
  unsigned char key[32];
  size_t key_len = 0;
  auto padded = cfg.aes_key + "=";
  if (cfg.aes_key.size() != 43 ||
      sodium_base642bin(key, sizeof(key), padded.data(), padded.size(), nullptr, &key_len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      key_len != 32)
    return api_error(errc::validation_error,
                     "platform_config.encoding_aes_key must be the app's 43-character "
                     "EncodingAESKey",
                     "platform_config.encoding_aes_key", "invalid");
  auto api = api_base_url(*doc, "https://qyapi.weixin.qq.com");
  if (!api)
    return std::move(api.error());
  cfg.api = std::move(*api);
  return sys.spawn(adapter_impl, b, cfg, services);
}

} // namespace chatagent::adapters
