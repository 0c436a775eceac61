#include "config/config.hpp"

#include <charconv>
#include <variant>

#include <toml++/toml.h>

namespace chatagent::config {

namespace {

using string_field = std::string server_config::*;
using int_field = int64_t server_config::*;

struct key_spec {
  const char* name;
  std::variant<string_field, int_field> field;
  int64_t min = 0;
  int64_t max = 0;
  const char* help = "";
};

const std::vector<key_spec>& keys() {
  using c = server_config;
  static const std::vector<key_spec> table{
      {"host", &c::host, 0, 0, "address to listen on"},
      {"port", &c::port, 0, 65535, "TCP port; 0 picks a free one"},
      {"io_threads", &c::io_threads, 1, 64, "HTTP I/O threads"},
      {"worker_threads", &c::worker_threads, 0, 256,
       "actor scheduler threads; 0: the cores left by io_threads, at least 1"},
      {"max_connections", &c::max_connections, 1, 1000000, "open client connections at most"},
      {"malloc_arenas", &c::malloc_arenas, 0, 1024,
       "glibc malloc arenas, for builds without jemalloc; fewer fragment less memory; 0: "
       "glibc's default (8 per core)"},
      {"memory_trim_seconds", &c::memory_trim_seconds, 0, 86400,
       "how often freed heap memory goes back to the system once 4 MiB piled up; 0: never"},
      {"max_body_bytes", &c::max_body_bytes, 1024, 1LL << 32, "request body limit"},
      {"max_upload_bytes", &c::max_upload_bytes, 1024, 1LL << 34,
       "multipart/form-data (file upload) body limit"},
      {"max_header_bytes", &c::max_header_bytes, 1024, 1 << 20, "request header limit"},
      {"ws_queue_messages", &c::ws_queue_messages, 1, 1000000,
       "WebSocket messages waiting for a slow client before it is disconnected"},
      {"read_timeout_seconds", &c::read_timeout_seconds, 1, 3600, "time to send a request body"},
      {"idle_timeout_seconds", &c::idle_timeout_seconds, 1, 86400, "keep-alive idle time"},
      {"shutdown_timeout_seconds", &c::shutdown_timeout_seconds, 0, 3600,
       "wait for in-flight requests at shutdown"},
      {"request_timeout_seconds", &c::request_timeout_seconds, 1, 3600,
       "wait for the actors' answer, then 503"},
      {"data_dir", &c::data_dir, 0, 0, "where RocksDB and secrets live"},
      {"storage_write_rate_mb", &c::storage_write_rate_mb, 0, 1 << 20,
       "MiB/s that RocksDB's memtable flushes and compactions may write at most (a flush then "
       "slows requests less while it runs, compaction gets less room); 0: no limit"},
      {"storage_wal_limit_mb", &c::storage_wal_limit_mb, 16, 1 << 20,
       "MiB of RocksDB write-ahead log kept at most (beyond it, data held only in the log is "
       "flushed; a restart replays at most this much)"},
      {"log_level", &c::log_level, 0, 0, "trace, debug, info, warn, error or off"},
      {"jwt_secret", &c::jwt_secret, 0, 0,
       "HS256 signing secret (>= 32 bytes); generated if empty"},
      {"jwt_ttl_seconds", &c::jwt_ttl_seconds, 60, 30LL * 86400, "access token lifetime"},
      {"password_hash_opslimit", &c::password_hash_opslimit, 1, 64, "argon2id passes"},
      {"password_hash_memlimit_kib", &c::password_hash_memlimit_kib, 8, 4 << 20,
       "argon2id memory in KiB"},
      {"admin_username", &c::admin_username, 0, 0, "admin created (or reset) at start"},
      {"admin_password", &c::admin_password, 0, 0, "that admin's password"},
      {"conversation_idle_seconds", &c::conversation_idle_seconds, 1, 86400,
       "an idle conversation leaves memory after this long (it stays stored)"},
      {"llm_timeout_seconds", &c::llm_timeout_seconds, 1, 3600,
       "time for a language model to finish one answer"},
      {"question_commit_delay_ms", &c::question_commit_delay_ms, 0, 10000,
       "a user's message is stored together with its answer when the answer comes this soon, "
       "else alone after this long; 0: stored on arrival, in a write of its own"},
      {"plugin_timeout_ms", &c::plugin_timeout_ms, 100, 600000,
       "time for one plugin (tool) call, network included"},
      {"plugins_allow_private_network", &c::plugins_allow_private_network, 0, 1,
       "1: plugins may call loopback and private network addresses (0: refused, against SSRF)"},
      {"platforms_allow_private_network", &c::platforms_allow_private_network, 0, 1,
       "1: platform adapters may call and connect to loopback and private network addresses "
       "(0: refused, against SSRF)"},
      {"tool_rounds", &c::tool_rounds, 0, 50,
       "rounds of tool calls a model may make for one answer; 0: bots get no tools"},
      {"knowledge_clusters_from", &c::knowledge_clusters_from, 0, 1LL << 40,
       "a knowledge base this large (chunks) is searched by clusters (approximate); 0: never"},
      {"knowledge_cluster_probes", &c::knowledge_cluster_probes, 0, 1 << 20,
       "clusters one search scans; 0: chosen by the base's size"},
      {"rate_limit_user", &c::rate_limit_user, 1, 100000000, "requests/minute for role user"},
      {"rate_limit_premium", &c::rate_limit_premium, 1, 100000000, "requests/minute, premium"},
      {"rate_limit_enterprise", &c::rate_limit_enterprise, 1, 100000000,
       "requests/minute, enterprise and admin"},
      {"rate_limit_anonymous", &c::rate_limit_anonymous, 1, 100000000,
       "requests/minute per client address without a token"},
  };
  return table;
}

std::string env_name(const char* key) {
  std::string out = "CHATAGENT_";
  for (const char* p = key; *p; ++p)
    out.push_back(*p >= 'a' && *p <= 'z' ? static_cast<char>(*p - 'a' + 'A') : *p);
  return out;
}

bool set_from_text(server_config& cfg, const key_spec& spec, std::string_view text,
                   const std::string& origin, std::string& error) {
  if (auto sf = std::get_if<string_field>(&spec.field)) {
    cfg.*(*sf) = std::string{text};
    return true;
  }
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size()) {
    error = origin + ": '" + std::string{text} + "' is not a whole number";
    return false;
  }
  cfg.*std::get<int_field>(spec.field) = v;
  return true;
}

bool apply_file(server_config& cfg, const std::string& path, std::string& error) {
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    auto src = e.source();
    error = "config file " + path + ": " + std::string{e.description()} + " at line " +
            std::to_string(src.begin.line);
    return false;
  }
  for (auto& [k, node] : tbl) {
    const key_spec* spec = nullptr;
    for (auto& s : keys())
      if (k.str() == s.name)
        spec = &s;
    auto origin = "config file " + path + ": key '" + std::string{k.str()} + "'";
    if (spec == nullptr) {
      error = origin + " is unknown";
      return false;
    }
    if (auto sf = std::get_if<string_field>(&spec->field)) {
      auto s = node.value<std::string>();
      if (!s || !node.is_string()) {
        error = origin + " must be a string";
        return false;
      }
      cfg.*(*sf) = *s;
    } else {
      if (!node.is_integer()) {
        error = origin + " must be an integer";
        return false;
      }
      cfg.*std::get<int_field>(spec->field) = *node.value<int64_t>();
    }
  }
  return true;
}

bool validate(const server_config& cfg, std::string& error) {
  for (auto& spec : keys()) {
    if (auto f = std::get_if<int_field>(&spec.field)) {
      auto v = cfg.*(*f);
      if (v < spec.min || v > spec.max) {
        error = std::string{"configuration key '"} + spec.name + "' must be between " +
                std::to_string(spec.min) + " and " + std::to_string(spec.max) + ", got " +
                std::to_string(v);
        return false;
      }
    }
  }
  if (cfg.host.empty()) {
    error = "configuration key 'host' must not be empty";
    return false;
  }
  if (cfg.data_dir.empty()) {
    error = "configuration key 'data_dir' must not be empty";
    return false;
  }
  static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
  bool known = false;
  for (auto l : levels)
    known = known || cfg.log_level == l;
  if (!known) {
    error = "configuration key 'log_level' must be one of trace, debug, info, warn, error, off";
    return false;
  }
  if (!cfg.jwt_secret.empty() && cfg.jwt_secret.size() < 32) {
    error = "configuration key 'jwt_secret' must be at least 32 bytes long";
    return false;
  }
  if (cfg.admin_username.empty() != cfg.admin_password.empty()) {
    error = "admin_username and admin_password must be set together";
    return false;
  }
  return true;
}

} // namespace

std::optional<server_config> load(const command_line& cli, const env_lookup& env,
                                  std::string& error) {
  server_config cfg;
  for (auto& spec : keys()) {
    auto name = env_name(spec.name);
    if (const char* value = env(name.c_str()); value != nullptr)
      if (!set_from_text(cfg, spec, value, "environment variable " + name, error))
        return std::nullopt;
  }
  if (cli.config_file && !apply_file(cfg, *cli.config_file, error))
    return std::nullopt;
  if (cli.host)
    cfg.host = *cli.host;
  if (cli.port)
    cfg.port = *cli.port;
  if (cli.data_dir)
    cfg.data_dir = *cli.data_dir;
  if (!validate(cfg, error))
    return std::nullopt;
  return cfg;
}

std::vector<std::string> describe_keys() {
  std::vector<std::string> out;
  server_config defaults;
  for (auto& spec : keys()) {
    std::string def;
    if (auto sf = std::get_if<string_field>(&spec.field))
      def = defaults.*(*sf);
    else
      def = std::to_string(defaults.*std::get<int_field>(spec.field));
    out.push_back(std::string{spec.name} + " (" + env_name(spec.name) + ", default '" + def +
                  "'): " + spec.help);
  }
  return out;
}

} // namespace chatagent::config
