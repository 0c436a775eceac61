#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace chatagent::protocol {

/// The API's error codes. Every failure that reaches a client is one of these; `http/`
/// maps each to its HTTP status and the spec's code string.
enum class errc : uint8_t {
  none = 0,
  validation_error,
  unauthorized,
  forbidden,
  not_found,
  method_not_allowed,
  duplicate_resource,
  payload_too_large,
  unsupported_media_type,
  header_too_large,
  rate_limit_exceeded,
  internal_error,
  service_unavailable,
  request_timeout,
  bad_gateway,     // an upstream service (an LLM provider) answered an error
  gateway_timeout, // an upstream service did not answer in time
};

/// The spec's code string for `code`, e.g. `VALIDATION_ERROR`.
std::string_view code_name(errc code) noexcept;

/// The HTTP status that answers `code`.
unsigned http_status(errc code) noexcept;

/// Creates an error for the API: `message` is for people, `field` and `reason` (optional)
/// become `error.details.field` and `error.details.reason`.
caf::error api_error(errc code, std::string message, std::string field = {},
                     std::string reason = {});

/// An error taken apart for rendering.
struct error_info {
  errc code = errc::internal_error;
  std::string message;
  std::string field;
  std::string reason;
};

/// Describes any error: ours keep their code and details; CAF's own (a request timeout,
/// a receiver that is gone) become `SERVICE_UNAVAILABLE`; anything else is internal.
error_info describe(const caf::error& err);

} // namespace chatagent::protocol

CAF_ERROR_CODE_ENUM(chatagent::protocol::errc, "chatagent")
