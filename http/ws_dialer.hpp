#pragma once

// Outgoing WebSocket connections (ws:// and wss://) for platform adapters, on one I/O
// thread of their own (Boost.Beast; its headers stay in ws_dialer.cpp).

#include "protocol/platform.hpp"

#include <memory>

#include <caf/fwd.hpp>

namespace chatagent::http {

/// Owns the I/O thread and the TLS context; `actor()` dials (see
/// `protocol::ws_dialer_actor`). Destroy it after the actor system (connections may be
/// held by actors until then); `stop()` first.
class ws_dialer {
 public:
  /// With `public_only`, loopback and private network addresses are refused (the URLs are
  /// users' choice: against SSRF).
  ws_dialer(caf::actor_system& sys, bool public_only);
  ~ws_dialer();
  ws_dialer(const ws_dialer&) = delete;
  ws_dialer& operator=(const ws_dialer&) = delete;

  protocol::ws_dialer_actor actor() const;

  /// Closes every connection and joins the I/O thread.
  void stop();

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

} // namespace chatagent::http
