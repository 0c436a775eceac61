#include "protocol/json.hpp"

#include "protocol/error.hpp"

#include <gtest/gtest.h>

using namespace chatagent::protocol;

TEST(json, parses_objects_in_order_with_all_types) {
  auto v = parse_json(R"({"s":"用户","i":-42,"d":1.5,"b":true,"n":null,"a":[1,"x"],"o":{"k":1}})");
  ASSERT_TRUE(v);
  ASSERT_TRUE(v->is_object());
  EXPECT_EQ(v->find("s")->as_string(), "用户");
  EXPECT_EQ(v->find("i")->as_int(), -42);
  EXPECT_DOUBLE_EQ(v->find("d")->as_double(), 1.5);
  EXPECT_TRUE(v->find("b")->as_bool());
  EXPECT_TRUE(v->find("n")->is_null());
  EXPECT_EQ(v->find("a")->as_array().size(), 2u);
  EXPECT_EQ(v->find("o")->find("k")->as_int(), 1);
  EXPECT_EQ(v->find("missing"), nullptr);
  EXPECT_EQ(v->as_object().front().first, "s");
}

TEST(json, rejects_malformed_input_with_a_validation_error) {
  for (auto text : {"", "{", "{\"a\":}", "[1,]", "nul", "{\"a\":1}x", "\"\xff\""}) {
    auto v = parse_json(text);
    ASSERT_FALSE(v) << text;
    EXPECT_EQ(describe(v.error()).code, errc::validation_error) << text;
  }
}

TEST(json, rejects_documents_nested_too_deeply) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_FALSE(parse_json(deep));
  std::string shallow(10, '[');
  shallow += std::string(10, ']');
  EXPECT_TRUE(parse_json(shallow));
}

TEST(json, writer_escapes_and_separates) {
  json_writer w;
  w.begin_object()
      .member("q", "a\"b\\c\n\x01")
      .member("n", 3)
      .member("f", false)
      .key("arr")
      .begin_array()
      .value(1)
      .value("x")
      .null()
      .end_array()
      .key("e")
      .begin_object()
      .end_object()
      .end_object();
  EXPECT_EQ(w.str(), R"({"q":"a\"b\\c\n\u0001","n":3,"f":false,"arr":[1,"x",null],"e":{}})");
}

TEST(json, every_character_survives_escaping) {
  std::string all;
  for (int c = 1; c < 0x80; ++c)
    all.push_back(static_cast<char>(c));
  all += "中文\"";
  for (auto text : {all, std::string{"\n"}, std::string{"plain"}, std::string{}}) {
    std::string quoted;
    append_json_string(quoted, text);
    auto v = parse_json(quoted);
    ASSERT_TRUE(v) << quoted;
    EXPECT_EQ(v->as_string(), text);
  }
}

TEST(json, round_trips_through_writer) {
  auto text = R"({"a":[1,2.5,"中文",{"b":null}],"c":true})";
  auto v = parse_json(text);
  ASSERT_TRUE(v);
  json_writer w;
  w.value(*v);
  EXPECT_EQ(w.str(), text);
}

TEST(json, big_unsigned_numbers_do_not_wrap) {
  auto v = parse_json("18446744073709551615");
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->is_integer());
  EXPECT_GT(v->as_double(), 1e19);
}
