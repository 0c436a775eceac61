#include "protocol/ids.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <random>

namespace chatagent::protocol {

namespace {

constexpr char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Per-thread generator seeded from the OS; ids need uniqueness, not secrecy.
std::mt19937_64& rng() {
  thread_local std::mt19937_64 gen{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64{seq};
  }()};
  return gen;
}

} // namespace

std::string make_ulid(std::string_view prefix) {
  using namespace std::chrono;
  auto ms = static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
  // 128 bits: 48 timestamp bits then 80 random bits.
  std::array<uint8_t, 16> bytes{};
  for (int i = 0; i < 6; ++i)
    bytes[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  auto r1 = rng()();
  auto r2 = rng()();
  for (int i = 0; i < 8; ++i)
    bytes[6 + i] = static_cast<uint8_t>(r1 >> (8 * i));
  for (int i = 0; i < 2; ++i)
    bytes[14 + i] = static_cast<uint8_t>(r2 >> (8 * i));
  // Encode 128 bits as 26 base32 characters (the first carries 3 bits).
  std::string out;
  out.reserve(prefix.size() + 26);
  out.append(prefix);
  // Character i holds bits [i*5 - 2, i*5 + 3) of the 128-bit big-endian number (the
  // first character only the top 3 bits).
  auto bit = [&](int pos) { return (bytes[pos / 8] >> (7 - pos % 8)) & 1; };
  for (int i = 0; i < 26; ++i) {
    unsigned v = 0;
    for (int pos = i * 5 - 2; pos < i * 5 + 3; ++pos)
      v = (v << 1) | (pos >= 0 ? static_cast<unsigned>(bit(pos)) : 0u);
    out.push_back(crockford[v]);
  }
  return out;
}

} // namespace chatagent::protocol
