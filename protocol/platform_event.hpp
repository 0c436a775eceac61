#pragma once

// What a platform sends to the server, and what the server answers it.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace chatagent::protocol {

using frame_atom = caf::atom_constant<caf::atom("frame")>;
using hangup_atom = caf::atom_constant<caf::atom("hangup")>;

/// A platform's WebSocket connection to the server (`GET /api/v1/webhooks/{bot_id}` with
/// an upgrade), as its adapter sees it:
/// - `frame_atom, text`: sends a text frame;
/// - `hangup_atom, reason`: closes the connection: normal closure with `reason`, or the
///   close code `reason` starts with ("4000 reconnecting").
using platform_peer_actor = caf::typed_actor<caf::reacts_to<frame_atom, std::string>,
                                             caf::reacts_to<hangup_atom, std::string>>;

/// What a platform did to the server, raw: the adapter authenticates and reads it.
struct platform_event {
  enum kind_t : uint8_t {
    callback, // an HTTP callback (`POST|GET /api/v1/webhooks/{bot_id}`)
    ws_open,  // a WebSocket upgrade request: `headers`, `peer`; accepted with status 101
    ws_text,  // a text frame of `peer`: `body`
    ws_close, // `peer` is gone; `body`: "<close code> <reason>" (1006: no close frame)
  };
  uint8_t kind = callback;
  std::string method = "POST"; // callback: GET for platforms that verify the URL so
  std::string query;           // callback, ws_open: the URL's query string, raw
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers; // names as sent
  platform_peer_actor peer;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, platform_event& x) {
  return f(caf::meta::type_name("platform_event"), x.kind, x.method, x.query, x.body, x.headers,
           x.peer);
}

/// What the server answers the platform.
struct platform_ack {
  int64_t status = 200;
  std::string body = "{}";
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, platform_ack& x) {
  return f(caf::meta::type_name("platform_ack"), x.status, x.body);
}

using inbound_atom = caf::atom_constant<caf::atom("inbound")>;

} // namespace chatagent::protocol
