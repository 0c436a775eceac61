#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace chatagent::test {

/// A temporary directory removed with everything in it at destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

using env_list = std::vector<std::pair<std::string, std::string>>;

/// The real `chatagent serve` binary in a child process, on an ephemeral loopback port.
/// Password hashing is set to libsodium's minimum cost unless the environment given says
/// otherwise, to keep tests quick.
class server_process {
 public:
  /// `data_dir` empty: a fresh temporary directory owned by this object.
  explicit server_process(env_list env = {}, std::string data_dir = {},
                          std::vector<std::string> extra_args = {});
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  /// Starts the server and waits for its `listening on http://HOST:PORT` line. False when
  /// the process exited first (see `log()` and `exit_code()`).
  bool start();

  /// Sends `sig` and waits for the exit; returns the exit code (128 + n for a signal).
  int stop(int sig = 15);

  /// SIGKILL, as a crash would.
  void kill9() { stop(9); }

  bool running() const noexcept { return pid_ > 0; }
  int exit_code() const noexcept { return exit_code_; }
  uint16_t port() const noexcept { return port_; }
  std::string base_url() const;
  const std::string& data_dir() const noexcept { return data_dir_; }
  std::string log() const;

 private:
  env_list env_;
  std::vector<std::string> args_;
  temp_dir own_dir_;
  std::string data_dir_;
  std::string log_path_;
  int pid_ = -1;
  int exit_code_ = -1;
  uint16_t port_ = 0;
};

/// Runs the chatagent binary with `args` until it exits (at most 60 s); returns the exit
/// code and everything it printed.
std::pair<int, std::string> run_chatagent(const std::vector<std::string>& args,
                                          const env_list& env = {});

/// The path of the binary under test.
std::string chatagent_binary();

} // namespace chatagent::test
