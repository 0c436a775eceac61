#pragma once

// The server's heap: jemalloc in release builds (`CHATAGENT_JEMALLOC`, the default when
// not sanitizing), glibc's malloc otherwise. Threads hand buffers to each other on every
// request (a body parsed on an I/O thread is freed on an actor's, a write batch built by
// an actor is freed by the store writer); glibc's arenas take a lock for each such free
// once its per-thread cache is full, and under load those locks were most of the server's
// futex calls. jemalloc's thread caches flush in batches instead.

#include <cstddef>
#include <cstdint>
#include <string>

namespace chatagent::app {

/// "jemalloc 5.3.0-0-g…" or "glibc malloc", for the startup log.
std::string heap_allocator();

/// Before any thread starts. glibc: at most `arenas` arenas (0: glibc's default of 8 per
/// core); fewer arenas fragment less. jemalloc sizes its arenas itself (`MALLOC_CONF`).
void configure_heap(int64_t arenas);

/// Gives freed heap memory back to the system after bursts: run every few seconds, it
/// returns the free pages once 4 MiB or more have piled up since the last time (glibc:
/// `malloc_trim`, which walks every free block; jemalloc: a purge of its dirty pages).
class heap_trimmer {
 public:
  heap_trimmer();

  /// Returns the free pages when enough piled up; the bytes it found free, 0 otherwise.
  size_t tick();

 private:
  size_t free_low_ = 0; // glibc: the least free memory seen since the last trim
};

} // namespace chatagent::app
