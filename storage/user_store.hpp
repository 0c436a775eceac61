#pragma once

#include "protocol/types.hpp"

#include <memory>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace chatagent::storage {

class kv_store;

/// A user as stored: the API view plus the password hash, which never leaves storage and
/// the accounts actor.
struct user_record {
  protocol::user info;
  std::string password_hash;
};

/// Encodes a record as the JSON document stored under `users/<id>`.
std::string encode(const user_record& rec);

/// Decodes a stored record; INTERNAL_ERROR when the bytes are not a record.
caf::expected<user_record> decode_user(std::string_view bytes);

/// Users and their unique, case-insensitive username and email indexes.
/// Not synchronized: one owner (the accounts actor) serializes creates and updates, which
/// is what makes the uniqueness check and the insert atomic.
class user_store {
 public:
  explicit user_store(std::shared_ptr<kv_store> db) : db_(std::move(db)) {}

  caf::expected<user_record> find_by_id(const protocol::user_id& id) const;
  caf::expected<user_record> find_by_username(std::string_view username) const;
  caf::expected<user_record> find_by_email(std::string_view email) const;

  /// DUPLICATE_RESOURCE (with the field) when the username or the email is taken, ignoring
  /// case; none when both are free.
  caf::error check_available(std::string_view username, std::string_view email) const;

  /// Inserts a new user after `check_available`.
  caf::error create(const user_record& rec);

  /// Replaces an existing user's record; username and email keep their index entries.
  caf::error update(const user_record& rec);

 private:
  std::shared_ptr<kv_store> db_;
};

} // namespace chatagent::storage
