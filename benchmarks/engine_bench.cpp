// The outgoing HTTP engine alone (libcurl's multi interface on its epoll thread) against
// the tests' fake OpenAI-compatible provider on loopback: a request of the size chatagent
// sends at steady state (~4 KB), its short SSE answer read to the end, a fixed number of
// transfers in flight. Reports transfers per second and the engine thread's CPU time per
// transfer (user + system, from /proc), the figure to compare libcurl settings by.
//
//   build/benchmarks/engine_bench [seconds] [in-flight ...]     (default: 3 8 64 256)

#include "actors/http_engine.hpp"
#include "support/fake_llm_server.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace chatagent;

namespace {

/// CPU seconds (user + system) of this process's threads named `name`.
double thread_cpu_seconds(const std::string& name) {
  double total = 0;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr)
    return 0;
  while (auto* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.')
      continue;
    std::string task = std::string{"/proc/self/task/"} + entry->d_name;
    std::string comm;
    std::getline(std::ifstream{task + "/comm"}, comm);
    if (comm != name)
      continue;
    std::string stat;
    std::getline(std::ifstream{task + "/stat"}, stat);
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    std::istringstream fields{stat.substr(stat.rfind(')') + 2)};
    std::string field;
    long ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i)
      if (i >= 14)
        ticks += std::stol(field);
    total += static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  ::closedir(dir);
  return total;
}

/// Keeps `in_flight` transfers running on `engine` until `stop`; counts the finished ones.
struct load {
  actors::http_engine& engine;
  std::string url;
  std::string body;
  std::atomic<long> finished{0};
  std::atomic<long> failed{0};
  std::atomic<long> running{0};
  std::atomic<bool> stop{false};

  void launch() {
    ++running;
    actors::http_call call;
    call.url = url;
    call.headers = {"Content-Type: application/json", "Authorization: Bearer sk-bench"};
    call.body = body;
    call.on_data = [](std::string_view) { return true; };
    call.on_done = [this](long status, const std::string& error, bool) {
      if (!error.empty() || status != 200)
        ++failed;
      ++finished;
      if (!stop)
        launch();
      --running; // last: once it is 0, nothing touches `this` any more
    };
    engine.submit(std::move(call));
  }
};

} // namespace

int main(int argc, char** argv) {
  int seconds = argc > 1 ? std::atoi(argv[1]) : 3;
  std::vector<int> levels;
  for (int i = 2; i < argc; ++i)
    levels.push_back(std::atoi(argv[i]));
  if (levels.empty())
    levels = {8, 64, 256};
  test::fake_llm_server provider{false};
  // The request chatagent sends at steady state in benchmarks/run-send.sh: the 100 recent
  // messages of a conversation (~4 KB).
  std::string body = R"({"model":"bench","stream":true,"messages":[)";
  for (int i = 0; i < 100; ++i)
    body += std::string{i == 0 ? "" : ","} +
            (i % 2 == 0 ? R"({"role":"user","content":"hello there"})"
                        : R"({"role":"assistant","content":"Echo: hello there"})");
  body += "]}";
  for (int in_flight : levels) {
    actors::http_engine engine;
    load l{engine, provider.url("/v1/chat/completions"), body};
    for (int i = 0; i < in_flight; ++i)
      l.launch();
    std::this_thread::sleep_for(std::chrono::seconds(1)); // connections open, caches warm
    long done0 = l.finished;
    double cpu0 = thread_cpu_seconds("chatagent.http");
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    long done1 = l.finished;
    double cpu1 = thread_cpu_seconds("chatagent.http");
    l.stop = true;
    while (l.running > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto n = static_cast<double>(done1 - done0);
    std::printf("%4d in flight: %8.0f transfers/s, engine thread %5.1f us CPU per transfer, %ld "
                "failed\n",
                in_flight, n / seconds, n > 0 ? (cpu1 - cpu0) * 1e6 / n : 0.0, l.failed.load());
    std::fflush(stdout);
  }
  return 0;
}
