#include "http/api_impl.hpp"

namespace chatagent::http {

using namespace detail;

api::api(caf::actor_system& sys, services svc, token_service tokens, api_settings settings)
    : impl_(std::make_unique<impl>(sys, std::move(svc), std::move(tokens), std::move(settings))) {}

api::~api() {
  shutdown();
}

void api::handle(api_request req, responder done) {
  auto c = impl_->begin(std::move(req), std::move(done));
  impl_->dispatch(c);
}

void api::upgrade(api_request req, std::shared_ptr<ws_outlet> outlet, upgrade_responder done) {
  impl_->upgrade(std::move(req), std::move(outlet), std::move(done));
}

void api::reject(const api_request& req, errc code, std::string message, responder done) {
  auto c = impl_->begin(req, std::move(done));
  impl_->fail(c, code, std::move(message));
}

void api::shutdown() {
  // The bridges stay in the vector: a late request sends to a dead actor, whose message
  // is dropped together with its responder, instead of racing on the vector.
  if (impl_->stopped.exchange(true))
    return;
  for (auto* group : {&impl_->bridges, &impl_->hubs})
    for (auto& a : *group)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  // Their continuations point into this object: wait until none can run any more.
  caf::scoped_actor self{impl_->sys};
  self->wait_for(impl_->bridges);
  self->wait_for(impl_->hubs);
}

} // namespace chatagent::http
