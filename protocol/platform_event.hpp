#pragma once

// What a platform sends to the server, and what the server answers it.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

namespace chatagent::protocol {

/// A callback a platform made to the server (`POST /api/v1/webhooks/{bot_id}`), raw: the
/// adapter authenticates and reads it.
struct platform_event {
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers; // names as sent
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, platform_event& x) {
  return f(caf::meta::type_name("platform_event"), x.body, x.headers);
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
