// The chatagent executable: parses the command line, loads the configuration and wires the
// actor system, storage, actors and the HTTP front end together.

#include "actors/account_actor.hpp"
#include "actors/chat_services.hpp"
#include "adapters/adapters.hpp"
#include "app/heap.hpp"
#include "config/config.hpp"
#include "http/api.hpp"
#include "http/server.hpp"
#include "http/ws_dialer.hpp"
#include "protocol/type_ids.hpp"
#include "storage/chat_store.hpp"
#include "storage/kv_store.hpp"
#include "storage/secret_file.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <memory>
#include <poll.h>
#include <pthread.h>
#include <thread>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#ifndef CHATAGENT_VERSION
#define CHATAGENT_VERSION "0.0.0"
#endif

namespace {

using namespace chatagent;

// SIGINT and SIGTERM stop the server: whichever thread the kernel hands one to (main while
// it waits, or a thread a library started before `main`, like OpenBLAS's, which blocks
// nothing) writes its number here, and main reads it. Without a handler, a signal taken
// by such a thread would kill the process instead of shutting it down.
int stop_pipe[2] = {-1, -1};

extern "C" void stop_signal(int sig) {
  auto saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] auto n = ::write(stop_pipe[1], &b, 1);
  errno = saved;
}

int die(const std::string& reason) {
  std::fprintf(stderr, "chatagent: %s\n", reason.c_str());
  return 1;
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("chatagent");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

int serve(const config::command_line& cli) {
  // Before any thread of ours starts (RocksDB's start when the database opens): they
  // inherit the blocked signals, so that none is interrupted by one; main unblocks them
  // once it waits. A signal that comes during the start-up is kept in the pipe (see
  // `stop_signal`) and stops the server once it is up.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (::pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    return die(std::string{"pipe: "} + std::strerror(errno));
  struct sigaction action {};
  action.sa_handler = stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  std::string error;
  auto loaded = config::load(
      cli, [](const char* name) { return std::getenv(name); }, error);
  if (!loaded)
    return die(error);
  const auto& cfg = *loaded;
  chatagent::app::configure_heap(cfg.malloc_arenas); // before any thread starts
  setup_logging(cfg.log_level);

  if (auto err = storage::ensure_directory(cfg.data_dir))
    return die(protocol::describe(err).message);
  auto db =
      storage::kv_store::open(cfg.data_dir, {cfg.storage_write_rate_mb, cfg.storage_wal_limit_mb});
  if (!db)
    return die(protocol::describe(db.error()).message);
  std::string secret = cfg.jwt_secret;
  if (secret.empty()) {
    auto path = (std::filesystem::path{cfg.data_dir} / "jwt_secret").string();
    auto loaded_secret = storage::load_or_create_secret(path);
    if (!loaded_secret)
      return die(protocol::describe(loaded_secret.error()).message);
    secret = std::move(*loaded_secret);
  }

  caf::actor_system_config caf_cfg;
  caf_cfg.add_message_types<caf::id_block::chatagent>();
  // By default the scheduler gets the cores the I/O threads leave (at least one): more
  // threads than cores only adds context switches between them.
  auto cores = static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  auto workers =
      cfg.worker_threads > 0 ? cfg.worker_threads : std::max<int64_t>(1, cores - cfg.io_threads);
  caf_cfg.set("scheduler.max-threads", static_cast<size_t>(workers));
  // Declared before the actor system so that it is destroyed after it: actors (WebSocket
  // connections) may hold sessions until the system is gone, and a session must not
  // outlive the server's io_contexts.
  std::unique_ptr<http::server> server;
  std::unique_ptr<http::ws_dialer> dialer; // outgoing platform WebSockets: the same
  caf::actor_system sys{caf_cfg};
  dialer = std::make_unique<http::ws_dialer>(sys, cfg.platforms_allow_private_network == 0);

  actors::account_settings accounts_cfg;
  accounts_cfg.hashing.opslimit = static_cast<unsigned long long>(cfg.password_hash_opslimit);
  accounts_cfg.hashing.memlimit_bytes = static_cast<size_t>(cfg.password_hash_memlimit_kib) << 10;
  accounts_cfg.hash_workers = std::max<size_t>(2, std::thread::hardware_concurrency());
  auto accounts = actors::spawn_account_actor(sys, *db, accounts_cfg);
  actors::chat_settings chat_cfg;
  chat_cfg.conversation_idle = std::chrono::seconds(cfg.conversation_idle_seconds);
  chat_cfg.llm_timeout = std::chrono::seconds(cfg.llm_timeout_seconds);
  chat_cfg.question_delay = std::chrono::milliseconds(cfg.question_commit_delay_ms);
  chat_cfg.plugins.timeout = std::chrono::milliseconds(cfg.plugin_timeout_ms);
  chat_cfg.plugins.allow_private_network = cfg.plugins_allow_private_network != 0;
  chat_cfg.platforms_allow_private_network = cfg.platforms_allow_private_network != 0;
  chat_cfg.tool_rounds = cfg.tool_rounds;
  chat_cfg.knowledge_index.approximate_from = static_cast<size_t>(cfg.knowledge_clusters_from);
  chat_cfg.knowledge_index.probes = static_cast<size_t>(cfg.knowledge_cluster_probes);
  auto chat = actors::spawn_chat_services(sys, std::make_shared<storage::chat_store>(*db), chat_cfg,
                                          adapters::make_adapter_factory(dialer->actor()));
  if (!chat) {
    caf::anon_send_exit(accounts, caf::exit_reason::user_shutdown);
    dialer->stop();
    return die("cannot load the bots: " + protocol::describe(chat.error()).message);
  }
  auto shutdown_actors = [&] {
    chat->stop();
    caf::anon_send_exit(accounts, caf::exit_reason::user_shutdown);
    dialer->stop();
  };

  if (!cfg.admin_username.empty()) {
    caf::scoped_actor self{sys};
    std::string failure;
    self->request(accounts, std::chrono::seconds(60), protocol::bootstrap_atom::value,
                  cfg.admin_username, cfg.admin_password)
        .receive(
            [&](protocol::user& u) { spdlog::info("admin account '{}' is ready", u.username); },
            [&](caf::error& err) { failure = protocol::describe(err).message; });
    if (!failure.empty()) {
      shutdown_actors();
      return die("cannot set up the admin account: " + failure);
    }
  }

  http::api_settings api_cfg;
  api_cfg.limits = {cfg.rate_limit_user, cfg.rate_limit_premium, cfg.rate_limit_enterprise,
                    cfg.rate_limit_anonymous};
  api_cfg.version = CHATAGENT_VERSION;
  api_cfg.actor_timeout = std::chrono::seconds(cfg.request_timeout_seconds);
  // A sent message waits for the whole answer of the language model.
  api_cfg.llm_timeout = std::chrono::seconds(cfg.llm_timeout_seconds + cfg.request_timeout_seconds);
  http::api api{
      sys,
      http::services{accounts, chat->bots, chat->conversations, chat->knowledge, chat->plugins},
      http::token_service{secret, cfg.jwt_ttl_seconds}, api_cfg};

  http::server_settings net_cfg;
  net_cfg.host = cfg.host;
  net_cfg.port = static_cast<uint16_t>(cfg.port);
  net_cfg.io_threads = static_cast<size_t>(cfg.io_threads);
  net_cfg.max_connections = static_cast<size_t>(cfg.max_connections);
  net_cfg.max_body_bytes = static_cast<size_t>(cfg.max_body_bytes);
  net_cfg.max_upload_bytes = static_cast<size_t>(cfg.max_upload_bytes);
  net_cfg.max_header_bytes = static_cast<size_t>(cfg.max_header_bytes);
  net_cfg.ws_queue_messages = static_cast<size_t>(cfg.ws_queue_messages);
  net_cfg.read_timeout = std::chrono::seconds(cfg.read_timeout_seconds);
  net_cfg.idle_timeout = std::chrono::seconds(cfg.idle_timeout_seconds);
  net_cfg.shutdown_timeout = std::chrono::seconds(cfg.shutdown_timeout_seconds);
  server = std::make_unique<http::server>(net_cfg, api);
  if (!server->start(error)) {
    api.shutdown();
    shutdown_actors();
    return die(error);
  }
  auto shown_host = cfg.host.find(':') != std::string::npos ? "[" + cfg.host + "]" : cfg.host;
  spdlog::info("chatagent {} data in {}", CHATAGENT_VERSION,
               std::filesystem::absolute(cfg.data_dir).lexically_normal().string());
  spdlog::info("heap allocator: {}", chatagent::app::heap_allocator());
  spdlog::info("listening on http://{}:{}", shown_host, server->port());

  // The main thread waits for a signal, and meanwhile gives the heap's free pages back to
  // the system when a lot of memory was freed: bursts (thousands of handshakes at once, a
  // large upload) leave free memory between live blocks that the allocator keeps
  // otherwise, so RSS would follow the peak instead of what is in use.
  chatagent::app::heap_trimmer trimmer;
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
  int sig = 0;
  for (;;) {
    pollfd wait{stop_pipe[0], POLLIN, 0};
    int timeout =
        cfg.memory_trim_seconds == 0 ? -1 : static_cast<int>(cfg.memory_trim_seconds * 1000);
    if (::poll(&wait, 1, timeout) > 0) {
      unsigned char got = 0;
      if (::read(stop_pipe[0], &got, 1) == 1) {
        sig = got;
        break;
      }
    }
    if (cfg.memory_trim_seconds == 0)
      continue;
    auto started = std::chrono::steady_clock::now();
    if (auto freed = trimmer.tick(); freed > 0)
      spdlog::debug("gave the free heap memory back ({} MiB free) in {} us", freed >> 20,
                    std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count());
  }
  spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  server->stop();
  api.shutdown();
  shutdown_actors();
  // ~actor_system waits for every actor; the database closes when its last owner goes.
  spdlog::info("stopped");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ChatAgent: LLM chat bots on instant-messaging platforms"};
  app.set_version_flag("--version", std::string{"chatagent "} + CHATAGENT_VERSION);
  app.require_subcommand(1);
  config::command_line cli;
  auto* serve_cmd = app.add_subcommand("serve", "Run the API server");
  serve_cmd->add_option_function<std::string>(
      "--host", [&](const std::string& v) { cli.host = v; }, "Address to listen on (127.0.0.1)");
  serve_cmd->add_option_function<int64_t>(
      "--port", [&](const int64_t& v) { cli.port = v; }, "TCP port (8000); 0 picks a free port");
  serve_cmd->add_option_function<std::string>(
      "--data-dir", [&](const std::string& v) { cli.data_dir = v; }, "Data directory (./data)");
  serve_cmd
      ->add_option_function<std::string>(
          "--config", [&](const std::string& v) { cli.config_file = v; }, "TOML configuration file")
      ->check(CLI::ExistingFile);
  std::string keys = "\nConfiguration keys (TOML file key, environment variable, default):\n";
  for (auto& line : config::describe_keys())
    keys += "  " + line + "\n";
  serve_cmd->footer(keys);
  CLI11_PARSE(app, argc, argv);
  if (serve_cmd->parsed())
    return serve(cli);
  return 0;
}
