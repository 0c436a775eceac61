#include "app/heap.hpp"

#include <algorithm>

#ifdef CHATAGENT_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#else
#include <malloc.h>
#endif

namespace chatagent::app {

namespace {

// Free memory is given back once this much piled up: less is not worth a trim (glibc's
// walks every free block) or the page faults of reusing purged pages.
constexpr size_t trim_step = size_t{4} << 20;

} // namespace

#ifdef CHATAGENT_WITH_JEMALLOC

} // namespace chatagent::app

// jemalloc's defaults, read when it initializes (before `main`); `MALLOC_CONF` in the
// environment overrides them. Its background threads return unused pages (dirty for 5 s)
// off the request threads, which would otherwise do it as they allocate.
extern "C" {
const char* malloc_conf =
    "background_thread:true,max_background_threads:1,dirty_decay_ms:5000,muzzy_decay_ms:0";
}

namespace chatagent::app {

namespace {

template <class T>
T read_mallctl(const char* name) {
  T value{};
  size_t size = sizeof(value);
  if (mallctl(name, &value, &size, nullptr, 0) != 0)
    return T{};
  return value;
}

} // namespace

std::string heap_allocator() {
  auto version = read_mallctl<const char*>("version");
  return std::string{"jemalloc "} + (version ? version : "?");
}

void configure_heap(int64_t) {
  // jemalloc's arenas are set through MALLOC_CONF ("narenas:N"), before `main` runs.
}

heap_trimmer::heap_trimmer() = default;

size_t heap_trimmer::tick() {
  // Statistics are a snapshot taken when the epoch advances.
  uint64_t epoch = 1;
  size_t size = sizeof(epoch);
  mallctl("epoch", &epoch, &size, &epoch, sizeof(epoch));
  static const auto all = std::to_string(MALLCTL_ARENAS_ALL);
  static const auto dirty_pages = "stats.arenas." + all + ".pdirty";
  static const auto purge = "arena." + all + ".purge";
  auto dirty = read_mallctl<size_t>(dirty_pages.c_str()) * read_mallctl<size_t>("arenas.page");
  if (dirty < trim_step)
    return 0;
  mallctl(purge.c_str(), nullptr, nullptr, nullptr, 0);
  return dirty;
}

#else

std::string heap_allocator() {
  return "glibc malloc";
}

void configure_heap(int64_t arenas) {
  // Threads pick their arena on their first allocation: this must come before any starts.
  if (arenas > 0)
    mallopt(M_ARENA_MAX, static_cast<int>(arenas));
}

heap_trimmer::heap_trimmer() : free_low_(mallinfo2().fordblks) {}

size_t heap_trimmer::tick() {
  // `malloc_trim` walks every free block (~20 ms after 10,000 handshakes): it runs only
  // when the free memory grew by `trim_step` since its last low point.
  auto free_now = mallinfo2().fordblks;
  if (free_now < free_low_ + trim_step) {
    free_low_ = std::min(free_low_, free_now);
    return 0;
  }
  malloc_trim(0);
  free_low_ = free_now;
  return free_now;
}

#endif

} // namespace chatagent::app
