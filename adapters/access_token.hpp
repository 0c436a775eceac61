#pragma once

// An app's access token on a platform (Lark's tenant_access_token, WeCom's access_token):
// fetched when first needed, renewed five minutes before it expires; calls that need it
// meanwhile wait for the one request in flight.

#include "protocol/platform.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::adapters {

/// Part of an adapter's state.
class access_token {
 public:
  /// The token and its lifetime in seconds from the platform's answer; nullopt: refused.
  using parse_fn = std::function<std::optional<std::pair<std::string, int64_t>>(
      const protocol::outbound_response&)>;
  /// How the token is fetched (`fetch`) and read (`parse`) for bot `bot` of `platform`: a
  /// refusal sets the bot offline and counts in its `error_count`; the next token sets it
  /// online again.
  void setup(protocol::outbound_request fetch, parse_fn parse, protocol::bot_manager_actor bots,
             protocol::bot_id bot, std::string platform) {
    fetch_ = std::move(fetch);
    parse_ = std::move(parse);
    bots_ = std::move(bots);
    bot_ = std::move(bot);
    platform_ = std::move(platform);
  }

  /// Runs `then` with a valid token, or with nullptr when none could be had.
  template <class Self>
  void with(Self* self, const protocol::http_client_actor& http,
            std::function<void(const std::string*)> then) {
    if (!token_.empty() && std::chrono::steady_clock::now() < expiry_) {
      then(&token_);
      return;
    }
    waiting_.push_back(std::move(then));
    if (fetching_)
      return;
    fetching_ = true;
    self->request(http, caf::infinite, protocol::fetch_atom::value, fetch_)
        .then([this, self](protocol::outbound_response& res) {
          fetching_ = false;
          auto waiting = std::move(waiting_);
          waiting_.clear();
          auto got = parse_(res);
          if (got) {
            token_ = std::move(got->first);
            expiry_ = std::chrono::steady_clock::now() +
                      std::chrono::seconds(std::max<int64_t>(60, got->second - 300));
            if (refused_)
              self->send(bots_, protocol::online_atom::value, bot_, true);
            refused_ = false;
          } else {
            token_.clear();
            refused_ = true;
            self->send(bots_, protocol::online_atom::value, bot_, false);
            self->send(bots_, protocol::activity_atom::value, bot_, int64_t{0}, int64_t{1});
            spdlog::warn("bot {}: {} refused the app's credentials: {}", bot_.value, platform_,
                         res.status == 0 ? res.error : res.body.substr(0, 200));
          }
          for (auto& f : waiting)
            f(got ? &token_ : nullptr);
        });
  }

 private:
  protocol::outbound_request fetch_;
  parse_fn parse_;
  protocol::bot_manager_actor bots_;
  protocol::bot_id bot_;
  std::string platform_;
  bool refused_ = false; // the last fetch was refused
  std::string token_;
  std::chrono::steady_clock::time_point expiry_;
  bool fetching_ = false;
  std::vector<std::function<void(const std::string*)>> waiting_;
};

} // namespace chatagent::adapters
