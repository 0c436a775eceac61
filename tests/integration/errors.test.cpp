#include "integration/fixture.hpp"

using namespace chatagent::test;

namespace {

class errors_test : public server_test {
 protected:
  env_list environment() override {
    return {{"CHATAGENT_MAX_BODY_BYTES", "4096"}, {"CHATAGENT_MAX_HEADER_BYTES", "2048"}};
  }
};

} // namespace

TEST_F(errors_test, unknown_route_is_404) {
  expect_error(get("/api/v1/nothing/here"), 404, "NOT_FOUND");
  expect_error(get("/"), 404, "NOT_FOUND");
}

TEST_F(errors_test, wrong_method_is_405_with_allow) {
  auto res = http_request("DELETE", url("/api/v1/auth/me"));
  expect_error(res, 405, "METHOD_NOT_ALLOWED");
  EXPECT_EQ(res.header("allow"), "GET");
  auto login = get("/api/v1/auth/login");
  expect_error(login, 405, "METHOD_NOT_ALLOWED");
  EXPECT_EQ(login.header("allow"), "POST");
}

TEST_F(errors_test, trailing_slash_reaches_the_same_endpoint) {
  EXPECT_EQ(get("/api/v1/health/").status, 200);
}

TEST_F(errors_test, body_over_the_limit_is_413) {
  std::string big(8192, 'x');
  auto body = R"({"username":")" + big + R"("})";
  // curl sends a small body at once...
  auto res = http_request("POST", url("/api/v1/auth/login"), body, {"Expect:"});
  expect_error(res, 413, "PAYLOAD_TOO_LARGE");
  EXPECT_FALSE(res.header("x-ratelimit-limit").empty());
  // ...and waits for "100 Continue" before a larger one: it gets the 413 instead.
  std::string huge(3 << 20, 'y');
  res = http_request("POST", url("/api/v1/auth/login"), huge, {"Expect: 100-continue"});
  expect_error(res, 413, "PAYLOAD_TOO_LARGE");
  // The server is still fine afterwards.
  EXPECT_EQ(get("/api/v1/health").status, 200);
}

TEST_F(errors_test, headers_over_the_limit_are_431) {
  auto res =
      http_request("GET", url("/api/v1/health"), {}, {"X-Padding: " + std::string(4096, 'p')});
  expect_error(res, 431, "HEADER_TOO_LARGE");
}

TEST_F(errors_test, malformed_http_is_400_and_closes) {
  auto reply = raw_exchange(server->port(), "THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_NE(reply.find("VALIDATION_ERROR"), std::string::npos) << reply;
  EXPECT_NE(reply.find("X-Request-Id"), std::string::npos) << reply;
}

TEST_F(errors_test, responses_follow_the_clients_http_version_and_keep_alive) {
  // HTTP/1.0 keeps the connection only when asked, and says so; the second request does
  // not ask, so its response ends the connection (raw_exchange reads until it closes).
  std::string two = "GET /api/v1/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                    "GET /api/v1/nothing HTTP/1.0\r\n\r\n";
  auto reply = raw_exchange(server->port(), two);
  auto second = reply.find("HTTP/1.0 404 Not Found\r\n");
  ASSERT_EQ(reply.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << reply;
  ASSERT_NE(second, std::string::npos) << reply;
  auto first = reply.substr(0, second);
  auto last = reply.substr(second);
  EXPECT_NE(first.find("\r\nConnection: keep-alive\r\n"), std::string::npos) << first;
  EXPECT_EQ(last.find("Connection:"), std::string::npos) << last;
  // Each response's Content-Length is its body's size, after the blank line.
  for (auto& r : {first, last}) {
    auto head_end = r.find("\r\n\r\n");
    auto cl = r.find("\r\nContent-Length: ");
    ASSERT_NE(head_end, std::string::npos) << r;
    ASSERT_LT(cl, head_end) << r;
    auto length = std::stoul(r.substr(cl + 18));
    EXPECT_EQ(r.size() - head_end - 4, length) << r;
    EXPECT_NE(r.find("\r\nContent-Type: application/json\r\n"), std::string::npos) << r;
    EXPECT_NE(r.find("\r\nServer: chatagent\r\n"), std::string::npos) << r;
  }
  EXPECT_NE(last.find("NOT_FOUND"), std::string::npos) << last;

  // HTTP/1.1 keeps it unless told otherwise, and announces the close it was asked for.
  reply = raw_exchange(server->port(),
                       "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("\r\nConnection: close\r\n"), std::string::npos) << reply;
}

TEST_F(errors_test, keep_alive_serves_several_requests_on_one_connection) {
  std::string two = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto reply = raw_exchange(server->port(), two);
  size_t count = 0;
  for (auto pos = reply.find("HTTP/1.1 200"); pos != std::string::npos;
       pos = reply.find("HTTP/1.1 200", pos + 1))
    ++count;
  EXPECT_EQ(count, 2u) << reply;
}
