#include "actors/builtin_plugins.hpp"
#include "actors/http_engine.hpp"
#include "actors/llm_wire.hpp"
#include "protocol/error.hpp"
#include "protocol/plugin_json.hpp"
#include "storage/chat_store.hpp"
#include "support/http_client.hpp"

#include <gtest/gtest.h>

using namespace chatagent;
using namespace chatagent::protocol;
using chatagent::test::json_at;
using chatagent::test::json_int;
using chatagent::test::json_string;

namespace {

const plugin_info& builtin(const std::string& id) {
  for (auto& p : actors::builtin_plugins())
    if (p.id == id)
      return p;
  throw std::runtime_error("no plugin " + id);
}

json_value parse(std::string_view text) {
  auto v = parse_json(text);
  EXPECT_TRUE(static_cast<bool>(v)) << text;
  return v ? std::move(*v) : json_value{};
}

std::string field_of(const caf::error& err) {
  return describe(err).field;
}

// 2024-07-01T12:00:00Z
constexpr int64_t july_noon_ms = 1719835200000;

} // namespace

// -- configuration against the schema ---------------------------------------------------

TEST(plugin_config, a_new_install_starts_from_the_defaults) {
  auto& weather = builtin("weather");
  auto patch = parse(R"({"api_key":"k","default_location":"北京"})");
  auto cfg = configure_plugin(weather, &patch, "", true);
  ASSERT_TRUE(cfg) << describe(cfg.error()).message;
  auto doc = parse(*cfg);
  EXPECT_EQ(json_string(doc, "api_key"), "k");
  EXPECT_EQ(json_string(doc, "units"), "metric");
  EXPECT_EQ(json_string(doc, "base_url"), "https://api.openweathermap.org/data/2.5");
  EXPECT_TRUE(missing_settings(weather, *cfg).empty());
}

TEST(plugin_config, errors_name_the_setting) {
  auto& weather = builtin("weather");
  auto check = [&](std::string_view patch_text, bool enabled, const std::string& field) {
    auto patch = parse(patch_text);
    auto cfg = configure_plugin(weather, &patch, "", enabled);
    ASSERT_FALSE(cfg) << patch_text;
    EXPECT_EQ(describe(cfg.error()).code, errc::validation_error);
    EXPECT_EQ(field_of(cfg.error()), field) << describe(cfg.error()).message;
  };
  check(R"({"default_location":"x"})", true, "config.api_key");       // required
  check(R"({"api_key":""})", true, "config.api_key");                 // empty is missing
  check(R"({"api_key":42})", false, "config.api_key");                // wrong type
  check(R"({"api_key":"k","units":"kelvin"})", true, "config.units"); // not a choice
  check(R"({"api_key":"k","colour":"red"})", true, "config.colour");  // unknown
  check(R"({"api_key":"k","lang":[1]})", true, "config.lang");        // wrong type
  // Disabled, a required setting may wait.
  auto patch = parse(R"({"default_location":"x"})");
  auto cfg = configure_plugin(weather, &patch, "", false);
  ASSERT_TRUE(cfg);
  EXPECT_EQ(missing_settings(weather, *cfg), std::vector<std::string>{"api_key"});
}

TEST(plugin_config, updates_merge_and_null_restores_the_default) {
  auto& weather = builtin("weather");
  auto stored = R"({"api_key":"secret","units":"imperial","default_location":"Paris"})";
  auto patch = parse(R"({"units":null,"default_location":"Lyon"})");
  auto cfg = configure_plugin(weather, &patch, stored, true);
  ASSERT_TRUE(cfg);
  auto doc = parse(*cfg);
  EXPECT_EQ(json_string(doc, "api_key"), "secret"); // kept without being sent
  EXPECT_EQ(json_string(doc, "units"), "metric");
  EXPECT_EQ(json_string(doc, "default_location"), "Lyon");
  // Nothing sent: nothing changes.
  auto same = configure_plugin(weather, nullptr, *cfg, true);
  ASSERT_TRUE(same);
  EXPECT_EQ(*same, *cfg);
  auto not_object = parse("[1]");
  EXPECT_EQ(field_of(configure_plugin(weather, &not_object, "", false).error()), "config");
}

TEST(plugin_config, the_api_shows_no_secret) {
  installed_plugin p;
  p.info = builtin("weather");
  p.install.plugin_id = "weather";
  p.install.config = R"({"api_key":"hidden-value","default_location":"北京"})";
  p.install.installed_at_ms = p.install.updated_at_ms = july_noon_ms;
  json_writer w;
  write_installed_plugin(w, bot_id{"bot_1"}, p);
  auto text = w.take();
  EXPECT_EQ(text.find("hidden-value"), std::string::npos) << text;
  auto doc = parse(text);
  EXPECT_EQ(json_string(doc, "config.default_location"), "北京");
  EXPECT_EQ(json_string(doc, "secrets_set.0"), "api_key");
  EXPECT_EQ(json_at(doc, "missing_config")->as_array().size(), 0u);
  EXPECT_EQ(json_string(doc, "installed_at"), "2024-07-01T12:00:00Z");
}

TEST(plugin_config, plugin_ids) {
  EXPECT_FALSE(check_plugin_id("weather"));
  EXPECT_FALSE(check_plugin_id("my_tool-2"));
  EXPECT_TRUE(check_plugin_id(""));
  EXPECT_TRUE(check_plugin_id("Weather"));
  EXPECT_TRUE(check_plugin_id("a b"));
  EXPECT_TRUE(check_plugin_id(std::string(65, 'a')));
}

// -- built-in tools -------------------------------------------------------------------

TEST(builtin_tools, calculator) {
  auto ok = actors::run_calculator(parse(R"({"expression":"1/3 + 1/6"})"));
  ASSERT_TRUE(ok.ok) << ok.content;
  auto doc = parse(ok.content);
  EXPECT_EQ(json_string(doc, "result"), "0.5");
  auto third = actors::run_calculator(parse(R"({"expression":"1/3"})"));
  EXPECT_EQ(json_string(parse(third.content), "fraction"), "1/3");
  auto bad = actors::run_calculator(parse(R"({"expression":"2 +"})"));
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.content.find("cannot evaluate"), std::string::npos);
  EXPECT_FALSE(actors::run_calculator(parse(R"({"expr":"1"})")).ok);
}

TEST(builtin_tools, time_zones) {
  using actors::offset_in;
  // 2024-07-01 and 2024-01-15, noon UTC.
  int64_t july = july_noon_ms / 1000;
  int64_t january = 1705320000;
  EXPECT_EQ(offset_in("Asia/Shanghai", july)->seconds, 8 * 3600);
  EXPECT_EQ(offset_in("America/New_York", july)->seconds, -4 * 3600);
  EXPECT_EQ(offset_in("America/New_York", july)->abbreviation, "EDT");
  EXPECT_EQ(offset_in("America/New_York", january)->seconds, -5 * 3600);
  EXPECT_EQ(offset_in("Europe/Berlin", january)->abbreviation, "CET");
  EXPECT_EQ(offset_in("UTC", july)->seconds, 0);
  EXPECT_EQ(offset_in("+05:30", july)->seconds, 5 * 3600 + 1800);
  EXPECT_EQ(offset_in("UTC-3", july)->seconds, -3 * 3600);
  EXPECT_FALSE(offset_in("Mars/Olympus", july));
  EXPECT_FALSE(offset_in("../../etc/passwd", july));
  EXPECT_FALSE(offset_in("+25:00", july));
}

TEST(builtin_tools, datetime_operations) {
  auto run = [](std::string_view args, std::string_view config = "{}") {
    return actors::run_datetime(parse(args), parse(config), july_noon_ms);
  };
  auto now = run(R"({"operation":"now","timezone":"Asia/Shanghai"})");
  ASSERT_TRUE(now.ok) << now.content;
  auto doc = parse(now.content);
  EXPECT_EQ(json_string(doc, "datetime"), "2024-07-01T20:00:00+08:00");
  EXPECT_EQ(json_string(doc, "weekday"), "Monday");
  EXPECT_EQ(json_string(doc, "utc_offset"), "+08:00");
  // The plugin's default zone.
  doc = parse(run(R"({"operation":"now"})", R"({"default_timezone":"America/New_York"})").content);
  EXPECT_EQ(json_string(doc, "datetime"), "2024-07-01T08:00:00-04:00");

  doc = parse(run(R"({"operation":"convert","datetime":"2024-07-01T09:30:00",
                     "timezone":"Asia/Shanghai","to_timezone":"Europe/Berlin"})")
                  .content);
  EXPECT_EQ(json_string(doc, "datetime"), "2024-07-01T03:30:00+02:00");

  // Months clamp to the month's end; days across a DST change keep the wall clock.
  doc = parse(run(R"({"operation":"add","datetime":"2023-01-31","months":1})").content);
  EXPECT_EQ(json_string(doc, "date"), "2023-02-28");
  doc = parse(run(R"({"operation":"add","datetime":"2024-03-09T12:00:00","timezone":
                     "America/New_York","days":1})")
                  .content);
  EXPECT_EQ(json_string(doc, "datetime"), "2024-03-10T13:00:00-04:00"); // 24 h later
  doc = parse(run(R"({"operation":"add","datetime":"2024-12-31T23:00:00Z","hours":2})").content);
  EXPECT_EQ(json_string(doc, "datetime"), "2025-01-01T01:00:00+00:00");

  doc = parse(run(R"({"operation":"diff","datetime":"2024-01-01","end":"2024-03-01"})").content);
  EXPECT_EQ(json_int(doc, "whole_days"), 60);

  EXPECT_FALSE(run(R"({"operation":"now","timezone":"Nowhere/City"})").ok);
  EXPECT_FALSE(run(R"({"operation":"convert","datetime":"2024-02-30"})").ok);
  EXPECT_FALSE(run(R"({"operation":"explode"})").ok);
  EXPECT_FALSE(run(R"({"operation":"add","datetime":"2024-01-01","months":1.5})").ok);
}

TEST(builtin_tools, weather_request_and_answer) {
  auto cfg = parse(R"({"api_key":"k&y","default_location":"北京","units":"metric","lang":"zh_cn",
                       "base_url":"http://api.example.com/data/2.5/"})");
  auto req = actors::build_weather_request(parse("{}"), cfg);
  ASSERT_TRUE(req.error.empty()) << req.error;
  EXPECT_EQ(req.url, "http://api.example.com/data/2.5/weather?q=%E5%8C%97%E4%BA%AC&appid=k%26y"
                     "&units=metric&lang=zh_cn");
  req = actors::build_weather_request(parse(R"({"location":"London,GB"})"), cfg);
  EXPECT_EQ(req.location, "London,GB");
  EXPECT_FALSE(
      actors::build_weather_request(parse("{}"), parse(R"({"api_key":"k"})")).error.empty());
  EXPECT_FALSE(
      actors::build_weather_request(parse(R"({"location":"x"})"), parse("{}")).error.empty());

  auto ok = actors::read_weather_answer(
      200,
      R"({"weather":[{"main":"Rain","description":"小雨"}],"main":{"temp":12.5,"humidity":80},
          "wind":{"speed":4.1},"name":"Hangzhou","sys":{"country":"CN"}})",
      "杭州");
  ASSERT_TRUE(ok.ok) << ok.content;
  auto doc = parse(ok.content);
  EXPECT_EQ(json_string(doc, "location"), "Hangzhou");
  EXPECT_EQ(json_string(doc, "conditions"), "小雨");
  EXPECT_EQ(json_at(doc, "temperature")->as_double(), 12.5);
  EXPECT_EQ(json_at(doc, "wind_speed")->as_double(), 4.1);
  EXPECT_FALSE(
      actors::read_weather_answer(401, R"({"cod":401,"message":"Invalid API key"})", "x").ok);
  EXPECT_NE(actors::read_weather_answer(404, R"({"message":"city not found"})", "Atlantis")
                .content.find("Atlantis"),
            std::string::npos);
  EXPECT_FALSE(actors::read_weather_answer(200, "not json", "x").ok);
  EXPECT_FALSE(actors::read_weather_answer(200, R"({"main":{}})", "x").ok);
}

TEST(builtin_tools, public_addresses) {
  for (auto ip : {"8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"})
    EXPECT_TRUE(actors::is_public_ip(ip)) << ip;
  for (auto ip :
       {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fd00::1", "fe80::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "ff02::1", "not an ip"})
    EXPECT_FALSE(actors::is_public_ip(ip)) << ip;
}

// -- tools on the wire ------------------------------------------------------------------

namespace {

llm_request tool_request(const std::string& provider) {
  llm_request req;
  req.config.provider = provider;
  req.config.base_url = "http://127.0.0.1:1/v1";
  req.config.model = "m";
  req.turns.push_back({"system", "Be brief."});
  req.turns.push_back({"user", "what is 6*7?"});
  llm_turn asked{"assistant", ""};
  asked.tool_calls.push_back({"call_1", "calculator", R"({"expression":"6*7"})"});
  req.turns.push_back(asked);
  llm_turn result{"tool", R"({"result":"42"})"};
  result.tool_call_id = "call_1";
  result.tool_name = "calculator";
  req.turns.push_back(result);
  req.tools.push_back({"calculator", "Evaluates", R"({"type":"object","properties":{}})"});
  return req;
}

std::vector<tool_call> parse_calls(actors::wire_format f, const std::vector<std::string>& pieces) {
  actors::stream_parser p{f};
  for (auto& piece : pieces) {
    auto err = p.feed(piece, [](std::string) {});
    EXPECT_FALSE(err) << describe(err).message;
  }
  return p.tool_calls();
}

} // namespace

TEST(tool_wire, openai_requests_and_streamed_calls) {
  auto req = tool_request("openai_compatible");
  req.tools_forbidden = true;
  auto wire = actors::build_request(req);
  ASSERT_TRUE(wire);
  auto body = parse(wire->body);
  EXPECT_EQ(json_string(body, "tools.0.type"), "function");
  EXPECT_EQ(json_string(body, "tools.0.function.name"), "calculator");
  EXPECT_EQ(json_string(body, "tool_choice"), "none");
  EXPECT_TRUE(json_at(body, "messages.2.content")->is_null());
  EXPECT_EQ(json_string(body, "messages.2.tool_calls.0.function.arguments"),
            R"({"expression":"6*7"})");
  EXPECT_EQ(json_string(body, "messages.3.role"), "tool");
  EXPECT_EQ(json_string(body, "messages.3.tool_call_id"), "call_1");

  auto calls = parse_calls(
      actors::wire_format::openai,
      {R"(data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"calculator","arguments":"{\"expr"}}]}}]})"
       "\n\n",
       R"(data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"datetime","arguments":"{}"}}]}}]})"
       "\n\n",
       R"(data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ession\":\"1\"}"}}]}}]})"
       "\n\n",
       "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"});
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].id, "call_a");
  EXPECT_EQ(calls[0].name, "calculator");
  EXPECT_EQ(calls[0].arguments, R"({"expression":"1"})");
  EXPECT_EQ(calls[1].name, "datetime");
}

TEST(tool_wire, anthropic_requests_and_streamed_calls) {
  auto wire = actors::build_request(tool_request("anthropic"));
  ASSERT_TRUE(wire);
  auto body = parse(wire->body);
  EXPECT_EQ(json_string(body, "system"), "Be brief.");
  EXPECT_EQ(json_string(body, "tools.0.name"), "calculator");
  EXPECT_EQ(json_string(body, "tools.0.input_schema.type"), "object");
  EXPECT_EQ(json_at(body, "tool_choice"), nullptr);
  EXPECT_EQ(json_string(body, "messages.1.content.0.type"), "tool_use");
  EXPECT_EQ(json_string(body, "messages.1.content.0.input.expression"), "6*7");
  EXPECT_EQ(json_string(body, "messages.2.role"), "user");
  EXPECT_EQ(json_string(body, "messages.2.content.0.tool_use_id"), "call_1");

  actors::stream_parser p{actors::wire_format::anthropic};
  std::string text;
  auto err = p.feed(
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me check.\"}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
      "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"calculator\","
      "\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
      "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"expression\\\":\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
      "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"2+2\\\"}\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,"
      "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"datetime\","
      "\"input\":{}}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
      "\"tool_use\"}}\n\n",
      [&](std::string t) { text += t; });
  ASSERT_FALSE(err);
  EXPECT_EQ(text, "Let me check.");
  EXPECT_EQ(p.finish_reason(), "tool_calls");
  ASSERT_EQ(p.tool_calls().size(), 2u);
  EXPECT_EQ(p.tool_calls()[0].id, "toolu_1");
  EXPECT_EQ(p.tool_calls()[0].arguments, R"({"expression":"2+2"})");
  EXPECT_EQ(p.tool_calls()[1].arguments, "{}");
}

TEST(tool_wire, ollama_requests_and_calls) {
  auto req = tool_request("ollama");
  auto wire = actors::build_request(req);
  ASSERT_TRUE(wire);
  auto body = parse(wire->body);
  EXPECT_EQ(json_string(body, "tools.0.function.name"), "calculator");
  EXPECT_EQ(json_string(body, "messages.2.tool_calls.0.function.arguments.expression"), "6*7");
  EXPECT_EQ(json_string(body, "messages.3.role"), "tool");
  EXPECT_EQ(json_string(body, "messages.3.tool_name"), "calculator");
  req.tools_forbidden = true; // Ollama has no tool_choice: the tools are left out
  EXPECT_EQ(json_at(parse(actors::build_request(req)->body), "tools"), nullptr);

  auto calls = parse_calls(
      actors::wire_format::ollama,
      {R"({"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"calculator","arguments":{"expression":"1+1"}}}]},"done":false})"
       "\n",
       R"({"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"})"
       "\n"});
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name, "calculator");
  EXPECT_EQ(calls[0].arguments, R"({"expression":"1+1"})");
}

// -- plugins users declare ------------------------------------------------------------

TEST(declared_plugins, a_declaration_is_read_and_merged) {
  plugin_info p;
  auto body = parse(R"({"id":"lookup","name":"Lookup","description":"Finds things.",
      "endpoint":{"url":"https://api.example.com/find/{{config.region}}","method":"get",
                  "headers":{"Authorization":"Bearer {{config.token}}"}},
      "parameters":{"type":"object","properties":{"q":{"type":"string"}}},
      "config_schema":{"token":{"type":"string","required":true,"secret":true},
                       "region":{"type":"string","enum":["cn","eu"],"default":"eu"},
                       "limit":{"type":"integer","default":5}}})");
  ASSERT_FALSE(apply_custom_plugin_json(p, body, true));
  EXPECT_EQ(p.id, "lookup");
  EXPECT_EQ(p.endpoint_method, "GET");
  EXPECT_EQ(p.tool_description, "Finds things.");
  ASSERT_EQ(p.config_schema.size(), 3u);
  EXPECT_TRUE(p.config_schema[0].secret);
  EXPECT_EQ(p.config_schema[1].choices, (std::vector<std::string>{"cn", "eu"}));
  EXPECT_EQ(p.config_schema[2].default_value, "5");
  // Its settings validate like a built-in plugin's.
  auto patch = parse(R"({"token":"t","limit":"many"})");
  auto cfg = configure_plugin(p, &patch, "", true);
  ASSERT_FALSE(cfg);
  EXPECT_EQ(describe(cfg.error()).field, "config.limit");
  // An update keeps what it does not name; the id cannot change.
  auto update = parse(R"({"id":"other","description":"Finds more."})");
  ASSERT_FALSE(apply_custom_plugin_json(p, update, false));
  EXPECT_EQ(p.id, "lookup");
  EXPECT_EQ(p.description, "Finds more.");
  EXPECT_EQ(p.endpoint_method, "GET");
  EXPECT_EQ(p.config_schema.size(), 3u);
}

TEST(declared_plugins, a_declaration_round_trips_through_storage) {
  plugin_info p;
  ASSERT_FALSE(apply_custom_plugin_json(
      p,
      parse(
          R"({"id":"hook","endpoint":{"url":"https://h.example.com","headers":{"X-K":"{{config.k}}"}},
                 "config_schema":{"k":{"type":"string","secret":true,"required":true,"description":"key"}}})"),
      true));
  p.owner = user_id{"usr_1"};
  p.created_at_ms = 1;
  p.updated_at_ms = 2;
  auto back = storage::decode_plugin(storage::encode(p));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "hook");
  EXPECT_EQ(back->owner.value, "usr_1");
  EXPECT_EQ(back->endpoint_url, "https://h.example.com");
  EXPECT_EQ(json_string(parse(back->endpoint_headers), "X-K"), "{{config.k}}");
  ASSERT_EQ(back->config_schema.size(), 1u);
  EXPECT_TRUE(back->config_schema[0].secret);
  EXPECT_TRUE(back->config_schema[0].required);
  EXPECT_EQ(back->updated_at_ms, 2);
  EXPECT_FALSE(storage::decode_plugin("{}"));
}
