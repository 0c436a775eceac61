#include "config/config.hpp"

#include "support/server_process.hpp"

#include <fstream>
#include <map>

#include <gtest/gtest.h>

using namespace chatagent::config;

namespace {

struct fake_env {
  std::map<std::string, std::string> vars;
  env_lookup lookup() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

std::string write_file(const chatagent::test::temp_dir& dir, const std::string& text) {
  auto path = dir.path() + "/chatagent.toml";
  std::ofstream{path} << text;
  return path;
}

} // namespace

TEST(config, defaults_without_any_input) {
  std::string error;
  auto cfg = load({}, fake_env{}.lookup(), error);
  ASSERT_TRUE(cfg) << error;
  EXPECT_EQ(cfg->host, "127.0.0.1");
  EXPECT_EQ(cfg->port, 8000);
  EXPECT_EQ(cfg->data_dir, "./data");
  EXPECT_EQ(cfg->rate_limit_user, 100);
  EXPECT_EQ(cfg->rate_limit_premium, 1000);
  EXPECT_EQ(cfg->rate_limit_enterprise, 10000);
  EXPECT_EQ(cfg->storage_write_rate_mb, 64);
  EXPECT_EQ(cfg->storage_wal_limit_mb, 1024);
}

TEST(config, flags_override_file_override_environment) {
  chatagent::test::temp_dir dir;
  fake_env env{{{"CHATAGENT_PORT", "9001"},
                {"CHATAGENT_HOST", "0.0.0.0"},
                {"CHATAGENT_RATE_LIMIT_USER", "7"},
                {"CHATAGENT_LOG_LEVEL", "debug"},
                {"CHATAGENT_STORAGE_WRITE_RATE_MB", "64"},
                {"CHATAGENT_STORAGE_WAL_LIMIT_MB", "256"}}};
  command_line cli;
  cli.config_file = write_file(dir, "port = 9002\nrate_limit_user = 8\ndata_dir = \"/tmp/x\"\n");
  std::string error;
  auto cfg = load(cli, env.lookup(), error);
  ASSERT_TRUE(cfg) << error;
  EXPECT_EQ(cfg->port, 9002);         // file over environment
  EXPECT_EQ(cfg->host, "0.0.0.0");    // environment over default
  EXPECT_EQ(cfg->rate_limit_user, 8); // file over environment
  EXPECT_EQ(cfg->log_level, "debug"); // environment only
  EXPECT_EQ(cfg->storage_write_rate_mb, 64);
  EXPECT_EQ(cfg->storage_wal_limit_mb, 256);
  EXPECT_EQ(cfg->data_dir, "/tmp/x");
  cli.port = 9003;
  cli.data_dir = "/tmp/y";
  cfg = load(cli, env.lookup(), error);
  ASSERT_TRUE(cfg) << error;
  EXPECT_EQ(cfg->port, 9003); // flag over file
  EXPECT_EQ(cfg->data_dir, "/tmp/y");
}

TEST(config, rejects_bad_input_with_a_one_line_reason) {
  chatagent::test::temp_dir dir;
  auto fails = [&](const command_line& cli, fake_env env, const std::string& needle) {
    std::string error;
    auto cfg = load(cli, env.lookup(), error);
    EXPECT_FALSE(cfg) << needle;
    EXPECT_NE(error.find(needle), std::string::npos) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  };
  fails({}, fake_env{{{"CHATAGENT_PORT", "eighty"}}}, "CHATAGENT_PORT");
  fails({}, fake_env{{{"CHATAGENT_PORT", "70000"}}}, "port");
  fails({}, fake_env{{{"CHATAGENT_LOG_LEVEL", "loud"}}}, "log_level");
  fails({}, fake_env{{{"CHATAGENT_STORAGE_WRITE_RATE_MB", "-1"}}}, "storage_write_rate_mb");
  fails({}, fake_env{{{"CHATAGENT_STORAGE_WAL_LIMIT_MB", "0"}}}, "storage_wal_limit_mb");
  fails({}, fake_env{{{"CHATAGENT_JWT_SECRET", "short"}}}, "jwt_secret");
  fails({}, fake_env{{{"CHATAGENT_ADMIN_USERNAME", "root"}}}, "admin_password");
  command_line cli;
  cli.config_file = write_file(dir, "prot = 80\n");
  fails(cli, {}, "'prot' is unknown");
  cli.config_file = write_file(dir, "port = \"80\"\n");
  fails(cli, {}, "must be an integer");
  cli.config_file = write_file(dir, "port = = 80\n");
  fails(cli, {}, "line 1");
}

TEST(config, every_key_is_described) {
  auto keys = describe_keys();
  EXPECT_GE(keys.size(), 20u);
  EXPECT_NE(keys.front().find("CHATAGENT_HOST"), std::string::npos);
}
