#include "adapters/live_reply.hpp"

#include "protocol/json.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::adapters {

using namespace protocol;

namespace {

using show_atom = caf::atom_constant<caf::atom("show")>;

/// A part of the answer as a message on the platform.
struct shown_part {
  std::string id;
  std::string text;
  int edits = 0;
};

struct reply_state {
  reply_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  std::string text;        // the answer so far
  bool complete = false;
  bool busy = false; // a platform call is in flight or an edit is waiting for its turn
  std::vector<shown_part> shown;
  std::chrono::steady_clock::time_point last_call;
  int throttled = 0; // calls refused in a row for too many requests (HTTP 429)
};

constexpr int max_throttled = 6; // then the part is given up

/// `show_atom`: brings the platform's messages up to date with the answer.
using reply_actor = live_reply_actor::extend<caf::reacts_to<show_atom>>;

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

reply_actor::behavior_type reply_impl(reply_actor::stateful_pointer<reply_state> self,
                                      http_client_actor http, reply_surface surface) {
  // One step at a time, in order: post the first part not posted yet, or edit the first
  // one that shows something else (once `edit_interval` has passed since the last call).
  auto show = [self, http, surface] {
    auto& st = self->state;
    if (st.busy)
      return;
    auto parts = split_message(st.text, surface.max_bytes);
    if (st.complete && parts.empty())
      parts.emplace_back("(empty answer)");
    if (!st.complete && !parts.empty() && !surface.edit)
      parts.pop_back(); // still growing: sent once complete
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i == st.shown.size()) {
        st.busy = true;
        st.last_call = std::chrono::steady_clock::now();
        self->request(http, caf::infinite, fetch_atom::value, surface.post(parts[i], i))
            .then(
                [self, surface, text = parts[i]](outbound_response& res) {
                  auto& st = self->state;
                  if (res.status == 429 && st.throttled < max_throttled) {
                    // Rate-limited: posted again when the platform says (busy until then).
                    auto wait = retry_delay(res, st.throttled++);
                    spdlog::info("a platform asked to wait {} ms before posting", wait.count());
                    self->delayed_send(self, wait, show_atom::value);
                    return;
                  }
                  st.throttled = 0;
                  auto id = surface.posted_id(res);
                  if (id.empty()) {
                    auto why = res.status == 0 ? res.error
                                               : "HTTP " + std::to_string(res.status) + ": " +
                                                     res.body.substr(0, 200);
                    spdlog::warn("an answer could not be posted: {}", why);
                    if (surface.failed)
                      surface.failed(why);
                    self->quit();
                    return;
                  }
                  self->state.shown.push_back({std::move(id), text});
                  self->send(self, show_atom::value);
                },
                [self](caf::error&) { self->quit(); });
        return;
      }
      if (st.shown[i].text == parts[i] || !surface.edit)
        continue;
      // A part is final once the answer is complete or goes on in a later part.
      bool final_text = st.complete || i + 1 < parts.size();
      if (surface.max_edits > 0 && st.shown[i].edits + 1 >= surface.max_edits && !final_text)
        continue; // its last edit waits for its final text
      if (surface.max_edits > 0 && st.shown[i].edits >= surface.max_edits)
        continue;
      st.busy = true;
      auto wait = surface.edit_interval - std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now() - st.last_call);
      if (wait.count() > 0) { // platforms limit how often a message may change
        self->delayed_send(self, wait, show_atom::value);
        return;
      }
      st.last_call = std::chrono::steady_clock::now();
      // A failed edit is not retried (the message keeps what it showed) unless the
      // platform asked to wait.
      auto before = std::exchange(st.shown[i].text, parts[i]);
      ++st.shown[i].edits;
      self->request(http, caf::infinite, fetch_atom::value, surface.edit(st.shown[i].id, parts[i]))
          .then(
              [self, i, before](outbound_response& res) {
                auto& st = self->state;
                if (res.status == 429 && st.throttled < max_throttled) {
                  st.shown[i].text = before; // edited again after the wait
                  --st.shown[i].edits;
                  self->delayed_send(self, retry_delay(res, st.throttled++), show_atom::value);
                  return;
                }
                st.throttled = 0;
                self->send(self, show_atom::value);
              },
              [self](caf::error&) { self->send(self, show_atom::value); });
      return;
    }
    if (st.complete)
      self->quit();
  };
  return {
      [self, show](grow_atom, std::string& piece) {
        if (self->state.complete)
          return;
        self->state.text += piece;
        show();
      },
      [self, show](finish_atom, std::string& text) {
        self->state.text = std::move(text);
        self->state.complete = true;
        show();
      },
      [self, show](show_atom) {
        self->state.busy = false;
        show();
      },
  };
}

} // namespace

std::chrono::milliseconds retry_delay(const outbound_response& res, int attempt) {
  int64_t ms = res.retry_after_ms;
  if (ms <= 0)
    if (auto doc = parse_json(res.body); doc && doc->is_object()) {
      auto v = doc->find("retry_after"); // Discord: seconds, with a fraction
      if (auto p = doc->find("parameters"); v == nullptr && p && p->is_object())
        v = p->find("retry_after"); // Telegram
      if (v && v->is_number())
        ms = std::llround(v->as_double() * 1000);
    }
  if (ms <= 0)
    ms = int64_t{1000} << std::clamp(attempt, 0, 5);
  return std::chrono::milliseconds(std::clamp<int64_t>(ms, 100, 60000));
}

std::vector<std::string> split_message(std::string_view text, size_t max_bytes) {
  std::vector<std::string> out;
  max_bytes = std::max<size_t>(max_bytes, 16);
  text = trim(text);
  while (!text.empty()) {
    if (text.size() <= max_bytes) {
      out.emplace_back(text);
      break;
    }
    auto window = text.substr(0, max_bytes);
    size_t floor = max_bytes / 4; // a cut earlier than this leaves too short a message
    size_t cut = std::string_view::npos;
    // The best boundary: where it ends, the next part starts after it.
    auto last_after = [&](std::string_view sep) -> size_t {
      auto p = window.rfind(sep);
      return p == std::string_view::npos || p + sep.size() <= floor ? std::string_view::npos
                                                                    : p + sep.size();
    };
    static constexpr std::array<std::string_view, 2> breaks{"\n\n", "\n"};
    static constexpr std::array<std::string_view, 8> sentences{
        ". ", "! ", "? ", "\xE3\x80\x82", "\xEF\xBC\x81", "\xEF\xBC\x9F", "\xEF\xBC\x9B", "; "};
    for (auto sep : breaks)
      if (cut == std::string_view::npos)
        cut = last_after(sep);
    if (cut == std::string_view::npos) {
      for (auto sep : sentences) {
        auto p = last_after(sep);
        if (p != std::string_view::npos && (cut == std::string_view::npos || p > cut))
          cut = p;
      }
    }
    if (cut == std::string_view::npos)
      cut = last_after(" ");
    if (cut == std::string_view::npos) { // one long word: before a character
      cut = max_bytes;
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;
    }
    auto part = trim(text.substr(0, cut));
    if (!part.empty())
      out.emplace_back(part);
    text = trim(text.substr(cut));
  }
  return out;
}

live_reply_actor spawn_live_reply(caf::actor_system& sys, http_client_actor http,
                                  reply_surface surface) {
  return sys.spawn(reply_impl, std::move(http), std::move(surface));
}

} // namespace chatagent::adapters
