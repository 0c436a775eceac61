#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace chatagent::config {

/// Everything `chatagent serve` can be configured with. Each field is one configuration
/// key: `key = value` in the TOML file and `CHATAGENT_<KEY>` in the environment.
struct server_config {
  // Network
  std::string host = "127.0.0.1";
  int64_t port = 8000;
  int64_t io_threads = 2;
  int64_t worker_threads = 0; // 0: the cores io_threads leave, at least one
  int64_t max_connections = 10000;
  int64_t malloc_arenas = 2;        // glibc builds (no jemalloc); 0: glibc's default, 8 per core
  int64_t memory_trim_seconds = 10; // give freed heap memory back to the system; 0: never
  int64_t max_body_bytes = 1 << 20;
  int64_t max_upload_bytes = 32 << 20; // multipart/form-data bodies (document uploads)
  int64_t max_header_bytes = 16 << 10;
  int64_t ws_queue_messages = 1024; // a WebSocket client this far behind is disconnected
  int64_t read_timeout_seconds = 30;
  int64_t idle_timeout_seconds = 60;
  int64_t shutdown_timeout_seconds = 10;
  int64_t request_timeout_seconds = 10; // for an answer from the actors
  // Storage
  std::string data_dir = "./data";
  int64_t storage_write_rate_mb = 64;  // RocksDB's flushes and compactions, MiB/s; 0: no limit
  int64_t storage_wal_limit_mb = 1024; // RocksDB's write-ahead log at most, MiB
  // Logging
  std::string log_level = "info";
  // Authentication
  std::string jwt_secret; // empty: generated once into <data_dir>/jwt_secret
  int64_t jwt_ttl_seconds = 3600;
  int64_t password_hash_opslimit = 2;         // libsodium's "interactive" argon2id
  int64_t password_hash_memlimit_kib = 65536; // 64 MiB
  std::string admin_username;
  std::string admin_password;
  // Conversations and language models
  int64_t conversation_idle_seconds = 300; // a conversation idle this long leaves memory
  int64_t llm_timeout_seconds = 120;       // for one whole completion
  int64_t question_commit_delay_ms = 50;   // a question waits this long to share its answer's write
  // Plugins (LLM tools)
  int64_t plugin_timeout_ms = 10000;           // one tool call
  int64_t plugins_allow_private_network = 0;   // 1: plugins may call loopback/private addresses
  int64_t platforms_allow_private_network = 0; // 1: platform adapters may too
  int64_t tool_rounds = 5;                     // tool-call rounds per answer before it must answer
  // Knowledge bases
  int64_t knowledge_clusters_from = 50000; // chunks from which searches scan clusters; 0: never
  int64_t knowledge_cluster_probes = 0;    // clusters a search scans; 0: chosen by size
  // Rate limits, requests per minute
  int64_t rate_limit_user = 100;
  int64_t rate_limit_premium = 1000;
  int64_t rate_limit_enterprise = 10000;
  int64_t rate_limit_anonymous = 100;
};

/// What the command line sets; it wins over the file and the environment.
struct command_line {
  std::optional<std::string> host;
  std::optional<int64_t> port;
  std::optional<std::string> data_dir;
  std::optional<std::string> config_file;
};

/// Looks up an environment variable; nullptr when unset.
using env_lookup = std::function<const char*(const char*)>;

/// Builds the configuration: built-in defaults, overridden by `CHATAGENT_*` environment
/// variables, overridden by the TOML file (`--config`), overridden by flags. On failure
/// returns nullopt and sets `error` to a one-line reason.
std::optional<server_config> load(const command_line& cli, const env_lookup& env,
                                  std::string& error);

/// One line per configuration key: name, environment variable, default. For `--help`.
std::vector<std::string> describe_keys();

} // namespace chatagent::config
