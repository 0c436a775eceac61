#include "actors/http_client_actor.hpp"

#include "actors/http_engine.hpp"

#include <algorithm>
#include <charconv>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

namespace chatagent::actors {

using namespace protocol;

namespace {

using done_atom = caf::atom_constant<caf::atom("done")>;

using client_impl_actor =
    http_client_actor::extend<caf::reacts_to<done_atom, int64_t, outbound_response>>;

struct client_state {
  client_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  std::unordered_map<int64_t, caf::typed_response_promise<outbound_response>> pending;
  int64_t next_id = 0;
};

client_impl_actor::behavior_type client_impl(client_impl_actor::stateful_pointer<client_state> self,
                                             std::shared_ptr<http_engine> engine,
                                             bool public_only) {
  return {
      [self, engine, public_only](fetch_atom,
                                  outbound_request& req) -> caf::result<outbound_response> {
        auto id = ++self->state.next_id;
        auto rp = self->make_response_promise<outbound_response>();
        self->state.pending.emplace(id, rp);
        auto got = std::make_shared<outbound_response>();
        http_call c;
        c.method = std::move(req.method);
        c.url = std::move(req.url);
        c.headers = std::move(req.headers);
        c.body = std::move(req.body);
        c.timeout = std::chrono::milliseconds(std::max<int64_t>(100, req.timeout_ms));
        c.connect_timeout = std::min(c.timeout, c.connect_timeout);
        c.public_addresses_only = public_only;
        c.on_status = [got](long status) { got->status = status; };
        c.on_header = [got](std::string_view name, std::string_view value) {
          // Seconds (the HTTP-date form is rare from APIs and taken as absent).
          if (name.size() != 11 || !std::equal(name.begin(), name.end(), "retry-after",
                                               [](char a, char b) { return (a | 0x20) == b; }))
            return;
          int64_t s = 0;
          auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
          if (ec == std::errc{} && end == value.data() + value.size() && s >= 0)
            got->retry_after_ms = std::min<int64_t>(s, 86400) * 1000;
        };
        c.on_data = [got](std::string_view bytes) {
          got->body.append(bytes);
          return got->body.size() < (1u << 20);
        };
        auto me = caf::actor_cast<caf::actor>(self);
        c.on_done = [got, me, id](long status, const std::string& error, bool) {
          if (status != 0)
            got->status = status;
          if (!error.empty()) {
            got->status = 0;
            got->error = error;
          }
          caf::anon_send(me, done_atom::value, id, std::move(*got));
        };
        engine->submit(std::move(c));
        return rp;
      },
      [self](done_atom, int64_t id, outbound_response& res) {
        auto i = self->state.pending.find(id);
        if (i == self->state.pending.end())
          return;
        i->second.deliver(std::move(res));
        self->state.pending.erase(i);
      },
  };
}

} // namespace

http_client_actor spawn_http_client(caf::actor_system& sys, std::shared_ptr<http_engine> engine,
                                    bool public_only) {
  return sys.spawn(client_impl, std::move(engine), public_only);
}

} // namespace chatagent::actors
