#pragma once

#include <atomic>
#include <thread>

namespace chatagent::http {

/// A lock for critical sections of a lookup and a copy, taken by the I/O threads: a thread
/// that finds it held spins, then yields, instead of sleeping in the kernel as a
/// `std::mutex` waiter does (a sleep and a wake-up cost far more than such a wait; with one
/// busy client, both I/O threads want the same lock). Satisfies Lockable for
/// `std::lock_guard`.
class spin_lock {
 public:
  void lock() noexcept {
    for (int spins = 0;; ++spins) {
      if (!held_.load(std::memory_order_relaxed) &&
          !held_.exchange(true, std::memory_order_acquire))
        return;
      if (spins >= 64)
        std::this_thread::yield(); // the holder may have been preempted
      else
        pause();
    }
  }
  void unlock() noexcept { held_.store(false, std::memory_order_release); }

 private:
  static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
  }

  std::atomic<bool> held_{false};
};

} // namespace chatagent::http
