#include "protocol/error.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace chatagent::protocol {

namespace {

struct code_entry {
  std::string_view name;
  unsigned status;
};

code_entry entry(errc code) noexcept {
  switch (code) {
  case errc::none:
    return {"OK", 200};
  case errc::validation_error:
    return {"VALIDATION_ERROR", 400};
  case errc::unauthorized:
    return {"UNAUTHORIZED", 401};
  case errc::forbidden:
    return {"FORBIDDEN", 403};
  case errc::not_found:
    return {"NOT_FOUND", 404};
  case errc::method_not_allowed:
    return {"METHOD_NOT_ALLOWED", 405};
  case errc::duplicate_resource:
    return {"DUPLICATE_RESOURCE", 409};
  case errc::payload_too_large:
    return {"PAYLOAD_TOO_LARGE", 413};
  case errc::unsupported_media_type:
    return {"UNSUPPORTED_MEDIA_TYPE", 415};
  case errc::header_too_large:
    return {"HEADER_TOO_LARGE", 431};
  case errc::rate_limit_exceeded:
    return {"RATE_LIMIT_EXCEEDED", 429};
  case errc::internal_error:
    return {"INTERNAL_ERROR", 500};
  case errc::service_unavailable:
    return {"SERVICE_UNAVAILABLE", 503};
  case errc::request_timeout:
    return {"REQUEST_TIMEOUT", 408};
  case errc::bad_gateway:
    return {"BAD_GATEWAY", 502};
  case errc::gateway_timeout:
    return {"GATEWAY_TIMEOUT", 504};
  }
  return {"INTERNAL_ERROR", 500};
}

const caf::atom_value our_category = caf::atom("chatagent");

} // namespace

std::string_view code_name(errc code) noexcept {
  return entry(code).name;
}

unsigned http_status(errc code) noexcept {
  return entry(code).status;
}

caf::error api_error(errc code, std::string message, std::string field, std::string reason) {
  return caf::error{static_cast<uint8_t>(code), our_category,
                    caf::make_message(std::move(message), std::move(field), std::move(reason))};
}

error_info describe(const caf::error& err) {
  error_info info;
  if (err.category() == our_category) {
    info.code = static_cast<errc>(err.code());
    const auto& ctx = err.context();
    if (ctx.match_elements<std::string, std::string, std::string>()) {
      info.message = ctx.get_as<std::string>(0);
      info.field = ctx.get_as<std::string>(1);
      info.reason = ctx.get_as<std::string>(2);
    }
    if (info.message.empty())
      info.message = std::string{code_name(info.code)};
    return info;
  }
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
    case caf::sec::request_timeout:
      info.code = errc::service_unavailable;
      info.message = "the service did not answer in time";
      return info;
    case caf::sec::request_receiver_down:
      info.code = errc::service_unavailable;
      info.message = "the service is shutting down or unavailable";
      return info;
    default:
      break;
    }
  }
  info.code = errc::internal_error;
  info.message = "internal error";
  return info;
}

} // namespace chatagent::protocol
