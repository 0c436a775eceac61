#include "http/jwt.hpp"
#include "integration/fixture.hpp"

using namespace chatagent::test;

namespace {

const std::string test_secret = "integration-test-secret-0123456789abcdef";

class auth_test : public server_test {
 protected:
  env_list environment() override { return {{"CHATAGENT_JWT_SECRET", test_secret}}; }
};

} // namespace

TEST_F(auth_test, health_answers_without_authentication) {
  auto res = get("/api/v1/health");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(json_string(res.json(), "status"), "ok");
  EXPECT_FALSE(res.header("x-request-id").empty());
  EXPECT_EQ(res.header("content-type"), "application/json");
}

TEST_F(auth_test, register_login_and_me_follow_the_spec) {
  auto reg = post("/api/v1/auth/register",
                  R"({"username":"user123","nickname":"用户昵称","email":"user@example.com",)"
                  R"("password":"password123","role":"user"})");
  ASSERT_EQ(reg.status, 201) << reg.body;
  auto doc = reg.json();
  EXPECT_TRUE(doc.find("success")->as_bool());
  EXPECT_EQ(json_string(doc, "token_type"), "bearer");
  EXPECT_EQ(doc.find("expires_in")->as_int(), 3600);
  EXPECT_FALSE(json_string(doc, "access_token").empty());
  EXPECT_EQ(json_string(doc, "user_info.username"), "user123");
  EXPECT_EQ(json_string(doc, "user_info.nickname"), "用户昵称");
  EXPECT_EQ(json_string(doc, "user_info.email"), "user@example.com");
  EXPECT_EQ(json_string(doc, "user_info.role"), "user");
  auto id = json_string(doc, "user_info.id");
  EXPECT_EQ(id.rfind("usr_", 0), 0u);
  EXPECT_EQ(json_string(doc, "user_info.created_at").size(), 20u); // 2024-01-01T00:00:00Z

  auto login = post("/api/v1/auth/login", R"({"username":"user123","password":"password123"})");
  ASSERT_EQ(login.status, 200) << login.body;
  auto token = json_string(login.json(), "access_token");
  EXPECT_EQ(json_string(login.json(), "user_info.id"), id);

  auto me = get("/api/v1/auth/me", token);
  ASSERT_EQ(me.status, 200) << me.body;
  auto m = me.json();
  EXPECT_EQ(json_string(m, "id"), id);
  EXPECT_EQ(json_string(m, "username"), "user123");
  EXPECT_EQ(json_string(m, "nickname"), "用户昵称");
  EXPECT_EQ(json_string(m, "email"), "user@example.com");
  EXPECT_EQ(json_string(m, "role"), "user");
  EXPECT_TRUE(m.find("is_active")->as_bool());
  EXPECT_FALSE(json_string(m, "created_at").empty());
  EXPECT_FALSE(json_string(m, "updated_at").empty());
  EXPECT_EQ(m.find("password"), nullptr);
  EXPECT_EQ(m.find("password_hash"), nullptr);
  EXPECT_EQ(me.body.find("argon2"), std::string::npos);
}

TEST_F(auth_test, nickname_defaults_to_username_and_login_accepts_email) {
  register_user("carol");
  auto login =
      post("/api/v1/auth/login", R"({"username":"CAROL@example.com","password":"password123"})");
  ASSERT_EQ(login.status, 200) << login.body;
  EXPECT_EQ(json_string(login.json(), "user_info.nickname"), "carol");
}

TEST_F(auth_test, duplicate_username_or_email_is_409_ignoring_case) {
  register_user("dave");
  auto again = post("/api/v1/auth/register",
                    R"({"username":"DAVE","email":"new@example.com","password":"password123"})");
  expect_error(again, 409, "DUPLICATE_RESOURCE");
  EXPECT_EQ(json_string(again.json(), "error.details.field"), "username");
  auto email = post("/api/v1/auth/register",
                    R"({"username":"dave2","email":"Dave@Example.com","password":"password123"})");
  expect_error(email, 409, "DUPLICATE_RESOURCE");
  EXPECT_EQ(json_string(email.json(), "error.details.field"), "email");
}

TEST_F(auth_test, concurrent_registrations_of_one_name_create_one_user) {
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  std::atomic<int> conflicts{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      auto res =
          post("/api/v1/auth/register", R"({"username":"race","email":"race)" + std::to_string(i) +
                                            R"(@example.com","password":"password123"})");
      if (res.status == 201)
        ++created;
      else if (res.status == 409)
        ++conflicts;
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(conflicts.load(), 7);
}

TEST_F(auth_test, invalid_fields_are_400_with_the_field_named) {
  struct bad_case {
    std::string body;
    std::string field;
  };
  std::vector<bad_case> cases{
      {R"({"username":"ab","email":"a@example.com","password":"password123"})", "username"},
      {R"({"username":"has space","email":"a@example.com","password":"password123"})", "username"},
      {R"({"username":"okname","email":"not-an-email","password":"password123"})", "email"},
      {R"({"username":"okname","email":"a@example.com","password":"short"})", "password"},
      {R"({"username":"okname","email":"a@example.com","password":"password123","nickname":")" +
           std::string(65, 'n') + R"("})",
       "nickname"},
      {R"({"email":"a@example.com","password":"password123"})", "username"},
      {R"({"username":12345,"email":"a@example.com","password":"password123"})", "username"},
      {R"({"username":"okname","email":["a@example.com"],"password":"password123"})", "email"},
      {R"({"username":"okname","email":"a@example.com","password":"password123","role":"root"})",
       "role"},
  };
  for (auto& c : cases) {
    auto res = post("/api/v1/auth/register", c.body);
    expect_error(res, 400, "VALIDATION_ERROR");
    EXPECT_EQ(json_string(res.json(), "error.details.field"), c.field) << c.body;
    EXPECT_FALSE(json_string(res.json(), "error.details.reason").empty()) << res.body;
  }
}

TEST_F(auth_test, malformed_json_and_non_objects_are_400) {
  expect_error(post("/api/v1/auth/register", "{\"username\": "), 400, "VALIDATION_ERROR");
  expect_error(post("/api/v1/auth/register", "[1,2]"), 400, "VALIDATION_ERROR");
  expect_error(post("/api/v1/auth/login", ""), 400, "VALIDATION_ERROR");
  auto xml = http_request("POST", url("/api/v1/auth/login"), "<login/>",
                          {"Content-Type: application/xml"});
  expect_error(xml, 415, "UNSUPPORTED_MEDIA_TYPE");
}

TEST_F(auth_test, nobody_registers_as_admin_or_premium) {
  for (auto role : {"admin", "premium", "enterprise"}) {
    auto res = post("/api/v1/auth/register",
                    std::string{R"({"username":"sneaky","email":"s@example.com",)"} +
                        R"("password":"password123","role":")" + role + R"("})");
    expect_error(res, 403, "FORBIDDEN");
  }
}

TEST_F(auth_test, wrong_password_and_unknown_user_are_the_same_401) {
  register_user("erin");
  auto wrong = post("/api/v1/auth/login", R"({"username":"erin","password":"wrongpass1"})");
  auto unknown = post("/api/v1/auth/login", R"({"username":"nobody","password":"wrongpass1"})");
  expect_error(wrong, 401, "UNAUTHORIZED");
  expect_error(unknown, 401, "UNAUTHORIZED");
  EXPECT_EQ(json_string(wrong.json(), "error.message"),
            json_string(unknown.json(), "error.message"));
}

TEST_F(auth_test, me_refuses_missing_garbage_forged_none_and_expired_tokens) {
  auto token = register_user("frank");
  ASSERT_EQ(get("/api/v1/auth/me", token).status, 200);
  auto me_id = json_string(get("/api/v1/auth/me", token).json(), "id");

  expect_error(get("/api/v1/auth/me"), 401, "UNAUTHORIZED");
  expect_error(get("/api/v1/auth/me", "garbage"), 401, "UNAUTHORIZED");
  auto basic =
      http_request("GET", url("/api/v1/auth/me"), {}, {"Authorization: Basic Zm9vOmJhcg=="});
  expect_error(basic, 401, "UNAUTHORIZED");

  auto payload = R"({"sub":")" + me_id + R"(","role":"admin","iat":1,"exp":9999999999})";
  // Signed with another key.
  auto forged = chatagent::http::sign_jwt(R"({"alg":"HS256","typ":"JWT"})", payload,
                                          "not the server secret, not at all");
  expect_error(get("/api/v1/auth/me", forged), 401, "UNAUTHORIZED");
  // alg: none, no signature.
  auto none = chatagent::http::base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." +
              chatagent::http::base64url_encode(payload) + ".";
  expect_error(get("/api/v1/auth/me", none), 401, "UNAUTHORIZED");
  // Correctly signed but expired.
  auto expired = chatagent::http::sign_jwt(
      R"({"alg":"HS256","typ":"JWT"})",
      R"({"sub":")" + me_id + R"(","role":"user","iat":1000,"exp":2000})", test_secret);
  auto res = get("/api/v1/auth/me", expired);
  expect_error(res, 401, "UNAUTHORIZED");
  EXPECT_NE(res.body.find("expired"), std::string::npos);
  // Correctly signed, valid, for a user that does not exist.
  auto ghost = chatagent::http::sign_jwt(
      R"({"alg":"HS256","typ":"JWT"})",
      R"({"sub":"usr_ghost","role":"user","iat":1000,"exp":9999999999})", test_secret);
  expect_error(get("/api/v1/auth/me", ghost), 401, "UNAUTHORIZED");
  // The real token with a flipped character in the middle of its signature.
  auto tampered = token;
  auto& c = tampered[tampered.rfind('.') + 10];
  c = c == 'A' ? 'B' : 'A';
  expect_error(get("/api/v1/auth/me", tampered), 401, "UNAUTHORIZED");
}

TEST_F(auth_test, request_id_is_echoed_or_generated) {
  auto res = http_request("GET", url("/api/v1/nope"), {}, {"X-Request-Id: trace-abc.123"});
  EXPECT_EQ(res.header("x-request-id"), "trace-abc.123");
  EXPECT_EQ(json_string(res.json(), "request_id"), "trace-abc.123");
  auto odd = http_request("GET", url("/api/v1/health"), {}, {"X-Request-Id: <script>"});
  EXPECT_NE(odd.header("x-request-id"), "<script>");
  EXPECT_EQ(odd.header("x-request-id").rfind("req_", 0), 0u);
}
