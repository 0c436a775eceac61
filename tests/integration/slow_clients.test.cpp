#include "integration/fixture.hpp"

#include <thread>

using namespace chatagent::test;

namespace {

class slow_client_test : public server_test {
 protected:
  env_list environment() override {
    return {{"CHATAGENT_READ_TIMEOUT_SECONDS", "1"}, {"CHATAGENT_IDLE_TIMEOUT_SECONDS", "1"}};
  }
};

} // namespace

TEST_F(slow_client_test, a_body_that_stalls_gets_408_and_the_connection_closes) {
  raw_connection c{server->port()};
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                     "Content-Type: application/json\r\n\r\n{\"username\":"));
  std::string out;
  EXPECT_TRUE(c.read_until_closed(out));
  EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << out;
  EXPECT_NE(out.find("REQUEST_TIMEOUT"), std::string::npos) << out;
}

TEST_F(slow_client_test, idle_and_half_sent_connections_are_closed) {
  raw_connection idle{server->port()};
  raw_connection partial{server->port()};
  ASSERT_TRUE(idle.connected());
  ASSERT_TRUE(partial.connected());
  ASSERT_TRUE(partial.send("GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  std::string out;
  EXPECT_TRUE(idle.read_until_closed(out));
  EXPECT_TRUE(out.empty()) << out;
  EXPECT_TRUE(partial.read_until_closed(out));
  // The server keeps working for everybody else.
  EXPECT_EQ(get("/api/v1/health").status, 200);
}

TEST(graceful_shutdown, a_request_in_flight_is_answered_before_exit) {
  // Expensive hashing keeps the registration in flight while SIGTERM arrives.
  // About 3 s of hashing (more on a loaded machine; with half of it, a fast machine once
  // answered before the signal came); the 1 s pause below only has to let the server read
  // the request, which is already on its socket.
  server_process s{{{"CHATAGENT_PASSWORD_HASH_OPSLIMIT", "16"},
                    {"CHATAGENT_PASSWORD_HASH_MEMLIMIT_KIB", "262144"},
                    {"CHATAGENT_SHUTDOWN_TIMEOUT_SECONDS", "120"}}};
  ASSERT_TRUE(s.start()) << s.log();
  raw_connection c{s.port()};
  ASSERT_TRUE(c.connected());
  // First a quick request, so the connection is accepted and its session exists.
  ASSERT_TRUE(c.send("GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(c.read_response().rfind("HTTP/1.1 200", 0), 0u);
  std::string body = R"({"username":"inflight","email":"inflight@example.com",)"
                     R"("password":"password123"})";
  ASSERT_TRUE(c.send("POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     "application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  int exit_code = -1;
  std::thread stopper{[&] { exit_code = s.stop(SIGTERM); }};
  std::string out;
  EXPECT_TRUE(c.read_until_closed(out));
  stopper.join();
  EXPECT_EQ(out.rfind("HTTP/1.1 201", 0), 0u) << out << s.log();
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
  EXPECT_EQ(exit_code, 0) << s.log();
  // And it was stored.
  server_process again{{}, s.data_dir()};
  ASSERT_TRUE(again.start()) << again.log();
  auto login = http_request("POST", again.base_url() + "/api/v1/auth/login",
                            R"({"username":"inflight","password":"password123"})");
  EXPECT_EQ(login.status, 200) << login.body;
}

TEST(request_deadline, an_actor_that_answers_too_late_gets_a_503) {
  server_process s{{{"CHATAGENT_REQUEST_TIMEOUT_SECONDS", "1"},
                    {"CHATAGENT_PASSWORD_HASH_OPSLIMIT", "16"},
                    {"CHATAGENT_PASSWORD_HASH_MEMLIMIT_KIB", "262144"}}};
  ASSERT_TRUE(s.start()) << s.log();
  auto res =
      http_request("POST", s.base_url() + "/api/v1/auth/register",
                   R"({"username":"patient","email":"p@example.com","password":"password123"})");
  EXPECT_EQ(res.status, 503) << res.body;
  auto doc = res.json();
  EXPECT_EQ(json_string(doc, "error.code"), "SERVICE_UNAVAILABLE") << res.body;
  EXPECT_EQ(json_string(doc, "request_id"), res.header("x-request-id"));
  // The server is still healthy; quick requests are unaffected.
  EXPECT_EQ(http_request("GET", s.base_url() + "/api/v1/health").status, 200);
}
