#include "integration/fixture.hpp"
#include "protocol/json.hpp"
#include "support/fake_llm_server.hpp"
#include "support/ws_client.hpp"

#include <algorithm>

using namespace chatagent::test;
using chatagent::protocol::json_value;

namespace {

std::string quoted(const std::string& s) {
  std::string out;
  chatagent::protocol::append_json_string(out, s);
  return out;
}

json_value body_of(const fake_llm_server::request& r) {
  auto doc = chatagent::protocol::parse_json(r.body);
  return doc ? std::move(*doc) : json_value{};
}

class plugins_test : public server_test {
 protected:
  env_list environment() override {
    // The fake weather API is on loopback; the timeout test needs a short timeout.
    return {{"CHATAGENT_PLUGINS_ALLOW_PRIVATE_NETWORK", "1"},
            {"CHATAGENT_PLUGIN_TIMEOUT_MS", "1500"}};
  }

  /// A bot on the fake provider's `model` (in `flavor`'s wire format) with `plugins`.
  std::string tool_bot(const std::string& token, const std::string& model,
                       const std::string& plugins = R"(["calculator","datetime"])",
                       const std::string& flavor = "openai_compatible") {
    auto base = flavor == "ollama" ? fake.url("") : fake.url("/v1");
    return create_bot(token, R"({"name":"Tooled","plugins":)" + plugins +
                                 R"(,"llm_config":{"provider":")" + flavor + R"(","base_url":")" +
                                 base + R"(","model":")" + model + R"("}})");
  }

  http_result send(const std::string& token, const std::string& conv, const std::string& text) {
    return post("/api/v1/conversations/" + conv + "/messages",
                R"({"content":)" + quoted(text) + "}", token);
  }

  std::string weather_config(const std::string& key = "good-key") {
    return R"({"config":{"api_key":")" + key + R"(","default_location":"北京","base_url":")" +
           fake.url("/weather/data/2.5") + R"("},"enabled":true})";
  }

  /// The completion requests the fake received, in order.
  std::vector<fake_llm_server::request> completions() {
    std::vector<fake_llm_server::request> out;
    for (auto& r : fake.requests())
      if (r.path.find("/weather") == std::string::npos)
        out.push_back(r);
    return out;
  }

  fake_llm_server fake;
};

} // namespace

TEST_F(plugins_test, available_plugins_follow_the_spec) {
  auto token = register_user("alice");
  auto res = get("/api/v1/plugins/available", token);
  ASSERT_EQ(res.status, 200) << res.body;
  auto doc = res.json();
  auto& list = json_at(doc, "plugins")->as_array();
  ASSERT_GE(list.size(), 3u);
  const json_value* weather = nullptr;
  for (auto& p : list)
    if (json_string(p, "id") == "weather")
      weather = &p;
  ASSERT_NE(weather, nullptr) << res.body;
  EXPECT_EQ(json_string(*weather, "name"), "天气查询");
  EXPECT_EQ(json_string(*weather, "description"), "获取实时天气信息");
  EXPECT_EQ(json_string(*weather, "version"), "1.0.0");
  EXPECT_EQ(json_string(*weather, "author"), "ChatAgent Team");
  EXPECT_EQ(json_string(*weather, "category"), "utility");
  EXPECT_EQ(json_string(*weather, "config_schema.api_key.type"), "string");
  EXPECT_TRUE(json_at(*weather, "config_schema.api_key.required")->as_bool());
  EXPECT_EQ(json_string(*weather, "config_schema.api_key.description"), "天气API密钥");
  EXPECT_TRUE(json_at(*weather, "config_schema.api_key.secret")->as_bool());
  EXPECT_EQ(json_string(*weather, "config_schema.units.default"), "metric");
  // Authentication is required.
  expect_error(get("/api/v1/plugins/available"), 401, "UNAUTHORIZED");
}

TEST_F(plugins_test, install_validate_update_and_uninstall_without_showing_secrets) {
  auto token = register_user("alice");
  auto bot = create_bot(token);
  auto base = "/api/v1/bots/" + bot + "/plugins/";

  // The spec's example body.
  auto res = post(
      base + "weather",
      R"({"config":{"api_key":"your_weather_api_key","default_location":"北京"},"enabled":true})",
      token);
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(res.body.find("your_weather_api_key"), std::string::npos) << res.body;
  auto doc = res.json();
  EXPECT_EQ(json_string(doc, "plugin_id"), "weather");
  EXPECT_EQ(json_string(doc, "bot_id"), bot);
  EXPECT_TRUE(json_at(doc, "available")->as_bool());
  EXPECT_TRUE(json_at(doc, "enabled")->as_bool());
  EXPECT_EQ(json_string(doc, "config.default_location"), "北京");
  EXPECT_EQ(json_string(doc, "config.units"), "metric"); // a default filled in
  EXPECT_EQ(json_at(doc, "config.api_key"), nullptr);
  EXPECT_EQ(json_string(json_at(doc, "secrets_set")->as_array()[0], ""), "api_key");

  // Installing it again is a conflict; unknown plugins and bots are 404.
  expect_error(post(base + "weather", "{}", token), 409, "DUPLICATE_RESOURCE");
  expect_error(post(base + "teleport", "{}", token), 404, "NOT_FOUND");
  expect_error(post("/api/v1/bots/bot_missing/plugins/calculator", "{}", token), 404, "NOT_FOUND");

  // Validation names the field.
  auto bad = post(base + "datetime", R"({"config":{"default_timezone":7}})", token);
  expect_error(bad, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(bad.json(), "error.details.field"), "config.default_timezone");
  bad = post(base + "datetime", R"({"config":{"colour":"red"}})", token);
  expect_error(bad, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(bad.json(), "error.details.field"), "config.colour");
  bad = post(base + "calculator", R"({"enabled":"yes"})", token);
  expect_error(bad, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(bad.json(), "error.details.field"), "enabled");
  auto other = create_bot(token, R"({"name":"Other"})");
  bad =
      post("/api/v1/bots/" + other + "/plugins/weather", R"({"config":{"units":"metric"}})", token);
  expect_error(bad, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(bad.json(), "error.details.field"), "config.api_key");
  bad = put(base + "weather", R"({"config":{"units":"kelvin"}})", token);
  expect_error(bad, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(bad.json(), "error.details.field"), "config.units");

  // An update merges: the secret stays without being sent again.
  res = put(base + "weather", R"({"config":{"default_location":"上海"},"enabled":false})", token);
  ASSERT_EQ(res.status, 200) << res.body;
  doc = res.json();
  EXPECT_FALSE(json_at(doc, "enabled")->as_bool());
  EXPECT_EQ(json_string(doc, "config.default_location"), "上海");
  EXPECT_EQ(json_at(doc, "secrets_set")->as_array().size(), 1u);
  expect_error(put(base + "calculator", "{}", token), 404, "NOT_FOUND");

  ASSERT_EQ(post(base + "calculator", "", token).status, 201);
  res = get("/api/v1/bots/" + bot + "/plugins", token);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.body.find("your_weather_api_key"), std::string::npos);
  EXPECT_EQ(json_int(res.json(), "total"), 2);
  res = get(base + "weather", token);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json_string(res.json(), "name"), "天气查询");
  // The bot lists its plugins as the spec shows them.
  res = get("/api/v1/bots/" + bot, token);
  EXPECT_EQ(json_at(res.json(), "plugins")->as_array().size(), 2u);

  // Another user sees none of it.
  auto bob = register_user("bob");
  expect_error(get("/api/v1/bots/" + bot + "/plugins", bob), 404, "NOT_FOUND");
  expect_error(post(base + "datetime", "{}", bob), 404, "NOT_FOUND");

  res = del(base + "weather", token);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_TRUE(json_at(res.json(), "success")->as_bool());
  expect_error(del(base + "weather", token), 404, "NOT_FOUND");
  expect_error(get(base + "weather", token), 404, "NOT_FOUND");

  // Installations survive a restart.
  auto dir = server->data_dir();
  ASSERT_EQ(server->stop(), 0);
  server_process again({}, dir);
  ASSERT_TRUE(again.start()) << again.log();
  res = http_request("GET", again.base_url() + "/api/v1/bots/" + bot + "/plugins", {}, auth(token));
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json_int(res.json(), "total"), 1);
  EXPECT_EQ(json_string(res.json(), "plugins.0.plugin_id"), "calculator");
}

TEST_F(plugins_test, plugins_named_at_bot_creation_are_installed_with_defaults) {
  auto token = register_user("alice");
  // The spec's example: weather needs an api_key, so it waits, disabled, for one.
  auto bot = create_bot(token, R"({"name":"b","plugins":["weather","calculator"]})");
  auto res = get("/api/v1/bots/" + bot + "/plugins", token);
  ASSERT_EQ(res.status, 200) << res.body;
  auto doc = res.json();
  ASSERT_EQ(json_int(doc, "total"), 2);
  EXPECT_EQ(json_string(doc, "plugins.0.plugin_id"), "weather");
  EXPECT_FALSE(json_at(doc, "plugins.0.enabled")->as_bool());
  EXPECT_EQ(json_string(doc, "plugins.0.missing_config.0"), "api_key");
  EXPECT_EQ(json_string(doc, "plugins.0.config.base_url"),
            "https://api.openweathermap.org/data/2.5");
  EXPECT_TRUE(json_at(doc, "plugins.1.enabled")->as_bool());
  // Enabling needs the key; with it, it works.
  auto bad = put("/api/v1/bots/" + bot + "/plugins/weather", R"({"enabled":true})", token);
  expect_error(bad, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(bad.json(), "error.details.field"), "config.api_key");
  res = put("/api/v1/bots/" + bot + "/plugins/weather",
            R"({"enabled":true,"config":{"api_key":"k"}})", token);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_TRUE(json_at(res.json(), "enabled")->as_bool());

  // Updating the bot's list installs and uninstalls; kept plugins keep their settings.
  res = put("/api/v1/bots/" + bot, R"({"plugins":["weather","datetime"]})", token);
  ASSERT_EQ(res.status, 200) << res.body;
  res = get("/api/v1/bots/" + bot + "/plugins/weather", token);
  EXPECT_TRUE(json_at(res.json(), "enabled")->as_bool()) << res.body;
  expect_error(get("/api/v1/bots/" + bot + "/plugins/calculator", token), 404, "NOT_FOUND");
  EXPECT_EQ(get("/api/v1/bots/" + bot + "/plugins/datetime", token).status, 200);

  // Unknown plugins are refused, and nothing changes.
  bad = post("/api/v1/bots/", R"({"name":"c","plugins":["calculator","teleport"]})", token);
  expect_error(bad, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(bad.json(), "error.details.field"), "plugins");
  EXPECT_EQ(json_int(get("/api/v1/bots/", token).json(), "total"), 1);
}

TEST_F(plugins_test, the_model_calls_tools_and_answers_with_their_results) {
  auto token = register_user("alice");
  auto bot = tool_bot(token, "tools");
  auto conv = create_conversation(token, bot);
  auto res = send(token, conv, R"(call calculator {"expression":"(12.5 + 7) * 3 / 4"})");
  ASSERT_EQ(res.status, 201) << res.body;
  auto doc = res.json();
  auto content = json_string(doc, "bot_response.content");
  EXPECT_NE(content.find("\"result\":\"14.625\""), std::string::npos) << content;
  // The answer records the call and its result.
  EXPECT_EQ(json_string(doc, "bot_response.metadata.tool_calls.0.name"), "calculator");
  EXPECT_EQ(json_string(doc, "bot_response.metadata.tool_calls.0.arguments.expression"),
            "(12.5 + 7) * 3 / 4");
  EXPECT_TRUE(json_at(doc, "bot_response.metadata.tool_calls.0.ok")->as_bool());
  EXPECT_EQ(json_int(doc, "bot_response.metadata.tool_rounds"), 1);

  auto reqs = completions();
  ASSERT_EQ(reqs.size(), 2u);
  auto first = body_of(reqs[0]);
  auto& tools = json_at(first, "tools")->as_array();
  ASSERT_EQ(tools.size(), 2u);
  EXPECT_EQ(json_string(tools[0], "type"), "function");
  EXPECT_EQ(json_string(tools[0], "function.name"), "calculator");
  EXPECT_EQ(json_string(tools[0], "function.parameters.type"), "object");
  auto second = body_of(reqs[1]);
  auto& msgs = json_at(second, "messages")->as_array();
  ASSERT_GE(msgs.size(), 3u);
  auto& asked = msgs[msgs.size() - 2];
  EXPECT_EQ(json_string(asked, "role"), "assistant");
  EXPECT_EQ(json_string(asked, "tool_calls.0.function.name"), "calculator");
  EXPECT_EQ(json_string(asked, "tool_calls.0.id"), "call_0");
  auto& result = msgs.back();
  EXPECT_EQ(json_string(result, "role"), "tool");
  EXPECT_EQ(json_string(result, "tool_call_id"), "call_0");
  EXPECT_NE(json_string(result, "content").find("14.625"), std::string::npos);

  // The next prompt replays the call in the history.
  res = send(token, conv, "thanks");
  ASSERT_EQ(res.status, 201) << res.body;
  reqs = completions();
  auto third = body_of(reqs.back());
  bool replayed = false;
  for (auto& m : json_at(third, "messages")->as_array())
    replayed = replayed || json_string(m, "role") == "tool";
  EXPECT_TRUE(replayed) << reqs.back().body;
}

TEST_F(plugins_test, several_calls_unknown_tools_and_bad_arguments_go_back_to_the_model) {
  auto token = register_user("alice");
  auto bot = tool_bot(token, "tools");
  auto conv = create_conversation(token, bot);
  auto res = send(
      token, conv,
      R"(call calculator {"expression":"2^10"} ; call datetime {"operation":"add","datetime":"2024-01-31T10:00:00","timezone":"Asia/Shanghai","months":1} ; call teleport {} ; call calculator not json ; call calculator {"expression":"1/0"})");
  ASSERT_EQ(res.status, 201) << res.body;
  auto doc = res.json();
  auto content = json_string(doc, "bot_response.content");
  EXPECT_NE(content.find("\"result\":\"1024\""), std::string::npos) << content;
  // Calendar arithmetic in the zone: Jan 31 + 1 month is Feb 29 in a leap year.
  EXPECT_NE(content.find("2024-02-29T10:00:00+08:00"), std::string::npos) << content;
  EXPECT_NE(content.find("no tool named 'teleport'"), std::string::npos) << content;
  EXPECT_NE(content.find("must be a JSON object"), std::string::npos) << content;
  EXPECT_NE(content.find("division by zero"), std::string::npos) << content;
  auto& calls = json_at(doc, "bot_response.metadata.tool_calls")->as_array();
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_TRUE(json_at(calls[0], "ok")->as_bool());
  EXPECT_FALSE(json_at(calls[2], "ok")->as_bool());
  EXPECT_FALSE(json_at(calls[3], "ok")->as_bool());
  EXPECT_FALSE(json_at(calls[4], "ok")->as_bool());
}

TEST_F(plugins_test, a_model_that_keeps_calling_tools_is_stopped) {
  auto token = register_user("alice");
  auto bot = tool_bot(token, "tools-loop");
  auto conv = create_conversation(token, bot);
  auto res = send(token, conv, R"(call calculator {"expression":"1+1"})");
  ASSERT_EQ(res.status, 201) << res.body;
  auto doc = res.json();
  EXPECT_NE(json_string(doc, "bot_response.content").find("kept asking for tools"),
            std::string::npos)
      << res.body;
  EXPECT_EQ(json_int(doc, "bot_response.metadata.tool_rounds"), 5);
  auto reqs = completions();
  ASSERT_EQ(reqs.size(), 6u); // five rounds of tools, then one told to answer
  EXPECT_EQ(json_string(body_of(reqs.back()), "tool_choice"), "none");
  EXPECT_EQ(json_at(body_of(reqs[0]), "tool_choice"), nullptr);
}

TEST_F(plugins_test, anthropic_and_ollama_tool_calls) {
  auto token = register_user("alice");
  for (auto flavor : {"anthropic", "ollama"}) {
    SCOPED_TRACE(flavor);
    auto before = completions().size();
    auto bot = tool_bot(token, "tools", R"(["calculator"])", flavor);
    auto conv = create_conversation(token, bot);
    auto res = send(token, conv, R"(call calculator {"expression":"6*7"})");
    ASSERT_EQ(res.status, 201) << res.body;
    EXPECT_NE(json_string(res.json(), "bot_response.content").find("\"result\":\"42\""),
              std::string::npos)
        << res.body;
    auto reqs = completions();
    ASSERT_EQ(reqs.size(), before + 2);
    auto first = body_of(reqs[before]);
    auto second = body_of(reqs[before + 1]);
    auto& msgs = json_at(second, "messages")->as_array();
    if (std::string{flavor} == "anthropic") {
      EXPECT_EQ(json_string(first, "tools.0.name"), "calculator");
      EXPECT_EQ(json_string(first, "tools.0.input_schema.type"), "object");
      auto& asked = msgs[msgs.size() - 2];
      EXPECT_EQ(json_string(asked, "content.0.type"), "tool_use");
      EXPECT_EQ(json_string(asked, "content.0.input.expression"), "6*7");
      EXPECT_EQ(json_string(msgs.back(), "role"), "user");
      EXPECT_EQ(json_string(msgs.back(), "content.0.type"), "tool_result");
      EXPECT_EQ(json_string(msgs.back(), "content.0.tool_use_id"), "toolu_0");
    } else {
      EXPECT_EQ(json_string(first, "tools.0.function.name"), "calculator");
      auto& asked = msgs[msgs.size() - 2];
      EXPECT_EQ(json_string(asked, "tool_calls.0.function.arguments.expression"), "6*7");
      EXPECT_EQ(json_string(msgs.back(), "role"), "tool");
    }
  }
}

TEST_F(plugins_test, weather_calls_the_configured_api) {
  auto token = register_user("alice");
  auto bot = tool_bot(token, "tools", "[]");
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/plugins/weather", weather_config(), token).status, 201);
  auto conv = create_conversation(token, bot);
  auto res = send(token, conv, R"(call weather {})");
  ASSERT_EQ(res.status, 201) << res.body;
  auto content = json_string(res.json(), "bot_response.content");
  EXPECT_NE(content.find("\"location\":\"北京\""), std::string::npos) << content;
  EXPECT_NE(content.find("\"conditions\":\"晴\""), std::string::npos) << content;
  EXPECT_NE(content.find("\"temperature\":21.5"), std::string::npos) << content;
  bool asked = false;
  for (auto& r : fake.requests())
    if (r.path.find("/weather/data/2.5/weather?q=%E5%8C%97%E4%BA%AC&appid=good-key&units=metric") !=
        std::string::npos)
      asked = true;
  EXPECT_TRUE(asked);

  res = send(token, conv, R"(call weather {"location":"Atlantis"})");
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_NE(json_string(res.json(), "bot_response.content").find("does not know the place"),
            std::string::npos)
      << res.body;

  // A wrong key is the model's to explain, not a failed message.
  ASSERT_EQ(
      put("/api/v1/bots/" + bot + "/plugins/weather", R"({"config":{"api_key":"bad"}})", token)
          .status,
      200);
  res = send(token, conv, R"(call weather {"location":"London"})");
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_NE(json_string(res.json(), "bot_response.content").find("refused the plugin's api_key"),
            std::string::npos)
      << res.body;
}

TEST_F(plugins_test, a_slow_tool_times_out_without_blocking_the_conversation) {
  auto token = register_user("alice");
  auto bot = tool_bot(token, "tools", "[]");
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/plugins/weather", weather_config(), token).status, 201);
  auto conv = create_conversation(token, bot);
  auto res = send(token, conv, R"(call weather {"location":"Slowtown"})");
  ASSERT_EQ(res.status, 201) << res.body;
  auto doc = res.json();
  EXPECT_FALSE(json_at(doc, "bot_response.metadata.tool_calls.0.ok")->as_bool()) << res.body;
  auto result = json_string(doc, "bot_response.metadata.tool_calls.0.result");
  EXPECT_NE(result.find("did not answer within 1500 ms"), std::string::npos) << result;
  // The server is fine meanwhile and after.
  EXPECT_EQ(get("/api/v1/health").status, 200);
  res = send(token, conv, R"(call calculator {"expression":"1+2"})");
  ASSERT_EQ(res.status, 201) << res.body;
}

TEST_F(plugins_test, websocket_clients_see_tool_activity) {
  auto token = register_user("alice");
  auto bot = tool_bot(token, "tools");
  auto conv = create_conversation(token, bot);
  ws_client ws{server->port(), "/api/v1/ws/conversations/" + conv + "?token=" + token};
  ASSERT_EQ(ws.status(), 101);
  ASSERT_TRUE(ws.send_text(R"({"type":"user_message","content":)" +
                           quoted(R"(call calculator {"expression":"3*3"})") + "}"));
  std::vector<std::string> types;
  std::string streamed;
  std::string full;
  for (int i = 0; i < 100; ++i) {
    auto msg = ws.next_text();
    ASSERT_TRUE(msg.has_value());
    auto doc = chatagent::protocol::parse_json(*msg);
    ASSERT_TRUE(static_cast<bool>(doc)) << *msg;
    auto type = json_string(*doc, "type");
    types.push_back(type);
    if (type == "tool_call") {
      EXPECT_EQ(json_string(*doc, "tool"), "calculator");
      EXPECT_EQ(json_string(*doc, "arguments.expression"), "3*3");
      EXPECT_FALSE(json_string(*doc, "call_id").empty());
    } else if (type == "tool_result") {
      EXPECT_TRUE(json_at(*doc, "success")->as_bool());
      EXPECT_NE(json_string(*doc, "result").find("\"9\""), std::string::npos) << *msg;
    } else if (type == "stream_chunk") {
      streamed += json_string(*doc, "content");
    } else if (type == "stream_complete") {
      full = json_string(*doc, "full_content");
      break;
    }
  }
  auto at = [&](const std::string& t) {
    return std::find(types.begin(), types.end(), t) - types.begin();
  };
  ASSERT_LT(at("tool_call"), static_cast<long>(types.size()));
  EXPECT_LT(at("tool_call"), at("tool_result"));
  EXPECT_LT(at("tool_result"), at("stream_chunk"));
  EXPECT_EQ(streamed, full);
  EXPECT_NE(full.find("\"9\""), std::string::npos) << full;
}

namespace {

class guarded_plugins_test : public plugins_test {
 protected:
  env_list environment() override { return {}; } // the default: no private addresses
};

} // namespace

TEST_F(guarded_plugins_test, plugins_may_not_call_loopback_by_default) {
  auto token = register_user("alice");
  auto bot = tool_bot(token, "tools", "[]");
  ASSERT_EQ(post("/api/v1/bots/" + bot + "/plugins/weather", weather_config(), token).status, 201);
  auto conv = create_conversation(token, bot);
  auto res = send(token, conv, R"(call weather {"location":"London"})");
  ASSERT_EQ(res.status, 201) << res.body;
  auto result = json_string(res.json(), "bot_response.metadata.tool_calls.0.result");
  EXPECT_NE(result.find("not a public address"), std::string::npos) << result;
  for (auto& r : fake.requests())
    EXPECT_EQ(r.path.find("/weather?"), std::string::npos) << r.path;
}

namespace {

/// An order-status plugin declared over the API, calling the fake's `/hook/echo`.
std::string order_plugin(const fake_llm_server& fake, const std::string& method = "POST",
                         const std::string& path = "/hook/echo") {
  return R"({"id":"order_status","name":"订单查询","description":"Looks up an order by its number.",
    "endpoint":{"url":")" +
         fake.url(path) + R"(","method":")" + method +
         R"(","headers":{"X-Api-Key":"{{config.api_key}}"}},
    "parameters":{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]},
    "config_schema":{"api_key":{"type":"string","required":true,"secret":true,"description":"the shop's key"},
                     "region":{"type":"string","enum":["cn","eu"],"default":"cn"}}})";
}

} // namespace

TEST_F(plugins_test, users_declare_http_plugins_that_models_call) {
  auto token = register_user("alice");
  auto res = post("/api/v1/plugins", order_plugin(fake), token);
  ASSERT_EQ(res.status, 201) << res.body;
  auto doc = res.json();
  EXPECT_EQ(json_string(doc, "id"), "order_status");
  EXPECT_EQ(json_string(doc, "category"), "custom");
  EXPECT_FALSE(json_at(doc, "builtin")->as_bool());
  EXPECT_EQ(json_string(doc, "endpoint.method"), "POST");
  EXPECT_TRUE(json_at(doc, "config_schema.api_key.secret")->as_bool());
  EXPECT_EQ(json_string(doc, "config_schema.region.default"), "cn");

  // Listed for its owner only.
  auto listed = [&](const std::string& who) {
    auto all = get("/api/v1/plugins/available", who).json();
    for (auto& p : json_at(all, "plugins")->as_array())
      if (json_string(p, "id") == "order_status")
        return true;
    return false;
  };
  auto bob = register_user("bob");
  EXPECT_TRUE(listed(token));
  EXPECT_FALSE(listed(bob));
  expect_error(get("/api/v1/plugins/order_status", bob), 404, "NOT_FOUND");
  EXPECT_EQ(get("/api/v1/plugins/order_status", token).status, 200);

  // Installed like any plugin; the model calls it; the secret goes in the header.
  auto bot = tool_bot(token, "tools", "[]");
  auto install = post("/api/v1/bots/" + bot + "/plugins/order_status",
                      R"({"config":{"api_key":"shop-secret"}})", token);
  ASSERT_EQ(install.status, 201) << install.body;
  EXPECT_EQ(install.body.find("shop-secret"), std::string::npos);
  auto conv = create_conversation(token, bot);
  res = send(token, conv, R"(call order_status {"order_id":"A-1001"})");
  ASSERT_EQ(res.status, 201) << res.body;
  auto content = json_string(res.json(), "bot_response.content");
  EXPECT_NE(content.find(R"(\"order_id\":\"A-1001\")"), std::string::npos) << content;
  const fake_llm_server::request* hook = nullptr;
  auto reqs = fake.requests();
  for (auto& r : reqs)
    if (r.path == "/hook/echo")
      hook = &r;
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(hook->method, "POST");
  EXPECT_EQ(hook->headers.at("x-api-key"), "shop-secret");
  EXPECT_EQ(json_string(body_of(*hook), "order_id"), "A-1001");
  auto first = body_of(completions()[0]);
  EXPECT_EQ(json_string(first, "tools.0.function.name"), "order_status");
  EXPECT_EQ(json_string(first, "tools.0.function.description"), "Looks up an order by its number.");

  // GET sends the arguments in the query; a failing endpoint is the model's to explain.
  res =
      put("/api/v1/plugins/order_status",
          R"({"endpoint":{"url":")" + fake.url("/hook/echo-get") + R"(","method":"get"}})", token);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json_string(res.json(), "endpoint.method"), "GET");
  res = send(token, conv, R"(call order_status {"order_id":"B 2"})");
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_NE(json_string(res.json(), "bot_response.content").find("/hook/echo-get?order_id=B%202"),
            std::string::npos)
      << res.body;
  ASSERT_EQ(put("/api/v1/plugins/order_status",
                R"({"endpoint":{"url":")" + fake.url("/hook/fail") + R"("}})", token)
                .status,
            200);
  res = send(token, conv, R"(call order_status {"order_id":"C"})");
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_NE(json_string(res.json(), "bot_response.content").find("HTTP 500"), std::string::npos)
      << res.body;

  // Declarations survive a restart; deleting one takes the tool away from the bots.
  auto dir = server->data_dir();
  ASSERT_EQ(server->stop(), 0);
  server_process again({{"CHATAGENT_PLUGINS_ALLOW_PRIVATE_NETWORK", "1"}}, dir);
  ASSERT_TRUE(again.start()) << again.log();
  auto at = [&](const std::string& path) { return again.base_url() + path; };
  res = http_request("GET", at("/api/v1/plugins/order_status"), {}, auth(token));
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json_string(res.json(), "endpoint.url"), fake.url("/hook/fail"));
  res = http_request("DELETE", at("/api/v1/plugins/order_status"), {}, auth(token));
  ASSERT_EQ(res.status, 200) << res.body;
  res = http_request("POST", at("/api/v1/conversations/" + conv + "/messages"),
                     R"({"content":)" + quoted(R"(call order_status {"order_id":"D"})") + "}",
                     auth(token));
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(json_string(res.json(), "bot_response.content"),
            R"(Echo: call order_status {"order_id":"D"})");
  EXPECT_EQ(json_at(body_of(completions().back()), "tools"), nullptr);
  res = http_request("GET", at("/api/v1/bots/" + bot + "/plugins/order_status"), {}, auth(token));
  EXPECT_EQ(res.status, 200) << res.body; // the installation stays, inert
  EXPECT_FALSE(json_at(res.json(), "available")->as_bool()) << res.body;
}

TEST_F(plugins_test, declared_plugins_are_validated) {
  auto token = register_user("alice");
  auto check = [&](const std::string& body, long status, const std::string& code,
                   const std::string& field) {
    auto res = post("/api/v1/plugins", body, token);
    expect_error(res, status, code);
    if (!field.empty()) {
      EXPECT_EQ(json_string(res.json(), "error.details.field"), field) << res.body;
    }
  };
  auto with = [&](const std::string& members) {
    return R"({"id":"p1","endpoint":{"url":"https://example.com/x"})" + members + "}";
  };
  check(R"({"endpoint":{"url":"https://example.com"}})", 400, "VALIDATION_ERROR", "id");
  check(R"({"id":"Bad Id","endpoint":{"url":"https://example.com"}})", 400, "VALIDATION_ERROR",
        "id");
  check(R"({"id":"p1"})", 400, "VALIDATION_ERROR", "endpoint.url");
  check(R"({"id":"p1","endpoint":{"url":"ftp://example.com"}})", 400, "VALIDATION_ERROR",
        "endpoint.url");
  check(R"({"id":"p1","endpoint":{"url":"https://example.com","method":"TRACE"}})", 400,
        "VALIDATION_ERROR", "endpoint.method");
  check(with(R"(,"parameters":{"type":"string"})"), 400, "VALIDATION_ERROR", "parameters");
  check(with(R"(,"config_schema":{"k":{"type":"date"}})"), 400, "VALIDATION_ERROR",
        "config_schema.k.type");
  check(with(R"(,"config_schema":{"k":{"type":"integer","default":"x"}})"), 400, "VALIDATION_ERROR",
        "config_schema.k.default");
  check(with(R"(,"endpoint":{"url":"https://example.com","headers":{"X-A":1}})"), 400,
        "VALIDATION_ERROR", "endpoint.headers.X-A");
  check(R"({"id":"weather","endpoint":{"url":"https://example.com"}})", 409, "DUPLICATE_RESOURCE",
        "id");
  ASSERT_EQ(post("/api/v1/plugins", with(""), token).status, 201);
  check(with(""), 409, "DUPLICATE_RESOURCE", "id");
  expect_error(put("/api/v1/plugins/weather", "{}", token), 403, "FORBIDDEN");
  expect_error(del("/api/v1/plugins/calculator", token), 403, "FORBIDDEN");
  expect_error(del("/api/v1/plugins/nothing", token), 404, "NOT_FOUND");
}

TEST_F(plugins_test, the_offline_local_model_uses_the_bots_plugins) {
  auto token = register_user("alice");
  auto bot = create_bot(token, R"({"name":"Offline","plugins":["calculator","datetime"]})");
  ASSERT_EQ(put("/api/v1/bots/" + bot + "/plugins/datetime",
                R"({"config":{"default_timezone":"Asia/Shanghai"}})", token)
                .status,
            200);
  auto conv = create_conversation(token, bot);
  auto res = send(token, conv, "what is 1/3 + 1/6?");
  ASSERT_EQ(res.status, 201) << res.body;
  auto doc = res.json();
  EXPECT_EQ(json_string(doc, "bot_response.content"), "The result is 0.5.");
  EXPECT_EQ(json_string(doc, "bot_response.metadata.tool_calls.0.name"), "calculator");
  EXPECT_EQ(json_string(doc, "bot_response.metadata.tool_calls.0.arguments.expression"),
            "1/3 + 1/6");
  res = send(token, conv, "现在几点？");
  ASSERT_EQ(res.status, 201) << res.body;
  doc = res.json();
  EXPECT_NE(json_string(doc, "bot_response.content").find("+08:00"), std::string::npos) << res.body;
  EXPECT_EQ(json_string(doc, "bot_response.metadata.tool_calls.0.name"), "datetime");
  // Without the plugin it answers by itself.
  ASSERT_EQ(del("/api/v1/bots/" + bot + "/plugins/calculator", token).status, 200);
  res = send(token, conv, "what is 2+2?");
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(json_string(res.json(), "bot_response.content"), "The result is 4.");
  EXPECT_EQ(json_at(res.json(), "bot_response.metadata.tool_calls"), nullptr);
}
