#include "protocol/time.hpp"

#include <chrono>
#include <ctime>

namespace chatagent::protocol {

int64_t now_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string format_time(int64_t ms) {
  using namespace std::chrono;
  // Every response and record carries times: the civil date by arithmetic, not through
  // gmtime_r and strftime's format parsing. Years outside 1000-9999, which strftime
  // writes with other than four digits, take the long way.
  int64_t secs = ms / 1000;
  auto day = floor<days>(sys_seconds{seconds{secs}});
  year_month_day ymd{day};
  int y = static_cast<int>(ymd.year());
  if (y < 1000 || y > 9999) {
    auto t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[48];
    auto n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string{buf, n};
  }
  auto tod = secs - int64_t{day.time_since_epoch().count()} * 86400; // 0..86399
  char buf[] = "0000-00-00T00:00:00Z";
  auto put = [&buf](size_t at, int64_t v, int digits) {
    for (int i = digits - 1; i >= 0; --i, v /= 10)
      buf[at + static_cast<size_t>(i)] = static_cast<char>('0' + v % 10);
  };
  put(0, y, 4);
  put(5, static_cast<unsigned>(ymd.month()), 2);
  put(8, static_cast<unsigned>(ymd.day()), 2);
  put(11, tod / 3600, 2);
  put(14, tod / 60 % 60, 2);
  put(17, tod % 60, 2);
  return std::string{buf, sizeof(buf) - 1};
}

} // namespace chatagent::protocol
