#include "actors/llm_providers.hpp"

#include "actors/local_model.hpp"
#include "protocol/error.hpp"
#include "protocol/time.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace chatagent::actors {

using namespace protocol;

namespace {

/// The `local` provider: answers at once, streamed in word-sized chunks.
llm_actor::behavior_type local_provider_impl(llm_actor::pointer self, int) {
  return {
      [self](generate_atom, const llm_request& req) {
        llm_result res;
        res.content = local_model::answer(req, now_ms());
        res.finish_reason = "stop";
        for (auto& t : req.turns)
          res.prompt_tokens += local_model::count_tokens(t.content);
        res.completion_tokens = local_model::count_tokens(res.content);
        auto to = caf::actor_cast<caf::actor>(self->current_sender());
        if (to) {
          int64_t index = 0;
          for (auto& piece : local_model::pieces(res.content))
            caf::anon_send(to, llm_chunk{++index, std::move(piece)});
        }
        return res;
      },
  };
}

} // namespace

llm_providers::llm_providers(caf::actor_system& sys) : local_(sys.spawn(local_provider_impl, 0)) {}

caf::actor llm_providers::local_actor() const {
  return caf::actor_cast<caf::actor>(local_);
}

caf::expected<llm_actor> llm_providers::select(const llm_config& config) const {
  if (config.provider == "local")
    return local_;
  return api_error(errc::service_unavailable,
                   "the " + config.provider +
                       " provider is not available in this build yet; use \"local\"");
}

} // namespace chatagent::actors
