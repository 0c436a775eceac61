#include "adapters/inbound.hpp"

#include "adapters/adapters.hpp"
#include "protocol/chat_json.hpp"
#include "protocol/json.hpp"

#include <utility>

namespace chatagent::adapters {

using namespace protocol;

namespace {

const char* kind_name(segment_kind kind) {
  switch (kind) {
  case segment_kind::image:
    return "image";
  case segment_kind::voice:
    return "voice";
  case segment_kind::video:
    return "video";
  case segment_kind::file:
    return "file";
  default:
    return nullptr;
  }
}

} // namespace

segment_kind kind_of_mime(std::string_view mime) {
  if (mime.starts_with("image/"))
    return segment_kind::image;
  if (mime.starts_with("audio/"))
    return segment_kind::voice;
  if (mime.starts_with("video/"))
    return segment_kind::video;
  return segment_kind::file;
}

message_segment text_segment(std::string words) {
  return segment(segment_kind::text, {}, std::move(words));
}

message_segment segment(segment_kind kind, std::string ref, std::string text) {
  message_segment s;
  s.kind = kind;
  s.ref = std::move(ref);
  s.text = std::move(text);
  return s;
}

reading read_message(const inbound_message& m, const addressing& a) {
  reading r;
  bool mentioned = false;
  bool replied = false;
  for (auto& s : m.segments) {
    bool me = !a.self_id.empty() && s.ref == a.self_id;
    switch (s.kind) {
    case segment_kind::text:
      r.text += s.text;
      break;
    case segment_kind::mention:
      if (me)
        mentioned = true;
      else
        (r.text += '@') += s.text.empty() ? s.ref : s.text;
      break;
    case segment_kind::mention_all:
      r.text += "@all";
      break;
    case segment_kind::quote:
      replied = replied || me;
      break;
    default:
      if (auto kind = kind_name(s.kind); kind != nullptr && !s.ref.empty())
        r.attachments.push_back((std::string{kind} += ':') += s.ref);
    }
  }
  r.text = trimmed(r.text);
  bool prefixed = !a.prefix.empty() && r.text.starts_with(a.prefix);
  if (prefixed)
    r.text = trimmed(std::string_view{r.text}.substr(a.prefix.size()));
  r.addressed = !m.group || mentioned || replied || prefixed;
  if (r.text.size() > chat_limits::content_max) { // cut before a character
    auto cut = chat_limits::content_max;
    while (cut > 0 && (static_cast<unsigned char>(r.text[cut]) & 0xC0) == 0x80)
      --cut;
    r.text.resize(cut);
  }
  return r;
}

std::string message_metadata(const inbound_message& m, const reading& r,
                             const std::string& event_id) {
  json_writer w;
  w.begin_object()
      .member("platform", m.platform)
      .member("platform_message_id", m.message_id)
      .member("platform_user_id", m.user_id);
  if (!m.user_name.empty())
    w.member("platform_user_name", m.user_name);
  w.member("chat_type", m.group ? "group" : "private");
  if (!event_id.empty())
    w.member("event_id", event_id);
  bool any_mention = false;
  for (auto& s : m.segments) {
    if (s.kind == segment_kind::quote && !s.text.empty())
      w.member("reply_to", s.text);
    any_mention = any_mention || s.kind == segment_kind::mention;
  }
  if (any_mention) {
    w.key("mentions").begin_array();
    for (auto& s : m.segments)
      if (s.kind == segment_kind::mention)
        w.value(s.ref);
    w.end_array();
  }
  if (!r.attachments.empty()) {
    w.key("attachments").begin_array();
    for (auto& at : r.attachments)
      w.value(at);
    w.end_array();
  }
  w.end_object();
  return w.take();
}

std::vector<message_segment> markup_segments(std::string_view text) {
  std::vector<message_segment> out;
  std::string words;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "<@") == 0) {
      auto end = text.find('>', i);
      auto id =
          end == std::string_view::npos ? std::string_view{} : text.substr(i + 2, end - i - 2);
      if (id.starts_with('!') || id.starts_with('&'))
        id.remove_prefix(1);
      auto bar = id.find('|');
      auto name = bar == std::string_view::npos ? std::string_view{} : id.substr(bar + 1);
      id = id.substr(0, bar);
      if (!id.empty() && id.find_first_of(" <@") == std::string_view::npos) {
        if (!words.empty())
          out.push_back(text_segment(std::exchange(words, {})));
        out.push_back(segment(segment_kind::mention, std::string{id}, std::string{name}));
        i = end + 1;
        continue;
      }
    }
    words.push_back(text[i++]);
  }
  if (!words.empty())
    out.push_back(text_segment(std::move(words)));
  return out;
}

std::vector<message_segment> token_segments(std::vector<message_segment> segments,
                                            std::string_view token, const std::string& id,
                                            const std::string& name) {
  if (token.empty())
    return segments;
  std::vector<message_segment> out;
  for (auto& s : segments) {
    if (s.kind != segment_kind::text) {
      out.push_back(std::move(s));
      continue;
    }
    std::string_view text = s.text;
    for (size_t p; (p = text.find(token)) != std::string_view::npos;) {
      if (p > 0)
        out.push_back(text_segment(std::string{text.substr(0, p)}));
      out.push_back(segment(segment_kind::mention, id, name));
      text.remove_prefix(p + token.size());
    }
    if (!text.empty())
      out.push_back(text_segment(std::string{text}));
  }
  return out;
}

} // namespace chatagent::adapters
