#include "support/server_process.hpp"

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <signal.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace chatagent::test {

namespace fs = std::filesystem;

std::string chatagent_binary() {
  if (const char* p = std::getenv("CHATAGENT_BINARY"))
    return p;
  return CHATAGENT_BINARY;
}

temp_dir::temp_dir() {
  auto base = fs::temp_directory_path();
  std::random_device rd;
  for (;;) {
    auto candidate = base / ("chatagent-test-" + std::to_string(rd()));
    std::error_code ec;
    if (fs::create_directory(candidate, ec)) {
      path_ = candidate.string();
      return;
    }
  }
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {

int spawn(const std::vector<std::string>& args, const env_list& env, const std::string& log) {
  auto binary = chatagent_binary();
  int pid = ::fork();
  if (pid != 0)
    return pid;
  // Child: quick password hashing unless overridden, then the caller's environment.
  ::setenv("CHATAGENT_PASSWORD_HASH_OPSLIMIT", "1", 1);
  ::setenv("CHATAGENT_PASSWORD_HASH_MEMLIMIT_KIB", "8", 1);
  for (auto& [k, v] : env)
    ::setenv(k.c_str(), v.c_str(), 1);
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::close(fd);
  }
  std::vector<char*> argv;
  argv.push_back(binary.data());
  for (auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(binary.c_str(), argv.data());
  ::_exit(127);
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int decode_status(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return -1;
}

} // namespace

server_process::server_process(env_list env, std::string data_dir,
                               std::vector<std::string> extra_args)
    : env_(std::move(env)), args_(std::move(extra_args)) {
  data_dir_ = data_dir.empty() ? own_dir_.path() + "/data" : std::move(data_dir);
  log_path_ = own_dir_.path() + "/server.log";
}

server_process::~server_process() {
  if (running())
    stop(SIGKILL);
}

bool server_process::start() {
  std::vector<std::string> args{"serve",     "--port",     "0",      "--host",
                                "127.0.0.1", "--data-dir", data_dir_};
  args.insert(args.end(), args_.begin(), args_.end());
  pid_ = spawn(args, env_, log_path_);
  exit_code_ = -1;
  port_ = 0;
  // Generous bound for a loaded CI machine: a start that needs it is slow, not broken.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    auto text = read_file(log_path_);
    static const std::string marker = "listening on http://127.0.0.1:";
    if (auto pos = text.find(marker); pos != std::string::npos) {
      port_ = static_cast<uint16_t>(std::atoi(text.c_str() + pos + marker.size()));
      return port_ != 0;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = decode_status(status);
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop(SIGKILL);
  return false;
}

int server_process::stop(int sig) {
  if (!running())
    return exit_code_;
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  exit_code_ = decode_status(status);
  pid_ = -1;
  return exit_code_;
}

std::string server_process::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string server_process::log() const {
  return read_file(log_path_);
}

std::pair<int, std::string> run_chatagent(const std::vector<std::string>& args,
                                          const env_list& env) {
  temp_dir dir;
  auto log = dir.path() + "/out.log";
  int pid = spawn(args, env, log);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {decode_status(status), read_file(log)};
}

} // namespace chatagent::test
