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

TEST(json, escapes_wherever_the_character_falls_in_a_word) {
  // The writer checks eight bytes at a time: every special character at every offset, in
  // strings of every length around a word, next to multi-byte UTF-8.
  auto reference = [](std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c == '"')
        out += "\\\"";
      else if (c == '\\')
        out += "\\\\";
      else if (c == '\n')
        out += "\\n";
      else if (c == '\r')
        out += "\\r";
      else if (c == '\t')
        out += "\\t";
      else if (c == '\b')
        out += "\\b";
      else if (c == '\f')
        out += "\\f";
      else if (c < 0x20) {
        static constexpr char hex[] = "0123456789abcdef";
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
      } else
        out += static_cast<char>(c);
    }
    return out + "\"";
  };
  for (char special : {'"', '\\', '\n', '\x01', '\x1f', '\t'})
    for (size_t length = 1; length <= 20; ++length)
      for (size_t at = 0; at < length; ++at) {
        std::string text(length, 'a');
        text[at] = special;
        if (length > at + 4)
          text.replace(at + 1, 3, "中"); // three bytes of 0x80 and up after it
        std::string quoted;
        append_json_string(quoted, text);
        ASSERT_EQ(quoted, reference(text)) << length << " " << at;
      }
  for (size_t length = 0; length <= 20; ++length) {
    std::string text(length, 'x');
    std::string quoted = "prefix";
    append_json_string(quoted, text);
    EXPECT_EQ(quoted, "prefix" + reference(text));
  }
}

TEST(json, writer_separates_nested_containers) {
  json_writer w;
  w.begin_array().begin_object().end_object().begin_array().end_array().value(1);
  w.begin_object().key("a").begin_array().value(2).begin_object().end_object().end_array();
  w.key("b").raw("{}").end_object().end_array();
  EXPECT_EQ(w.str(), R"([{},[],1,{"a":[2,{}],"b":{}}])");
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
