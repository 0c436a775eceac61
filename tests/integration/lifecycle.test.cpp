#include "integration/fixture.hpp"

#include <fstream>
#include <sys/stat.h>
#include <thread>

using namespace chatagent::test;

namespace {

std::string register_on(const server_process& s, const std::string& name) {
  auto res = http_request("POST", s.base_url() + "/api/v1/auth/register",
                          R"({"username":")" + name + R"(","email":")" + name +
                              R"(@example.com","password":"password123"})");
  EXPECT_EQ(res.status, 201) << res.body;
  return json_string(res.json(), "access_token");
}

long login_on(const server_process& s, const std::string& name) {
  return http_request("POST", s.base_url() + "/api/v1/auth/login",
                      R"({"username":")" + name + R"(","password":"password123"})")
      .status;
}

} // namespace

TEST(lifecycle, sigterm_exits_zero_and_a_restart_keeps_users_and_tokens) {
  temp_dir dir;
  std::string token;
  {
    server_process s{{}, dir.path()};
    ASSERT_TRUE(s.start()) << s.log();
    token = register_on(s, "henry");
    EXPECT_EQ(s.stop(SIGTERM), 0) << s.log();
    EXPECT_NE(s.log().find("stopped"), std::string::npos) << s.log();
  }
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/jwt_secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  server_process s{{}, dir.path()};
  ASSERT_TRUE(s.start()) << s.log();
  EXPECT_EQ(login_on(s, "henry"), 200);
  // The signing secret persisted, so the old token still works.
  auto me =
      http_request("GET", s.base_url() + "/api/v1/auth/me", {}, {"Authorization: Bearer " + token});
  EXPECT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(s.stop(SIGINT), 0);
}

// Whichever thread the kernel gives the signal to (libraries start threads before `main`
// that block nothing), the server shuts down cleanly, also the moment it is up.
TEST(lifecycle, sigterm_right_after_the_start_still_shuts_down_cleanly) {
  for (int i = 0; i < 5; ++i) {
    temp_dir dir;
    server_process s{{}, dir.path()};
    ASSERT_TRUE(s.start()) << s.log();
    EXPECT_EQ(s.stop(SIGTERM), 0) << s.log();
    EXPECT_NE(s.log().find("stopped"), std::string::npos) << s.log();
  }
}

TEST(lifecycle, acknowledged_registrations_survive_kill_9) {
  temp_dir dir;
  std::vector<std::string> names;
  {
    server_process s{{}, dir.path()};
    ASSERT_TRUE(s.start()) << s.log();
    for (int i = 0; i < 20; ++i) {
      names.push_back("crash" + std::to_string(i));
      register_on(s, names.back());
    }
    s.kill9(); // right after the last acknowledgement: no flush, no clean close
  }
  server_process s{{}, dir.path()};
  ASSERT_TRUE(s.start()) << s.log();
  for (auto& n : names)
    EXPECT_EQ(login_on(s, n), 200) << n;
}

TEST(lifecycle, a_busy_port_exits_non_zero_with_a_reason) {
  server_process first;
  ASSERT_TRUE(first.start()) << first.log();
  temp_dir dir;
  auto [code, out] = run_chatagent(
      {"serve", "--port", std::to_string(first.port()), "--data-dir", dir.path() + "/d"});
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())),
            std::string::npos)
      << out;
}

TEST(lifecycle, a_data_dir_held_by_another_process_exits_non_zero) {
  server_process first;
  ASSERT_TRUE(first.start()) << first.log();
  auto [code, out] = run_chatagent({"serve", "--port", "0", "--data-dir", first.data_dir()});
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("in use by another process"), std::string::npos) << out;
}

TEST(lifecycle, a_bad_config_exits_non_zero_with_one_line) {
  temp_dir dir;
  auto path = dir.path() + "/bad.toml";
  std::ofstream{path} << "port = \"eighty\"\n";
  auto [code, out] = run_chatagent({"serve", "--config", path, "--data-dir", dir.path() + "/d"});
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("'port' must be an integer"), std::string::npos) << out;
  auto [code2, out2] = run_chatagent({"serve", "--data-dir", dir.path() + "/d"},
                                     {{"CHATAGENT_RATE_LIMIT_USER", "-1"}});
  EXPECT_NE(code2, 0);
  EXPECT_NE(out2.find("rate_limit_user"), std::string::npos) << out2;
}

TEST(lifecycle, config_file_and_flags_apply) {
  temp_dir dir;
  auto path = dir.path() + "/ok.toml";
  std::ofstream{path} << "rate_limit_anonymous = 42\nport = 1\n"; // --port 0 overrides
  server_process s{{}, dir.path() + "/d", {"--config", path}};
  ASSERT_TRUE(s.start()) << s.log();
  auto res = http_request("GET", s.base_url() + "/api/v1/health");
  EXPECT_EQ(res.header("x-ratelimit-limit"), "42");
}

TEST(lifecycle, admin_bootstrap_resets_the_password_at_each_start) {
  temp_dir dir;
  {
    server_process s{
        {{"CHATAGENT_ADMIN_USERNAME", "boss"}, {"CHATAGENT_ADMIN_PASSWORD", "first-pass"}},
        dir.path()};
    ASSERT_TRUE(s.start()) << s.log();
  }
  server_process s{
      {{"CHATAGENT_ADMIN_USERNAME", "boss"}, {"CHATAGENT_ADMIN_PASSWORD", "second-pass"}},
      dir.path()};
  ASSERT_TRUE(s.start()) << s.log();
  auto old_pw = http_request("POST", s.base_url() + "/api/v1/auth/login",
                             R"({"username":"boss","password":"first-pass"})");
  EXPECT_EQ(old_pw.status, 401);
  auto new_pw = http_request("POST", s.base_url() + "/api/v1/auth/login",
                             R"({"username":"boss","password":"second-pass"})");
  ASSERT_EQ(new_pw.status, 200);
  EXPECT_EQ(json_string(new_pw.json(), "user_info.role"), "admin");
}

TEST(lifecycle, version_and_help) {
  auto [code, out] = run_chatagent({"--version"});
  EXPECT_EQ(code, 0);
  EXPECT_NE(out.find("chatagent "), std::string::npos) << out;
  auto [hcode, hout] = run_chatagent({"serve", "--help"});
  EXPECT_EQ(hcode, 0);
  EXPECT_NE(hout.find("--data-dir"), std::string::npos) << hout;
  EXPECT_NE(hout.find("CHATAGENT_RATE_LIMIT_USER"), std::string::npos) << hout;
}
