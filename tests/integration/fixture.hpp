#pragma once

#include "support/http_client.hpp"
#include "support/server_process.hpp"

#include <atomic>
#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace chatagent::test {

/// A started server for one test, with helpers for the common calls.
class server_test : public ::testing::Test {
 protected:
  /// Environment for the server; override to configure it.
  virtual env_list environment() { return {}; }

  void SetUp() override {
    server = std::make_unique<server_process>(environment());
    ASSERT_TRUE(server->start()) << server->log();
  }

  void TearDown() override {
    if (server && server->running()) {
      EXPECT_EQ(server->stop(), 0) << server->log();
    }
  }

  std::string url(const std::string& path) const { return server->base_url() + path; }

  http_result get(const std::string& path, const std::string& token = {}) {
    return http_request("GET", url(path), {}, auth(token));
  }

  http_result post(const std::string& path, const std::string& body,
                   const std::string& token = {}) {
    return http_request("POST", url(path), body, auth(token));
  }

  http_result put(const std::string& path, const std::string& body, const std::string& token = {}) {
    return http_request("PUT", url(path), body, auth(token));
  }

  http_result del(const std::string& path, const std::string& token = {}) {
    return http_request("DELETE", url(path), {}, auth(token));
  }

  /// Creates a bot from `body` (a JSON object) and returns its id.
  std::string create_bot(const std::string& token,
                         const std::string& body = R"({"name":"Helper"})") {
    auto res = post("/api/v1/bots/", body, token);
    EXPECT_EQ(res.status, 201) << res.body;
    return json_string(res.json(), "id");
  }

  /// Opens a conversation with `bot` and returns its id.
  std::string create_conversation(const std::string& token, const std::string& bot,
                                  const std::string& title = "test") {
    auto res = post("/api/v1/conversations/",
                    R"({"bot_id":")" + bot + R"(","title":")" + title + R"("})", token);
    EXPECT_EQ(res.status, 201) << res.body;
    return json_string(res.json(), "id");
  }

  static header_list auth(const std::string& token) {
    if (token.empty())
      return {};
    return {"Authorization: Bearer " + token};
  }

  /// Registers a fresh user named `name` and returns its access token.
  std::string register_user(const std::string& name, const std::string& password = "password123") {
    auto res =
        post("/api/v1/auth/register", R"({"username":")" + name + R"(","email":")" + name +
                                          R"(@example.com","password":")" + password + R"("})");
    EXPECT_EQ(res.status, 201) << res.body;
    return json_string(res.json(), "access_token");
  }

  /// Asserts a standard error body with `code` and the request id of its header.
  static void expect_error(const http_result& res, long status, const std::string& code) {
    EXPECT_EQ(res.status, status) << res.body;
    auto doc = res.json();
    EXPECT_EQ(json_string(doc, "error.code"), code) << res.body;
    EXPECT_FALSE(json_string(doc, "error.message").empty()) << res.body;
    ASSERT_NE(doc.find("error"), nullptr) << res.body;
    EXPECT_TRUE(doc.find("error")->find("details") != nullptr) << res.body;
    EXPECT_FALSE(json_string(doc, "timestamp").empty()) << res.body;
    EXPECT_EQ(json_string(doc, "request_id"), res.header("x-request-id")) << res.body;
    EXPECT_FALSE(res.header("x-request-id").empty());
  }

  std::unique_ptr<server_process> server;
};

} // namespace chatagent::test
