#include "protocol/address.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstdint>
#include <cstring>
#include <string>

namespace chatagent::protocol {

bool is_public_ipv4(const unsigned char* a) {
  auto in = [&](unsigned net0, unsigned net1, int bits) {
    uint32_t addr = (uint32_t{a[0]} << 24) | (uint32_t{a[1]} << 16) | (uint32_t{a[2]} << 8) | a[3];
    uint32_t net = (net0 << 24) | (net1 << 16);
    uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
    return (addr & mask) == (net & mask);
  };
  return !(in(0, 0, 8) || in(10, 0, 8) || in(100, 64, 10) || in(127, 0, 8) || in(169, 254, 16) ||
           in(172, 16, 12) || in(192, 168, 16) || (a[0] == 192 && a[1] == 0 && a[2] == 0) ||
           in(198, 18, 15) || in(224, 0, 4) || in(240, 0, 4));
}

bool is_public_ipv6(const unsigned char* a) {
  static constexpr unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(a, mapped, 12) == 0 || std::memcmp(a, nat64, 12) == 0)
    return is_public_ipv4(a + 12);
  bool zero_prefix = std::all_of(a, a + 15, [](unsigned char c) { return c == 0; });
  if (zero_prefix) // :: and ::1
    return false;
  if ((a[0] & 0xfe) == 0xfc) // unique local fc00::/7
    return false;
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) // link-local fe80::/10
    return false;
  if (a[0] == 0xff) // multicast
    return false;
  return true;
}

bool is_public_ip(std::string_view ip) {
  std::string text{ip};
  unsigned char buf[16];
  if (::inet_pton(AF_INET, text.c_str(), buf) == 1)
    return is_public_ipv4(buf);
  if (::inet_pton(AF_INET6, text.c_str(), buf) == 1)
    return is_public_ipv6(buf);
  return false;
}

} // namespace chatagent::protocol
