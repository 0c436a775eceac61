#include "http/multipart.hpp"

#include <gtest/gtest.h>

using namespace chatagent::http;

TEST(multipart, boundary_comes_from_the_content_type) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc123"), "abc123");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data;boundary=\"a b:c\""), "a b:c");
  EXPECT_EQ(multipart_boundary("multipart/form-data; charset=utf-8; boundary=x"), "x");
  EXPECT_FALSE(multipart_boundary("application/json"));
  EXPECT_FALSE(multipart_boundary("multipart/form-data"));
  EXPECT_FALSE(multipart_boundary("multipart/mixed; boundary=x"));
}

TEST(multipart, parts_fields_and_files_as_curl_sends_them) {
  std::string body = "--XyZ\r\n"
                     "Content-Disposition: form-data; name=\"file\"; filename=\"手册.txt\"\r\n"
                     "Content-Type: text/plain\r\n"
                     "\r\n"
                     "line one\r\nline two\r\n"
                     "--XyZ\r\n"
                     "Content-Disposition: form-data; name=\"metadata\"\r\n"
                     "\r\n"
                     "{\"title\":\"产品使用手册\"}\r\n"
                     "--XyZ--\r\n";
  std::string error;
  auto parts = parse_multipart(body, "XyZ", error);
  ASSERT_TRUE(parts) << error;
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "file");
  EXPECT_EQ((*parts)[0].filename, "手册.txt");
  EXPECT_EQ((*parts)[0].content_type, "text/plain");
  EXPECT_EQ((*parts)[0].body, "line one\r\nline two");
  EXPECT_EQ((*parts)[1].name, "metadata");
  EXPECT_TRUE((*parts)[1].filename.empty());
  EXPECT_EQ((*parts)[1].body, "{\"title\":\"产品使用手册\"}");
}

TEST(multipart, binary_bodies_and_extended_file_names) {
  std::string payload{"\0\r\n--Xz\xff", 8}; // like the boundary, but not it
  std::string body = "preamble\r\n--Xy\r\n"
                     "content-disposition: form-data; name=file; "
                     "filename*=UTF-8''%E6%96%87%E6%A1%A3.pdf\r\n\r\n" +
                     payload + "\r\n--Xy--";
  std::string error;
  auto parts = parse_multipart(body, "Xy", error);
  ASSERT_TRUE(parts) << error;
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].filename, "文档.pdf");
  EXPECT_EQ((*parts)[0].body, payload);
}

TEST(multipart, malformed_bodies_are_refused_with_a_reason) {
  std::string error;
  EXPECT_FALSE(parse_multipart("no boundary here", "b", error));
  EXPECT_FALSE(error.empty());
  error.clear();
  EXPECT_FALSE(
      parse_multipart("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nabc", "b", error));
  EXPECT_NE(error.find("closing"), std::string::npos) << error;
  EXPECT_FALSE(parse_multipart("--b\r\nContent-Type: text/plain\r\n\r\nabc\r\n--b--", "b", error));
  EXPECT_NE(error.find("name"), std::string::npos) << error;
}
