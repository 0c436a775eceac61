#include "integration/fixture.hpp"

using namespace chatagent::test;

namespace {

class bots_test : public server_test {};

const std::string spec_bot = R"({
    "name": "我的聊天机器人",
    "description": "这是一个智能聊天机器人",
    "avatar_url": "https://example.com/avatar.jpg",
    "platform_type": "web",
    "platform_config": {"webhook_url": "https://your-domain.com/webhook", "api_key": "platform_api_key"},
    "llm_config": {"provider": "openai", "model": "gpt-3.5-turbo", "api_key": "your_openai_api_key",
                   "temperature": 0.7, "max_tokens": 2000, "system_prompt": "你是一个有帮助的助手"},
    "knowledge_base_ids": ["kb_id_1", "kb_id_2"],
    "plugins": ["weather", "calculator"]})";

void expect_no_secrets(const http_result& res) {
  EXPECT_EQ(res.body.find("your_openai_api_key"), std::string::npos) << res.body;
  EXPECT_EQ(res.body.find("platform_api_key"), std::string::npos) << res.body;
}

} // namespace

TEST_F(bots_test, create_get_and_list_follow_the_spec_without_secrets) {
  auto token = register_user("alice");
  auto created = post("/api/v1/bots/", spec_bot, token);
  ASSERT_EQ(created.status, 201) << created.body;
  expect_no_secrets(created);
  auto doc = created.json();
  auto id = json_string(doc, "id");
  EXPECT_EQ(id.rfind("bot_", 0), 0u);
  EXPECT_EQ(json_string(doc, "name"), "我的聊天机器人");
  EXPECT_EQ(json_string(doc, "description"), "这是一个智能聊天机器人");
  EXPECT_EQ(json_string(doc, "avatar_url"), "https://example.com/avatar.jpg");
  EXPECT_EQ(json_string(doc, "platform_type"), "web");
  EXPECT_FALSE(json_at(doc, "is_active")->as_bool());
  EXPECT_EQ(json_at(doc, "knowledge_base_ids")->as_array().size(), 2u);
  EXPECT_EQ(json_at(doc, "plugins")->as_array()[1].as_string(), "calculator");
  EXPECT_EQ(json_string(doc, "created_at").size(), 20u);
  EXPECT_EQ(json_string(doc, "platform_config.webhook_url"), "https://your-domain.com/webhook");
  EXPECT_EQ(json_string(doc, "llm_config.model"), "gpt-3.5-turbo");
  EXPECT_TRUE(json_at(doc, "llm_config.has_api_key")->as_bool());
  auto me = get("/api/v1/auth/me", token);
  EXPECT_EQ(json_string(doc, "user_id"), json_string(me.json(), "id"));

  auto fetched = get("/api/v1/bots/" + id, token);
  ASSERT_EQ(fetched.status, 200) << fetched.body;
  expect_no_secrets(fetched);
  EXPECT_EQ(json_string(fetched.json(), "name"), "我的聊天机器人");

  auto list = get("/api/v1/bots/?limit=20&offset=0", token);
  ASSERT_EQ(list.status, 200) << list.body;
  expect_no_secrets(list);
  auto l = list.json();
  EXPECT_EQ(json_int(l, "total"), 1);
  EXPECT_EQ(json_int(l, "limit"), 20);
  EXPECT_EQ(json_int(l, "offset"), 0);
  ASSERT_EQ(json_at(l, "bots")->as_array().size(), 1u);
  EXPECT_EQ(json_string(json_at(l, "bots")->as_array()[0], "id"), id);
}

TEST_F(bots_test, list_filters_and_pages) {
  auto token = register_user("alice");
  create_bot(token, R"({"name":"天气助手","description":"查询天气","platform_type":"web"})");
  // (Its Bot API is nowhere: the adapter starts, and retries meanwhile.)
  auto tg = create_bot(token, R"({"name":"Telegram helper","platform_type":"telegram",
      "platform_config":{"token":"1:x","api_base":"http://127.0.0.1:9"}})");
  create_bot(token, R"({"name":"Support","description":"answers tickets"})");
  ASSERT_EQ(post("/api/v1/bots/" + tg + "/start", "", token).status, 200);

  auto total = [&](const std::string& query) {
    auto res = get("/api/v1/bots/" + query, token);
    EXPECT_EQ(res.status, 200) << res.body;
    return json_int(res.json(), "total");
  };
  EXPECT_EQ(total(""), 3);
  EXPECT_EQ(total("?platform_type=telegram"), 1);
  EXPECT_EQ(total("?is_active=true"), 1);
  EXPECT_EQ(total("?is_active=false"), 2);
  EXPECT_EQ(total("?search=%E5%A4%A9%E6%B0%94"), 1); // 天气, percent-encoded
  EXPECT_EQ(total("?search=TICKETS"), 1);            // description, any case
  EXPECT_EQ(total("?search=nothing+like+this"), 0);

  auto page = get("/api/v1/bots/?limit=2&offset=1", token);
  auto doc = page.json();
  EXPECT_EQ(json_int(doc, "total"), 3);
  ASSERT_EQ(json_at(doc, "bots")->as_array().size(), 2u);
  EXPECT_EQ(json_string(json_at(doc, "bots")->as_array()[0], "name"), "Telegram helper");

  expect_error(get("/api/v1/bots/?limit=0", token), 400, "VALIDATION_ERROR");
  expect_error(get("/api/v1/bots/?limit=abc", token), 400, "VALIDATION_ERROR");
  expect_error(get("/api/v1/bots/?offset=-1", token), 400, "VALIDATION_ERROR");
  expect_error(get("/api/v1/bots/?is_active=maybe", token), 400, "VALIDATION_ERROR");
}

TEST_F(bots_test, invalid_bots_are_refused_with_the_field) {
  auto token = register_user("alice");
  struct bad_case {
    std::string body;
    std::string field;
  };
  std::vector<bad_case> cases{
      {R"({})", "name"},
      {R"({"name":""})", "name"},
      {R"({"name":")" + std::string(101, 'x') + R"("})", "name"},
      {R"({"name":42})", "name"},
      {R"({"name":"b","platform_type":"myspace"})", "platform_type"},
      {R"({"name":"b","llm_config":{"temperature":2.5}})", "llm_config.temperature"},
      {R"({"name":"b","llm_config":{"temperature":"hot"}})", "llm_config.temperature"},
      {R"({"name":"b","llm_config":{"max_tokens":0}})", "llm_config.max_tokens"},
      {R"({"name":"b","llm_config":{"max_tokens":1.5}})", "llm_config.max_tokens"},
      {R"({"name":"b","llm_config":{"provider":"skynet"}})", "llm_config.provider"},
      {R"({"name":"b","llm_config":{"base_url":"ftp://example.com"}})", "llm_config.base_url"},
      {R"({"name":"b","llm_config":{"base_url":"http://"}})", "llm_config.base_url"},
      {R"({"name":"b","llm_config":"openai"})", "llm_config"},
      {R"({"name":"b","platform_config":[]})", "platform_config"},
      {R"({"name":"b","plugins":"weather"})", "plugins"},
      {R"({"name":"b","knowledge_base_ids":[1]})", "knowledge_base_ids"},
      {R"({"name":"b","avatar_url":"not a url"})", "avatar_url"},
  };
  for (auto& c : cases) {
    auto res = post("/api/v1/bots/", c.body, token);
    expect_error(res, 400, "VALIDATION_ERROR");
    EXPECT_EQ(json_string(res.json(), "error.details.field"), c.field) << c.body;
  }
  EXPECT_EQ(json_int(get("/api/v1/bots/", token).json(), "total"), 0);
}

TEST_F(bots_test, update_merges_and_keeps_secrets) {
  auto token = register_user("alice");
  auto id = create_bot(token, spec_bot);
  auto res = put("/api/v1/bots/" + id,
                 R"({"name":"更新后的机器人名称","description":"更新后的描述",)"
                 R"("llm_config":{"provider":"openai","model":"gpt-4","temperature":0.5}})",
                 token);
  ASSERT_EQ(res.status, 200) << res.body;
  expect_no_secrets(res);
  auto doc = res.json();
  EXPECT_EQ(json_string(doc, "name"), "更新后的机器人名称");
  EXPECT_EQ(json_string(doc, "description"), "更新后的描述");
  EXPECT_EQ(json_string(doc, "avatar_url"), "https://example.com/avatar.jpg"); // kept
  EXPECT_EQ(json_string(doc, "llm_config.model"), "gpt-4");
  EXPECT_DOUBLE_EQ(json_at(doc, "llm_config.temperature")->as_double(), 0.5);
  EXPECT_EQ(json_int(doc, "llm_config.max_tokens"), 2000);                         // kept
  EXPECT_EQ(json_string(doc, "llm_config.system_prompt"), "你是一个有帮助的助手"); // kept
  EXPECT_TRUE(json_at(doc, "llm_config.has_api_key")->as_bool());                  // kept
  EXPECT_EQ(json_string(doc, "platform_config.webhook_url"), "https://your-domain.com/webhook");
  EXPECT_EQ(json_at(doc, "plugins")->as_array().size(), 2u);

  // A bad update changes nothing.
  auto bad = put("/api/v1/bots/" + id, R"({"name":"x","llm_config":{"temperature":9}})", token);
  expect_error(bad, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(get("/api/v1/bots/" + id, token).json(), "name"), "更新后的机器人名称");
  expect_error(put("/api/v1/bots/" + id, "[1]", token), 400, "VALIDATION_ERROR");
  expect_error(put("/api/v1/bots/" + id, "{", token), 400, "VALIDATION_ERROR");
}

TEST_F(bots_test, other_users_bots_do_not_exist_for_them) {
  auto alice = register_user("alice");
  auto bob = register_user("bob");
  auto id = create_bot(alice);
  expect_error(get("/api/v1/bots/" + id, bob), 404, "NOT_FOUND");
  expect_error(put("/api/v1/bots/" + id, R"({"name":"mine"})", bob), 404, "NOT_FOUND");
  expect_error(del("/api/v1/bots/" + id, bob), 404, "NOT_FOUND");
  expect_error(post("/api/v1/bots/" + id + "/start", "", bob), 404, "NOT_FOUND");
  expect_error(post("/api/v1/bots/" + id + "/stop", "", bob), 404, "NOT_FOUND");
  expect_error(get("/api/v1/bots/" + id + "/status", bob), 404, "NOT_FOUND");
  expect_error(get("/api/v1/bots/bot_doesnotexist", alice), 404, "NOT_FOUND");
  EXPECT_EQ(json_int(get("/api/v1/bots/", bob).json(), "total"), 0);
  expect_error(post("/api/v1/conversations/", R"({"bot_id":")" + id + R"("})", bob), 404,
               "NOT_FOUND");
  // Alice's bot is untouched.
  EXPECT_EQ(get("/api/v1/bots/" + id, alice).status, 200);
  expect_error(get("/api/v1/bots/"), 401, "UNAUTHORIZED");
}

TEST_F(bots_test, start_stop_and_status) {
  auto token = register_user("alice");
  auto id = create_bot(token);
  auto status = get("/api/v1/bots/" + id + "/status", token);
  ASSERT_EQ(status.status, 200) << status.body;
  auto s = status.json();
  EXPECT_EQ(json_string(s, "bot_id"), id);
  EXPECT_FALSE(json_at(s, "is_running")->as_bool());
  EXPECT_TRUE(json_at(s, "start_time")->is_null());
  EXPECT_EQ(json_int(s, "message_count"), 0);
  EXPECT_EQ(json_int(s, "error_count"), 0);

  auto started = post("/api/v1/bots/" + id + "/start", "", token);
  ASSERT_EQ(started.status, 200) << started.body;
  EXPECT_TRUE(json_at(started.json(), "success")->as_bool());
  EXPECT_EQ(json_string(started.json(), "bot_id"), id);
  EXPECT_EQ(json_string(started.json(), "message"), "机器人启动成功");
  s = get("/api/v1/bots/" + id + "/status", token).json();
  EXPECT_TRUE(json_at(s, "is_running")->as_bool());
  EXPECT_TRUE(json_at(s, "is_online")->as_bool()); // web: the API itself
  EXPECT_EQ(json_string(s, "start_time").size(), 20u);
  EXPECT_TRUE(json_at(get("/api/v1/bots/" + id, token).json(), "is_active")->as_bool());

  auto conv = create_conversation(token, id);
  ASSERT_EQ(
      post("/api/v1/conversations/" + conv + "/messages", R"({"content":"hi"})", token).status,
      201);
  s = get("/api/v1/bots/" + id + "/status", token).json();
  EXPECT_EQ(json_int(s, "message_count"), 2);
  EXPECT_EQ(json_string(s, "last_activity").size(), 20u);

  ASSERT_EQ(post("/api/v1/bots/" + id + "/stop", "", token).status, 200);
  s = get("/api/v1/bots/" + id + "/status", token).json();
  EXPECT_FALSE(json_at(s, "is_running")->as_bool());
  EXPECT_FALSE(json_at(s, "is_online")->as_bool());
  EXPECT_FALSE(json_at(get("/api/v1/bots/" + id, token).json(), "is_active")->as_bool());
}

TEST_F(bots_test, bots_and_running_state_survive_a_restart) {
  auto token = register_user("alice");
  auto running = create_bot(token, R"({"name":"runner","llm_config":{"api_key":"sk-keep"}})");
  auto idle = create_bot(token, R"({"name":"idler"})");
  ASSERT_EQ(post("/api/v1/bots/" + running + "/start", "", token).status, 200);
  auto dir = server->data_dir();
  ASSERT_EQ(server->stop(), 0);

  server_process again({}, dir);
  ASSERT_TRUE(again.start()) << again.log();
  auto base = again.base_url();
  auto status = http_request("GET", base + "/api/v1/bots/" + running + "/status", {}, auth(token));
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_TRUE(json_at(status.json(), "is_running")->as_bool());
  status = http_request("GET", base + "/api/v1/bots/" + idle + "/status", {}, auth(token));
  EXPECT_FALSE(json_at(status.json(), "is_running")->as_bool());
  auto bot = http_request("GET", base + "/api/v1/bots/" + running, {}, auth(token));
  EXPECT_TRUE(json_at(bot.json(), "llm_config.has_api_key")->as_bool());
  EXPECT_EQ(json_int(http_request("GET", base + "/api/v1/bots/", {}, auth(token)).json(), "total"),
            2);
  EXPECT_EQ(again.stop(), 0) << again.log();
}

TEST_F(bots_test, activity_counters_survive_a_crash) {
  auto token = register_user("alice");
  auto bot = create_bot(token);
  auto conv = create_conversation(token, bot);
  for (auto q : {"hi", "what is 2+2"})
    ASSERT_EQ(post("/api/v1/conversations/" + conv + "/messages",
                   std::string{R"({"content":")"} + q + "\"}", token)
                  .status,
              201);
  // A provider nobody listens on: the answer fails, the user message stays.
  auto broken = create_bot(
      token,
      R"({"name":"broken","llm_config":{"provider":"openai_compatible","base_url":"http://127.0.0.1:1/v1","model":"m"}})");
  auto conv2 = create_conversation(token, broken);
  auto failed = post("/api/v1/conversations/" + conv2 + "/messages", R"({"content":"hi"})", token);
  ASSERT_GE(failed.status, 500) << failed.body;
  auto before = get("/api/v1/bots/" + bot + "/status", token).json();
  EXPECT_EQ(json_int(before, "message_count"), 4);

  auto dir = server->data_dir();
  server->kill9();
  server_process again({}, dir);
  ASSERT_TRUE(again.start()) << again.log();
  auto base = again.base_url();
  auto s = http_request("GET", base + "/api/v1/bots/" + bot + "/status", {}, auth(token)).json();
  EXPECT_EQ(json_int(s, "message_count"), 4);
  EXPECT_EQ(json_int(s, "error_count"), 0);
  EXPECT_EQ(json_string(s, "last_activity"), json_string(before, "last_activity"));
  s = http_request("GET", base + "/api/v1/bots/" + broken + "/status", {}, auth(token)).json();
  EXPECT_EQ(json_int(s, "message_count"), 1);
  EXPECT_EQ(json_int(s, "error_count"), 1);
  EXPECT_EQ(again.stop(), 0) << again.log();
}

TEST_F(bots_test, deleting_a_bot_deletes_its_conversations_and_messages) {
  auto token = register_user("alice");
  auto doomed = create_bot(token, R"({"name":"doomed"})");
  auto kept = create_bot(token, R"({"name":"kept"})");
  auto c1 = create_conversation(token, doomed);
  auto c2 = create_conversation(token, doomed);
  auto c3 = create_conversation(token, kept);
  for (auto& c : {c1, c2, c3})
    ASSERT_EQ(
        post("/api/v1/conversations/" + c + "/messages", R"({"content":"hello"})", token).status,
        201);

  auto res = del("/api/v1/bots/" + doomed, token);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_TRUE(json_at(res.json(), "success")->as_bool());
  expect_error(get("/api/v1/bots/" + doomed, token), 404, "NOT_FOUND");
  expect_error(get("/api/v1/conversations/" + c1, token), 404, "NOT_FOUND");
  expect_error(get("/api/v1/conversations/" + c2 + "/messages", token), 404, "NOT_FOUND");
  auto list = get("/api/v1/conversations/", token).json();
  EXPECT_EQ(json_int(list, "total"), 1);
  EXPECT_EQ(json_int(get("/api/v1/conversations/" + c3 + "/messages", token).json(), "total"), 2);
  expect_error(del("/api/v1/bots/" + doomed, token), 404, "NOT_FOUND");
}
