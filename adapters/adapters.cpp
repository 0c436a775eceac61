#include "adapters/adapters.hpp"

#include "adapters/telegram/telegram_adapter.hpp"
#include "adapters/webhook/webhook_adapter.hpp"
#include "protocol/error.hpp"

#include <spdlog/spdlog.h>

namespace chatagent::adapters {

using namespace protocol;

std::string scalar_text(const json_value* v) {
  if (v == nullptr)
    return {};
  if (v->is_string())
    return v->as_string();
  if (v->is_integer())
    return std::to_string(v->as_int());
  return {};
}

adapter_factory make_adapter_factory() {
  return [](caf::actor_system& sys, const bot& b,
            const platform_services& services) -> caf::expected<adapter_actor> {
    if (b.platform_type == "web")
      return adapter_actor{};
    if (b.platform_type == "webhook")
      return spawn_webhook_adapter(sys, b, services);
    if (b.platform_type == "telegram")
      return spawn_telegram_adapter(sys, b, services);
    // Not connected yet: the bot runs (the API can use it) but stays offline.
    spdlog::warn("bot {}: the {} platform has no adapter in this version yet; the bot runs "
                 "offline",
                 b.id.value, b.platform_type);
    return adapter_actor{};
  };
}

} // namespace chatagent::adapters
