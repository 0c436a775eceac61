#pragma once

// multipart/form-data request bodies (RFC 7578), as file uploads send them.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chatagent::http {

/// One part of a form: a field, or a file when it has a file name.
struct form_part {
  std::string name;
  std::string filename;     // empty for plain fields
  std::string content_type; // as the client declared it; may be empty
  std::string_view body;    // points into the parsed request body
};

/// The boundary parameter of a `multipart/form-data` Content-Type; nullopt when the type
/// is another one or has no boundary.
std::optional<std::string> multipart_boundary(std::string_view content_type);

/// Splits `body` into its parts. On a malformed body returns nullopt and sets `error` to
/// the reason. `filename*=UTF-8''…` (RFC 5987) is decoded; `filename` is kept as sent
/// (browsers send UTF-8 there).
std::optional<std::vector<form_part>>
parse_multipart(std::string_view body, std::string_view boundary, std::string& error);

} // namespace chatagent::http
