// The fake LLM provider of the tests as a process, for load runs: OpenAI-compatible (and
// Anthropic, Ollama) streaming on 127.0.0.1, answering at once. Prints
// "listening on PORT" and runs until SIGINT or SIGTERM.

#include "support/fake_llm_server.hpp"

#include <csignal>
#include <cstdio>
#include <pthread.h>

int main() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  chatagent::test::fake_llm_server server{false};
  std::printf("listening on %u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  return 0;
}
