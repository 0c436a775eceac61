#include "storage/user_store.hpp"

#include "protocol/error.hpp"
#include "protocol/json.hpp"
#include "protocol/validation.hpp"
#include "storage/kv_store.hpp"

namespace chatagent::storage {

using protocol::api_error;
using protocol::errc;

std::string encode(const user_record& rec) {
  const auto& u = rec.info;
  protocol::json_writer w;
  w.begin_object()
      .member("v", 1)
      .member("id", u.id.value)
      .member("username", u.username)
      .member("nickname", u.nickname)
      .member("email", u.email)
      .member("role", protocol::role_name(u.role))
      .member("is_active", u.is_active)
      .member("created_at_ms", u.created_at_ms)
      .member("updated_at_ms", u.updated_at_ms)
      .member("password_hash", rec.password_hash)
      .end_object();
  return w.take();
}

caf::expected<user_record> decode_user(std::string_view bytes) {
  auto doc = protocol::parse_json(bytes);
  if (!doc || !doc->is_object())
    return api_error(errc::internal_error, "corrupt user record");
  auto str = [&](const char* k) -> std::string {
    auto v = doc->find(k);
    return v && v->is_string() ? v->as_string() : std::string{};
  };
  auto num = [&](const char* k) -> int64_t {
    auto v = doc->find(k);
    return v && v->is_integer() ? v->as_int() : 0;
  };
  user_record rec;
  rec.info.id = protocol::user_id{str("id")};
  rec.info.username = str("username");
  rec.info.nickname = str("nickname");
  rec.info.email = str("email");
  rec.info.role = protocol::parse_role(str("role")).value_or(protocol::role::user);
  auto active = doc->find("is_active");
  rec.info.is_active = !active || !active->is_bool() || active->as_bool();
  rec.info.created_at_ms = num("created_at_ms");
  rec.info.updated_at_ms = num("updated_at_ms");
  rec.password_hash = str("password_hash");
  if (rec.info.id.empty() || rec.info.username.empty())
    return api_error(errc::internal_error, "corrupt user record");
  return rec;
}

caf::expected<user_record> user_store::find_by_id(const protocol::user_id& id) const {
  auto bytes = db_->get(family::users, id.value);
  if (!bytes)
    return std::move(bytes.error());
  return decode_user(*bytes);
}

namespace {

caf::expected<user_record> find_by_index(const kv_store& db, family index, std::string_view key) {
  auto id = db.get(index, protocol::to_lower_ascii(key));
  if (!id)
    return std::move(id.error());
  auto bytes = db.get(family::users, *id);
  if (!bytes)
    return std::move(bytes.error());
  return decode_user(*bytes);
}

bool is_not_found(const caf::error& err) {
  return err == errc::not_found;
}

} // namespace

caf::expected<user_record> user_store::find_by_username(std::string_view username) const {
  return find_by_index(*db_, family::user_names, username);
}

caf::expected<user_record> user_store::find_by_email(std::string_view email) const {
  return find_by_index(*db_, family::user_emails, email);
}

caf::error user_store::check_available(std::string_view username, std::string_view email) const {
  if (auto existing = db_->get(family::user_names, protocol::to_lower_ascii(username)); existing)
    return api_error(errc::duplicate_resource, "username is already taken", "username",
                     "already exists");
  else if (!is_not_found(existing.error()))
    return std::move(existing.error());
  if (auto existing = db_->get(family::user_emails, protocol::to_lower_ascii(email)); existing)
    return api_error(errc::duplicate_resource, "email is already registered", "email",
                     "already exists");
  else if (!is_not_found(existing.error()))
    return std::move(existing.error());
  return caf::none;
}

caf::error user_store::create(const user_record& rec) {
  if (auto err = check_available(rec.info.username, rec.info.email))
    return err;
  write_batch batch;
  batch.put(family::users, rec.info.id.value, encode(rec));
  batch.put(family::user_names, protocol::to_lower_ascii(rec.info.username), rec.info.id.value);
  batch.put(family::user_emails, protocol::to_lower_ascii(rec.info.email), rec.info.id.value);
  return db_->write(std::move(batch));
}

caf::error user_store::update(const user_record& rec) {
  write_batch batch;
  batch.put(family::users, rec.info.id.value, encode(rec));
  return db_->write(std::move(batch));
}

} // namespace chatagent::storage
