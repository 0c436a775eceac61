#pragma once

// Readers of request-body members shared by the API's JSON codecs: each validates one
// member and answers VALIDATION_ERROR naming the field (`llm_config.temperature`) and why.
// An absent or null member leaves the output alone.

#include "protocol/json.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>

namespace chatagent::protocol::fields {

/// VALIDATION_ERROR "<field> <reason>".
caf::error bad(std::string field, std::string reason);

/// VALIDATION_ERROR "<field> must be <expected>, not <type of v>".
caf::error wrong_type(const std::string& field, const json_value& v, std::string_view expected);

/// A string member of `min` to `max` code points, valid UTF-8, no control characters but
/// newlines and tabs. `present` tells whether it was sent.
caf::error read_text(const json_value& obj, std::string_view name, const std::string& field,
                     size_t min, size_t max, std::string& out, bool& present);
caf::error read_text(const json_value& obj, std::string_view name, const std::string& field,
                     size_t min, size_t max, std::string& out);

/// An object member merged into the object text `out`: members set to null are removed.
/// At most `max_bytes` of JSON in all.
caf::error merge_object(const json_value& obj, std::string_view name, const std::string& field,
                        size_t max_bytes, std::string& out);

/// An object member that replaces the object text `out` as a whole.
caf::error read_object(const json_value& obj, std::string_view name, const std::string& field,
                       size_t max_bytes, std::string& out);

/// An array of 1–128 character strings, at most `max_entries`, duplicates dropped.
caf::error read_id_list(const json_value& obj, std::string_view name, size_t max_entries,
                        std::vector<std::string>& out);

caf::error read_number(const json_value& obj, std::string_view name, const std::string& field,
                       double min, double max, double& out);

caf::error read_integer(const json_value& obj, std::string_view name, const std::string& field,
                        int64_t min, int64_t max, int64_t& out);

caf::error read_bool(const json_value& obj, std::string_view name, const std::string& field,
                     bool& out);

} // namespace chatagent::protocol::fields
