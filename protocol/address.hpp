#pragma once

// Which network addresses are public: calls to URLs that users chose (plugins, platform
// APIs, webhooks) may be kept away from loopback and private networks (against SSRF).

#include <string_view>

namespace chatagent::protocol {

/// Whether the IPv4 address `a` (4 bytes, network order) is public unicast: not
/// unspecified, private, carrier-grade NAT, loopback, link-local, benchmarking, multicast
/// or reserved.
bool is_public_ipv4(const unsigned char* a);

/// Whether the IPv6 address `a` (16 bytes) is public unicast (IPv4-mapped and NAT64
/// addresses are judged by their IPv4 address).
bool is_public_ipv6(const unsigned char* a);

/// Whether `ip` (IPv4 or IPv6 text) is a public unicast address; false for anything else.
bool is_public_ip(std::string_view ip);

} // namespace chatagent::protocol
