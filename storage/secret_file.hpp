#pragma once

#include <string>

#include <caf/expected.hpp>

namespace chatagent::storage {

/// Reads the secret kept in `path`, or creates it once: `bytes` random bytes, hex-encoded,
/// written with mode 0600 and synced before it is used. Fails when the file exists with
/// looser permissions than 0600 or is too short.
caf::expected<std::string> load_or_create_secret(const std::string& path, size_t bytes = 32);

/// Creates `dir` (and parents) with mode 0700 when missing.
caf::error ensure_directory(const std::string& dir);

} // namespace chatagent::storage
