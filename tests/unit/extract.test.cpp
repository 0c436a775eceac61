#include "actors/text_extract.hpp"
#include "protocol/error.hpp"
#include "support/documents.hpp"

#include <gtest/gtest.h>

using namespace chatagent::actors;
using chatagent::protocol::describe;
using chatagent::protocol::errc;

namespace {

std::string all_text(const extracted_text& t) {
  std::string out;
  for (auto& p : t.pages)
    out += p.text + "\n";
  return out;
}

errc code_of(const caf::expected<extracted_text>& r) {
  return describe(r.error()).code;
}

} // namespace

TEST(extract, plain_text_in_utf8_gbk_and_utf16) {
  auto t = extract_text("notes.txt", "text/plain", "\xEF\xBB\xBF第一行\n第二行");
  ASSERT_TRUE(t) << describe(t.error()).message;
  EXPECT_EQ(t->format, "txt");
  ASSERT_EQ(t->pages.size(), 1u);
  EXPECT_EQ(t->pages[0].number, 0);
  EXPECT_EQ(t->pages[0].text, "第一行\n第二行");
  // "中文" in GBK.
  auto gbk = extract_text("old.txt", "", "\xD6\xD0\xCE\xC4");
  ASSERT_TRUE(gbk);
  EXPECT_EQ(gbk->pages[0].text, "中文");
  auto utf16 = extract_text("u.txt", "", std::string{"\xFF\xFE\x2D\x4E\x87\x65", 6});
  ASSERT_TRUE(utf16);
  EXPECT_EQ(utf16->pages[0].text, "中文");
}

TEST(extract, markdown_keeps_its_text) {
  auto t = extract_text("guide.md", "", "# 配置指南\n\n1. 创建机器人\n");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->format, "markdown");
  EXPECT_NE(all_text(*t).find("创建机器人"), std::string::npos);
}

TEST(extract, html_loses_tags_scripts_and_entities) {
  auto t = extract_text("page.html", "text/html",
                        "<html><head><title>Guide &amp; FAQ</title><style>p{color:red}</style>"
                        "<script>var x = '<p>';</script></head><body><h1>配置</h1>"
                        "<p>Step&nbsp;1: open <b>settings</b> &#x2192; bots.</p><!-- hidden -->"
                        "<ul><li>one</li><li>two &lt;3</li></ul></body></html>");
  ASSERT_TRUE(t) << describe(t.error()).message;
  EXPECT_EQ(t->format, "html");
  EXPECT_EQ(t->title, "Guide & FAQ");
  auto text = all_text(*t);
  EXPECT_NE(text.find("配置\n\nStep 1: open settings \u2192 bots."), std::string::npos) << text;
  EXPECT_NE(text.find("one\n\ntwo <3"), std::string::npos) << text;
  EXPECT_EQ(text.find("color"), std::string::npos) << text;
  EXPECT_EQ(text.find("var x"), std::string::npos) << text;
  EXPECT_EQ(text.find("hidden"), std::string::npos) << text;
}

TEST(extract, pdf_pages_are_numbered) {
  auto pdf = chatagent::test::make_pdf(
      {{"Robot configuration steps:", "1. Create the robot (web platform)"},
       {"Page two talks about webhooks."}},
      "Configuration Guide");
  auto t = extract_text("manual.pdf", "application/pdf", pdf);
  ASSERT_TRUE(t) << describe(t.error()).message;
  EXPECT_EQ(t->format, "pdf");
  EXPECT_EQ(t->title, "Configuration Guide");
  ASSERT_EQ(t->pages.size(), 2u);
  EXPECT_EQ(t->pages[0].number, 1);
  EXPECT_NE(t->pages[0].text.find("Create the robot (web platform)"), std::string::npos)
      << t->pages[0].text;
  EXPECT_EQ(t->pages[1].number, 2);
  EXPECT_NE(t->pages[1].text.find("webhooks"), std::string::npos) << t->pages[1].text;
  // Recognized by its bytes without a name or type.
  EXPECT_TRUE(extract_text("", "", pdf));
}

TEST(extract, docx_paragraphs_and_title) {
  auto docx = chatagent::test::make_docx({"产品使用手册", "第一章：安装 & 配置"}, "手册");
  auto t = extract_text("manual.docx", "", docx);
  ASSERT_TRUE(t) << describe(t.error()).message;
  EXPECT_EQ(t->format, "docx");
  EXPECT_EQ(t->title, "手册");
  EXPECT_EQ(t->pages[0].text, "产品使用手册\n\n第一章：安装 & 配置");
}

TEST(extract, unsupported_and_broken_files_are_refused) {
  auto exe = extract_text("tool.exe", "", "MZ\x90");
  ASSERT_FALSE(exe);
  EXPECT_EQ(code_of(exe), errc::unsupported_media_type);
  EXPECT_NE(describe(exe.error()).message.find(".pdf"), std::string::npos);
  auto binary =
      extract_text("", "application/octet-stream", std::string{"\x00\x01\xff\xfe\x00", 5});
  ASSERT_FALSE(binary);
  EXPECT_EQ(code_of(binary), errc::unsupported_media_type);

  auto fake_pdf = extract_text("x.pdf", "", "this is not a pdf");
  ASSERT_FALSE(fake_pdf);
  EXPECT_EQ(code_of(fake_pdf), errc::validation_error);
  auto fake_docx = extract_text("x.docx", "", "PK\x03\x04 nope");
  ASSERT_FALSE(fake_docx);
  EXPECT_EQ(code_of(fake_docx), errc::validation_error);
  auto empty = extract_text("empty.txt", "", "  \n ");
  ASSERT_FALSE(empty);
  EXPECT_EQ(code_of(empty), errc::validation_error);
  auto nul = extract_text("bin.txt", "", std::string{"a\0b", 3});
  ASSERT_FALSE(nul);
  EXPECT_EQ(code_of(nul), errc::validation_error);
}
