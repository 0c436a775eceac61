#pragma once

// What the fake servers of the tests share: writing HTTP answers to a socket.

#include <string>

namespace chatagent::test {

/// Writes all of `s` to socket `fd`; false when the peer is gone.
bool send_all(int fd, const std::string& s);

/// An HTTP/1.1 answer with `status` ("200 OK") and a JSON `body`.
bool send_json(int fd, const std::string& status, const std::string& body);

} // namespace chatagent::test
