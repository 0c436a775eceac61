#pragma once

// Platform adapters: how a started bot lives on an instant-messaging platform, and the
// outgoing HTTP calls adapters make.

#include "protocol/chat_api.hpp"
#include "protocol/platform_event.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace chatagent::protocol {

// -- outgoing HTTP ----------------------------------------------------------------------

/// An HTTP request an adapter (or another actor) wants made.
struct outbound_request {
  std::string method = "POST";
  std::string url;
  std::vector<std::string> headers; // "Name: value"
  std::string body;
  int64_t timeout_ms = 10000;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outbound_request& x) {
  return f(caf::meta::type_name("outbound_request"), x.method, x.url, x.headers, x.body,
           x.timeout_ms);
}

/// Its answer: `status` 0 and `error` set when there was none.
struct outbound_response {
  int64_t status = 0;
  std::string body;
  std::string error;
  int64_t retry_after_ms = 0; // the `Retry-After` header (seconds) when given
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outbound_response& x) {
  return f(caf::meta::type_name("outbound_response"), x.status, x.body, x.error, x.retry_after_ms);
}

using fetch_atom = caf::atom_constant<caf::atom("fetch")>;

/// Makes HTTP requests without a thread per request (libcurl's multi interface).
/// - `fetch_atom, outbound_request` → the response (never an error: see `error`).
using http_client_actor =
    caf::typed_actor<caf::replies_to<fetch_atom, outbound_request>::with<outbound_response>>;

// -- adapters ---------------------------------------------------------------------------

/// The adapter of one running bot: it turns platform events into messages of the bot's
/// conversations (one conversation per platform chat) and the answers back into platform
/// calls; it never talks to a model itself.
/// - `inbound_atom, platform_event` → the answer to give the platform.
using adapter_actor =
    caf::typed_actor<caf::replies_to<inbound_atom, platform_event>::with<platform_ack>>;

using dial_atom = caf::atom_constant<caf::atom("dial")>;

/// Opens WebSocket connections for adapters whose platform they connect to (Discord's
/// gateway, a OneBot implementation's forward WebSocket).
/// - `dial_atom, url, headers, owner` → the connection once its handshake succeeded
///   (`url` is ws:// or wss://, certificates verified; `headers` are "Name: value"). The
///   owner gets each text frame as `inbound_atom, platform_event` (`ws_text`, `peer` the
///   connection) and `ws_close` once when it ends. It ends at `hangup_atom` or when the
///   owner does.
using ws_dialer_actor =
    caf::typed_actor<caf::replies_to<dial_atom, std::string, std::vector<std::string>,
                                     adapter_actor>::with<platform_peer_actor>>;

/// What adapters work with.
struct platform_services {
  conversation_manager_actor conversations;
  http_client_actor http;
  bot_manager_actor bots;    // for `online_atom` and `activity_atom` (errors on the platform)
  ws_dialer_actor websocket; // set by the adapter factory
};

/// Starts the adapter of `b` (its `platform_type`, `platform_config`); an invalid
/// `platform_config` is a VALIDATION_ERROR naming the field. `web` bots have none: the API
/// is their platform (an invalid actor handle is returned).
using adapter_factory = std::function<caf::expected<adapter_actor>(caf::actor_system&, const bot&,
                                                                   const platform_services&)>;

} // namespace chatagent::protocol
