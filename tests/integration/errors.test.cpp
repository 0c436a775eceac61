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
