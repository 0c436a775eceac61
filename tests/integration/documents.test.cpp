#include "support/documents.hpp"

#include "integration/fixture.hpp"
#include "protocol/error.hpp"
#include "storage/kv_store.hpp"
#include "support/fake_llm_server.hpp"
#include "support/ws_client.hpp"

#include <chrono>
#include <optional>
#include <thread>

using namespace chatagent::test;

namespace {

constexpr const char* boundary = "----chatagent-test-boundary-7MA4YWxk";

struct file_part {
  std::string filename;
  std::string content_type;
  std::string bytes;
};

std::string multipart_body(const std::optional<file_part>& file, const std::string& metadata) {
  std::string body;
  if (file) {
    body += std::string{"--"} + boundary + "\r\nContent-Disposition: form-data; name=\"file\"";
    if (!file->filename.empty())
      body += "; filename=\"" + file->filename + "\"";
    body += "\r\n";
    if (!file->content_type.empty())
      body += "Content-Type: " + file->content_type + "\r\n";
    body += "\r\n" + file->bytes + "\r\n";
  }
  if (!metadata.empty())
    body += std::string{"--"} + boundary +
            "\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n" + metadata + "\r\n";
  return body + "--" + boundary + "--\r\n";
}

class documents_test : public server_test {
 protected:
  std::string create_base(const std::string& token, const std::string& body) {
    auto res = post("/api/v1/knowledge/bases", body, token);
    EXPECT_EQ(res.status, 201) << res.body;
    return json_string(res.json(), "id");
  }

  http_result upload(const std::string& token, const std::string& kb, const file_part& file,
                     const std::string& metadata = {}) {
    auto headers = auth(token);
    headers.push_back(std::string{"Content-Type: multipart/form-data; boundary="} + boundary);
    return http_request("POST", url("/api/v1/knowledge/bases/" + kb + "/documents"),
                        multipart_body(file, metadata), headers);
  }

  /// Uploads and waits until ingestion ends; returns the document as it ended.
  chatagent::protocol::json_value ingest(const std::string& token, const std::string& kb,
                                         const file_part& file, const std::string& metadata = {}) {
    auto res = upload(token, kb, file, metadata);
    EXPECT_EQ(res.status, 201) << res.body;
    auto id = json_string(res.json(), "id");
    return wait_done(token, kb, id);
  }

  chatagent::protocol::json_value wait_done(const std::string& token, const std::string& kb,
                                            const std::string& doc) {
    // Bounded by attempts, not by a time to meet: ingestion of these small files takes
    // milliseconds, the bound only keeps a broken build from hanging.
    for (int attempt = 0; attempt < 600; ++attempt) {
      auto res = get("/api/v1/knowledge/bases/" + kb + "/documents/" + doc, token);
      EXPECT_EQ(res.status, 200) << res.body;
      auto d = res.json();
      if (json_string(d, "status") != "processing")
        return d;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "document " << doc << " is still processing";
    return {};
  }

  chatagent::protocol::json_value search(const std::string& token, const std::string& kb,
                                         const std::string& body, long status = 200) {
    auto res = post("/api/v1/knowledge/bases/" + kb + "/search", body, token);
    EXPECT_EQ(res.status, status) << res.body;
    return res.json();
  }

  static const chatagent::protocol::json_value::array_t&
  results(const chatagent::protocol::json_value& v) {
    static const chatagent::protocol::json_value::array_t none;
    auto r = json_at(v, "results");
    return r && r->is_array() ? r->as_array() : none;
  }
};

const std::string zh_text = "机器人配置步骤：1. 创建机器人。2. 选择平台，例如网页或 Telegram。"
                            "3. 填写模型参数。\n\n"
                            "退款政策：购买后七天内可以申请全额退款，需要提供订单号。\n\n"
                            "Error code E-4012 means the API key has expired.";

} // namespace

TEST_F(documents_test, every_format_is_ingested_and_found) {
  auto token = register_user("alice");
  auto kb = create_base(token, R"({"name":"manuals","chunk_size":300,"chunk_overlap":50})");

  auto txt = ingest(token, kb, {"faq.txt", "text/plain", zh_text}, R"({"category":"faq"})");
  EXPECT_EQ(json_string(txt, "status"), "ready") << json_string(txt, "error");
  EXPECT_EQ(json_string(txt, "format"), "txt");
  EXPECT_EQ(json_int(txt, "progress"), 100);
  EXPECT_GE(json_int(txt, "chunk_count"), 1);
  EXPECT_EQ(json_string(txt, "title"), "faq.txt");

  auto md = ingest(token, kb,
                   {"guide.md", "",
                    "# Webhooks\n\nTo configure a webhook, set its URL and the "
                    "signing secret in the bot's platform_config."},
                   R"({"title":"Webhook guide","category":"configuration"})");
  EXPECT_EQ(json_string(md, "status"), "ready");
  EXPECT_EQ(json_string(md, "title"), "Webhook guide");
  EXPECT_EQ(json_string(md, "metadata.category"), "configuration");

  auto html =
      ingest(token, kb,
             {"hours.html", "text/html",
              "<html><head><title>Office hours</title></head><body><p>We are open "
              "Monday to Friday, nine to five.</p><script>ignored()</script></body></html>"});
  EXPECT_EQ(json_string(html, "status"), "ready");
  EXPECT_EQ(json_string(html, "title"), "Office hours");

  auto pdf = ingest(token, kb,
                    {"manual.pdf", "application/pdf",
                     make_pdf({{"Installation: run the installer."},
                               {"Troubleshooting: error E-7781 means the disk is full."}},
                              "Admin Manual")});
  EXPECT_EQ(json_string(pdf, "status"), "ready") << json_string(pdf, "error");
  EXPECT_EQ(json_string(pdf, "title"), "Admin Manual");
  EXPECT_EQ(json_int(pdf, "page_count"), 2);

  auto docx = ingest(
      token, kb, {"手册.docx", "", make_docx({"产品使用手册", "第一章：安装步骤和系统要求。"})});
  EXPECT_EQ(json_string(docx, "status"), "ready") << json_string(docx, "error");
  EXPECT_EQ(json_string(docx, "source"), "手册.docx");

  auto base = get("/api/v1/knowledge/bases/" + kb, token).json();
  EXPECT_EQ(json_int(base, "document_count"), 5);
  EXPECT_GE(json_int(base, "chunk_count"), 5);
  auto list = get("/api/v1/knowledge/bases/" + kb + "/documents", token).json();
  EXPECT_EQ(json_int(list, "total"), 5);

  // Chinese, from the plain text file, best first, as the API document shows it.
  auto zh = search(token, kb, R"({"query":"如何配置机器人？","top_k":3})");
  ASSERT_FALSE(results(zh).empty());
  EXPECT_NE(json_string(results(zh)[0], "content").find("机器人配置步骤"), std::string::npos);
  EXPECT_EQ(json_string(results(zh)[0], "metadata.source"), "faq.txt");
  EXPECT_EQ(json_int(zh, "total"), static_cast<int64_t>(results(zh).size()));
  ASSERT_NE(json_at(zh, "query_time"), nullptr);
  EXPECT_TRUE(json_at(zh, "query_time")->is_number());
  double last = 1.0;
  for (auto& r : results(zh)) {
    auto s = json_at(r, "score")->as_double();
    EXPECT_GE(s, 0.0);
    EXPECT_LE(s, last);
    last = s;
  }
  // English, from the PDF's second page; an exact code is found by its terms.
  auto code = search(token, kb, R"({"query":"E-7781","top_k":1})");
  ASSERT_EQ(results(code).size(), 1u);
  EXPECT_NE(json_string(results(code)[0], "content").find("disk is full"), std::string::npos);
  EXPECT_EQ(json_int(results(code)[0], "metadata.page"), 2);
  EXPECT_EQ(json_string(results(code)[0], "metadata.title"), "Admin Manual");
  EXPECT_GT(json_at(results(code)[0], "score")->as_double(), 0.6);
  auto on_page = search(token, kb, R"({"query":"disk full","filters":{"page":2}})");
  ASSERT_FALSE(results(on_page).empty());
  for (auto& r : results(on_page))
    EXPECT_EQ(json_int(r, "metadata.page"), 2);
  auto hook = search(token, kb, R"({"query":"webhook configuration","top_k":1})");
  ASSERT_EQ(results(hook).size(), 1u);
  EXPECT_EQ(json_string(results(hook)[0], "metadata.source"), "guide.md");
  auto install = search(token, kb, R"({"query":"安装步骤","top_k":1})");
  ASSERT_EQ(results(install).size(), 1u);
  EXPECT_EQ(json_string(results(install)[0], "metadata.source"), "手册.docx");
}

TEST_F(documents_test, filters_threshold_and_top_k) {
  auto token = register_user("alice");
  auto kb = create_base(token, R"({"name":"kb"})");
  ingest(token, kb, {"a.txt", "", "Refunds are possible within seven days."},
         R"({"category":"billing","lang":"en"})");
  ingest(token, kb, {"b.txt", "", "Refund requests need the order number."},
         R"({"category":"support","lang":"en"})");
  ingest(token, kb, {"c.txt", "", "退款需要订单号。"}, R"({"category":"support","lang":"zh"})");

  auto all = search(token, kb, R"({"query":"refund order","top_k":10})");
  EXPECT_EQ(results(all).size(), 3u);
  auto billing = search(token, kb, R"({"query":"refund","filters":{"category":"billing"}})");
  ASSERT_EQ(results(billing).size(), 1u);
  EXPECT_EQ(json_string(results(billing)[0], "metadata.source"), "a.txt");
  auto any_of = search(token, kb, R"({"query":"refund","filters":{"lang":["zh","fr"]}})");
  ASSERT_EQ(results(any_of).size(), 1u);
  EXPECT_EQ(json_string(results(any_of)[0], "metadata.source"), "c.txt");
  auto by_source = search(token, kb, R"({"query":"refund","filters":{"source":"b.txt"}})");
  ASSERT_EQ(results(by_source).size(), 1u);
  EXPECT_TRUE(
      results(search(token, kb, R"({"query":"refund","filters":{"category":"none"}})")).empty());
  // A chunk's place: each document here is one chunk, the first (chunk_index 0).
  auto first =
      search(token, kb, R"({"query":"refund order","filters":{"chunk_index":0,"lang":"en"}})");
  EXPECT_EQ(results(first).size(), 2u);
  EXPECT_TRUE(
      results(search(token, kb, R"({"query":"refund","filters":{"chunk_index":[1,2]}})")).empty());
  EXPECT_TRUE(
      results(search(token, kb, R"({"query":"refund","filters":{"chunk_index":"0"}})")).empty());
  EXPECT_EQ(results(search(token, kb, R"({"query":"refund order","top_k":1})")).size(), 1u);
  auto found = search(token, kb, R"({"query":"refund","score_threshold":0.5})");
  for (auto& r : results(found))
    EXPECT_GE(json_at(r, "score")->as_double(), 0.5);
  EXPECT_TRUE(
      results(search(token, kb, R"({"query":"zebra giraffe","score_threshold":0.3})")).empty());

  for (auto body :
       {R"({})", R"({"query":""})", R"({"query":"x","top_k":0})", R"({"query":"x","top_k":101})",
        R"({"query":"x","score_threshold":1.5})", R"({"query":"x","filters":"category"})"}) {
    auto res = post("/api/v1/knowledge/bases/" + kb + "/search", body, token);
    expect_error(res, 400, "VALIDATION_ERROR");
  }
}

TEST_F(documents_test, the_same_file_twice_adds_nothing) {
  auto token = register_user("alice");
  auto kb = create_base(token, R"({"name":"kb"})");
  auto first = ingest(token, kb, {"faq.txt", "", zh_text});
  auto again = upload(token, kb, {"copy-of-faq.txt", "", zh_text});
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json_string(again.json(), "id"), json_string(first, "id"));
  auto base = get("/api/v1/knowledge/bases/" + kb, token).json();
  EXPECT_EQ(json_int(base, "document_count"), 1);
  EXPECT_EQ(json_int(base, "chunk_count"), json_int(first, "chunk_count"));
}

TEST_F(documents_test, bad_uploads_are_refused_and_change_nothing) {
  auto token = register_user("alice");
  auto kb = create_base(token, R"({"name":"kb"})");
  auto exe = upload(token, kb, {"setup.exe", "application/octet-stream", "MZ\x90\x00binary"});
  expect_error(exe, 415, "UNSUPPORTED_MEDIA_TYPE");
  EXPECT_NE(exe.body.find(".pdf"), std::string::npos);
  auto broken = upload(token, kb, {"broken.pdf", "application/pdf", "%PDF-1.4 garbage"});
  expect_error(broken, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(broken.json(), "error.details.field"), "file");
  expect_error(upload(token, kb, {"empty.txt", "", "   \n"}), 400, "VALIDATION_ERROR");
  auto no_file =
      http_request("POST", url("/api/v1/knowledge/bases/" + kb + "/documents"),
                   multipart_body(std::nullopt, R"({"title":"x"})"),
                   {"Authorization: Bearer " + token,
                    std::string{"Content-Type: multipart/form-data; boundary="} + boundary});
  expect_error(no_file, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(no_file.json(), "error.details.field"), "file");
  auto bad_meta = upload(token, kb, {"a.txt", "", "text"}, "not json");
  expect_error(bad_meta, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_string(bad_meta.json(), "error.details.field"), "metadata");
  auto json_upload = post("/api/v1/knowledge/bases/" + kb + "/documents", R"({"file":"x"})", token);
  expect_error(json_upload, 415, "UNSUPPORTED_MEDIA_TYPE");
  auto truncated = http_request(
      "POST", url("/api/v1/knowledge/bases/" + kb + "/documents"),
      std::string{"--"} + boundary + "\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
      {"Authorization: Bearer " + token,
       std::string{"Content-Type: multipart/form-data; boundary="} + boundary});
  expect_error(truncated, 400, "VALIDATION_ERROR");

  auto base = get("/api/v1/knowledge/bases/" + kb, token).json();
  EXPECT_EQ(json_int(base, "document_count"), 0);
  EXPECT_EQ(json_int(get("/api/v1/knowledge/bases/" + kb + "/documents", token).json(), "total"),
            0);
}

TEST_F(documents_test, deleting_documents_and_bases_removes_their_chunks) {
  auto token = register_user("alice");
  auto kb = create_base(token, R"({"name":"kb"})");
  auto keep = ingest(token, kb, {"keep.txt", "", "Pineapples grow in warm places."});
  auto gone = ingest(token, kb, {"gone.txt", "", "Error code E-4012 means the key expired."});
  auto gone_id = json_string(gone, "id");
  auto res = del("/api/v1/knowledge/bases/" + kb + "/documents/" + gone_id, token);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_TRUE(json_at(res.json(), "success")->as_bool());
  expect_error(get("/api/v1/knowledge/bases/" + kb + "/documents/" + gone_id, token), 404,
               "NOT_FOUND");
  auto found = search(token, kb, R"({"query":"E-4012","top_k":10})");
  for (auto& r : results(found))
    EXPECT_EQ(json_string(r, "metadata.source"), "keep.txt");
  auto base = get("/api/v1/knowledge/bases/" + kb, token).json();
  EXPECT_EQ(json_int(base, "document_count"), 1);
  EXPECT_EQ(json_int(base, "chunk_count"), json_int(keep, "chunk_count"));
  // The same file can come back after its deletion.
  auto back = ingest(token, kb, {"gone.txt", "", "Error code E-4012 means the key expired."});
  EXPECT_EQ(json_string(back, "status"), "ready");
  EXPECT_NE(json_string(back, "id"), gone_id);

  ASSERT_EQ(del("/api/v1/knowledge/bases/" + kb, token).status, 200);
  expect_error(post("/api/v1/knowledge/bases/" + kb + "/search", R"({"query":"E-4012"})", token),
               404, "NOT_FOUND");
}

TEST_F(documents_test, other_users_see_nothing) {
  auto alice = register_user("alice");
  auto bob = register_user("bob");
  auto kb = create_base(alice, R"({"name":"private"})");
  auto doc = ingest(alice, kb, {"secret.txt", "", "The launch code is 0000."});
  auto doc_id = json_string(doc, "id");
  expect_error(upload(bob, kb, {"x.txt", "", "mine"}), 404, "NOT_FOUND");
  expect_error(get("/api/v1/knowledge/bases/" + kb + "/documents", bob), 404, "NOT_FOUND");
  expect_error(get("/api/v1/knowledge/bases/" + kb + "/documents/" + doc_id, bob), 404,
               "NOT_FOUND");
  expect_error(del("/api/v1/knowledge/bases/" + kb + "/documents/" + doc_id, bob), 404,
               "NOT_FOUND");
  expect_error(post("/api/v1/knowledge/bases/" + kb + "/search", R"({"query":"launch"})", bob), 404,
               "NOT_FOUND");
  EXPECT_EQ(results(search(alice, kb, R"({"query":"launch code"})")).size(), 1u);
}

TEST_F(documents_test, indexes_come_back_after_a_crash) {
  auto token = register_user("alice");
  auto kb = create_base(token, R"({"name":"kb","chunk_size":100,"chunk_overlap":20})");
  auto doc = ingest(token, kb, {"faq.txt", "", zh_text}, R"({"category":"faq"})");
  ASSERT_EQ(json_string(doc, "status"), "ready");
  auto before = search(token, kb, R"({"query":"退款政策","top_k":2})");
  ASSERT_FALSE(results(before).empty());
  auto dir = server->data_dir();
  server->kill9();

  server_process again({}, dir);
  ASSERT_TRUE(again.start()) << again.log();
  auto res = http_request("POST", again.base_url() + "/api/v1/knowledge/bases/" + kb + "/search",
                          R"({"query":"退款政策","top_k":2})", auth(token));
  ASSERT_EQ(res.status, 200) << res.body;
  auto after = res.json();
  ASSERT_EQ(results(after).size(), results(before).size());
  EXPECT_EQ(json_string(results(after)[0], "content"), json_string(results(before)[0], "content"));
  EXPECT_EQ(json_string(results(after)[0], "metadata.category"), "faq");
  auto d = http_request("GET",
                        again.base_url() + "/api/v1/knowledge/bases/" + kb + "/documents/" +
                            json_string(doc, "id"),
                        {}, auth(token))
               .json();
  EXPECT_EQ(json_string(d, "status"), "ready");
  EXPECT_EQ(json_int(d, "chunk_count"), json_int(doc, "chunk_count"));
  EXPECT_EQ(again.stop(), 0) << again.log();
}

namespace {

class small_uploads_test : public documents_test {
 protected:
  env_list environment() override { return {{"CHATAGENT_MAX_UPLOAD_BYTES", "4096"}}; }
};

} // namespace

TEST_F(small_uploads_test, uploads_over_the_limit_are_refused) {
  auto token = register_user("alice");
  auto kb = create_base(token, R"({"name":"kb"})");
  auto res = upload(token, kb, {"big.txt", "", std::string(8000, 'a')});
  expect_error(res, 413, "PAYLOAD_TOO_LARGE");
  auto ok = upload(token, kb, {"small.txt", "", std::string(1000, 'a') + " end"});
  EXPECT_EQ(ok.status, 201) << ok.body;
}

namespace {

/// A server that searches bases of 300 chunks and more by clusters.
class clustered_search_test : public documents_test {
 protected:
  env_list environment() override { return {{"CHATAGENT_KNOWLEDGE_CLUSTERS_FROM", "300"}}; }

  /// Waits (bounded by attempts) until `process` logged its `n`-th cluster build.
  static bool clusters_built(const server_process& process, size_t n) {
    for (int attempt = 0; attempt < 600; ++attempt) {
      auto log = process.log();
      size_t count = 0;
      for (auto at = log.find("clusters (k-means"); at != std::string::npos;
           at = log.find("clusters (k-means", at + 1))
        ++count;
      if (count >= n)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
};

/// 500 paragraphs, one chunk each at chunk_size 120, each with its own error code.
std::string ticket_text() {
  static const char* topics[] = {"billing", "login", "webhook", "export", "search"};
  std::string text;
  for (int i = 0; i < 500; ++i)
    text += "Ticket about " + std::string{topics[i % 5]} + ": error code E-" +
            std::to_string(5000 + i) + " appears when the " + topics[(i * 7) % 5] +
            " service restarts.\n\n";
  return text;
}

} // namespace

TEST_F(clustered_search_test, large_bases_are_searched_by_clusters_and_reload_them) {
  auto token = register_user("alice");
  auto kb = create_base(token, R"({"name":"tickets","chunk_size":120,"chunk_overlap":0})");
  auto doc = ingest(token, kb, {"tickets.txt", "", ticket_text()});
  ASSERT_EQ(json_string(doc, "status"), "ready") << json_string(doc, "error");
  ASSERT_GE(json_int(doc, "chunk_count"), 300);
  ASSERT_TRUE(clusters_built(*server, 1)) << server->log();
  for (int code : {5000, 5123, 5499}) {
    auto res = post("/api/v1/knowledge/bases/" + kb + "/search",
                    R"({"query":"error code E-)" + std::to_string(code) + R"(","top_k":3})", token);
    ASSERT_EQ(res.status, 200) << res.body;
    auto found = res.json();
    ASSERT_FALSE(results(found).empty()) << res.body;
    EXPECT_NE(json_string(results(found)[0], "content").find("E-" + std::to_string(code)),
              std::string::npos)
        << res.body;
  }
  // A document added once the clusters exist is found too.
  auto more =
      ingest(token, kb, {"new.txt", "", "Ticket about invoices: error code E-9999 is new."});
  ASSERT_EQ(json_string(more, "status"), "ready");
  auto fresh = search(token, kb, R"({"query":"E-9999","top_k":1})");
  ASSERT_EQ(results(fresh).size(), 1u);
  EXPECT_EQ(json_string(results(fresh)[0], "metadata.document_id"), json_string(more, "id"));

  // After a restart the index is loaded and clustered again, in the background.
  auto dir = server->data_dir();
  ASSERT_EQ(server->stop(), 0) << server->log();
  server_process again({{"CHATAGENT_KNOWLEDGE_CLUSTERS_FROM", "300"}}, dir);
  ASSERT_TRUE(again.start()) << again.log();
  ASSERT_TRUE(clusters_built(again, 1)) << again.log();
  auto res = http_request("POST", again.base_url() + "/api/v1/knowledge/bases/" + kb + "/search",
                          R"({"query":"error code E-5321","top_k":1})", auth(token));
  ASSERT_EQ(res.status, 200) << res.body;
  auto after = res.json();
  ASSERT_EQ(results(after).size(), 1u) << res.body;
  EXPECT_NE(json_string(results(after)[0], "content").find("E-5321"), std::string::npos);
  EXPECT_EQ(again.stop(), 0) << again.log();
}

namespace {

class rag_test : public documents_test {
 protected:
  fake_llm_server fake;

  /// A base embedded by the fake's `slow` model: 300 ms per request of 64 chunks.
  std::string slow_base(const std::string& token) {
    return create_base(
        token,
        R"({"name":"slow","chunk_size":100,"chunk_overlap":0,"embedding_model":"slow","embedding_config":{"provider":"openai_compatible","base_url":")" +
            fake.url("/v1") + R"("}})");
  }

  /// ~500 chunks at chunk_size 100: eight embedding requests of 64.
  static std::string long_text() {
    std::string text;
    for (int i = 0; i < 500; ++i)
      text += "Sentence number " + std::to_string(i) + " of a long document about llamas. ";
    return text;
  }

  std::string bot_with(const std::string& token, const std::string& bases) {
    return create_bot(token, R"({"name":"support","knowledge_base_ids":)" + bases +
                                 R"(,"llm_config":{"provider":"openai_compatible","base_url":")" +
                                 fake.url("/v1") + R"(","model":"m"}})");
  }
};

} // namespace

TEST_F(rag_test, the_model_gets_the_passages_and_the_reply_names_its_sources) {
  auto token = register_user("alice");
  auto kb = create_base(token, R"({"name":"policies"})");
  ingest(token, kb, {"refunds.txt", "", "退款政策：购买后七天内可以申请全额退款，需要提供订单号。"},
         R"({"title":"退款政策"})");
  ingest(token, kb, {"hours.txt", "", "Office hours are Monday to Friday, nine to five."});
  // A missing base and another user's base are ignored.
  auto bob = register_user("bob");
  auto bobs = create_base(bob, R"({"name":"bob's"})");
  ingest(bob, bobs, {"bob.txt", "", "退款政策：Bob 的秘密政策。"});
  auto bot = bot_with(token, R"([")" + kb + R"(","kb_missing",")" + bobs + R"("])");
  auto conv = create_conversation(token, bot);

  auto res = post("/api/v1/conversations/" + conv + "/messages",
                  R"({"content":"退款政策是什么？"})", token);
  ASSERT_EQ(res.status, 201) << res.body;
  auto reply = res.json();
  ASSERT_NE(json_at(reply, "bot_response.metadata.sources"), nullptr) << res.body;
  auto& sources = json_at(reply, "bot_response.metadata.sources")->as_array();
  ASSERT_FALSE(sources.empty());
  EXPECT_EQ(json_string(sources[0], "source"), "refunds.txt");
  EXPECT_EQ(json_string(sources[0], "title"), "退款政策");
  EXPECT_EQ(json_string(sources[0], "knowledge_base_id"), kb);
  EXPECT_EQ(json_int(sources[0], "index"), 1);
  for (auto& s : sources)
    EXPECT_EQ(json_string(s, "knowledge_base_id"), kb); // never Bob's

  // What the provider received: the passage, numbered, before the question.
  auto sent = fake.requests().back().body;
  auto doc = chatagent::protocol::parse_json(sent);
  ASSERT_TRUE(doc) << sent;
  auto& messages = json_at(*doc, "messages")->as_array();
  ASSERT_GE(messages.size(), 3u);
  EXPECT_EQ(json_string(messages.back(), "role"), "user");
  EXPECT_EQ(json_string(messages.back(), "content"), "退款政策是什么？");
  bool found = false;
  for (auto& m : messages)
    if (json_string(m, "role") == "system" &&
        json_string(m, "content").find("[1]") != std::string::npos &&
        json_string(m, "content").find("七天内可以申请全额退款") != std::string::npos)
      found = true;
  EXPECT_TRUE(found) << sent;
  EXPECT_EQ(sent.find("Bob 的秘密政策"), std::string::npos) << sent;

  // A question the knowledge does not touch gets no passages.
  auto other = post("/api/v1/conversations/" + conv + "/messages",
                    R"({"content":"zebra giraffe elephant"})", token);
  ASSERT_EQ(other.status, 201) << other.body;
  EXPECT_EQ(json_at(other.json(), "bot_response.metadata.sources"), nullptr) << other.body;
  EXPECT_EQ(fake.requests().back().body.find("[knowledge]"), std::string::npos);
}

TEST_F(rag_test, the_built_in_model_answers_from_the_knowledge) {
  auto token = register_user("alice");
  auto kb = create_base(token, R"({"name":"policies"})");
  ingest(token, kb, {"refunds.txt", "", "退款政策：购买后七天内可以申请全额退款。"});
  auto bot = create_bot(token, R"({"name":"support","knowledge_base_ids":[")" + kb + R"("]})");
  auto conv = create_conversation(token, bot);
  auto res = post("/api/v1/conversations/" + conv + "/messages",
                  R"({"content":"退款政策是什么？"})", token);
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_NE(json_string(res.json(), "bot_response.content").find("七天内可以申请全额退款"),
            std::string::npos)
      << res.body;
}

TEST_F(rag_test, embedding_apis_openai_compatible_and_ollama) {
  auto token = register_user("alice");
  auto openai = create_base(
      token,
      R"({"name":"remote","embedding_model":"fake-embed","embedding_config":{"provider":"openai_compatible","base_url":")" +
          fake.url("/v1") + R"(","api_key":"sk-embed"}})");
  auto doc = ingest(token, openai,
                    {"pets.txt", "", "Cats sleep a lot.\n\nDogs like long walks in the park."});
  ASSERT_EQ(json_string(doc, "status"), "ready") << json_string(doc, "error");
  auto base = get("/api/v1/knowledge/bases/" + openai, token).json();
  EXPECT_EQ(json_int(base, "embedding_dimension"), 32);
  bool saw = false;
  for (auto& r : fake.requests())
    if (r.path == "/v1/embeddings") {
      saw = true;
      EXPECT_EQ(r.headers["authorization"], "Bearer sk-embed");
      EXPECT_NE(r.body.find(R"("model":"fake-embed")"), std::string::npos) << r.body;
    }
  EXPECT_TRUE(saw);
  auto hits = search(token, openai, R"({"query":"long walks for dogs","top_k":1})");
  ASSERT_EQ(results(hits).size(), 1u);
  EXPECT_NE(json_string(results(hits)[0], "content").find("Dogs"), std::string::npos);

  auto ollama = create_base(
      token,
      R"({"name":"ollama","embedding_model":"nomic-embed-text","embedding_config":{"provider":"ollama","base_url":")" +
          fake.url() + R"("}})");
  auto od = ingest(token, ollama, {"pets.txt", "", "Cats sleep a lot."});
  ASSERT_EQ(json_string(od, "status"), "ready") << json_string(od, "error");
  EXPECT_EQ(fake.requests().back().path, "/api/embed");
  EXPECT_EQ(results(search(token, ollama, R"({"query":"cats"})")).size(), 1u);

  // 503 once, then fine: retried.
  auto flaky = create_base(
      token,
      R"({"name":"flaky","embedding_model":"flaky","embedding_config":{"provider":"openai_compatible","base_url":")" +
          fake.url("/v1") + R"("}})");
  EXPECT_EQ(json_string(ingest(token, flaky, {"a.txt", "", "Retry me."}), "status"), "ready");
}

TEST_F(rag_test, a_failing_embedding_api_fails_the_document_clearly) {
  auto token = register_user("alice");
  auto kb = create_base(
      token,
      R"({"name":"broken","embedding_model":"fail-401","embedding_config":{"provider":"openai_compatible","base_url":")" +
          fake.url("/v1") + R"("}})");
  auto doc = ingest(token, kb, {"a.txt", "", "Some text."});
  EXPECT_EQ(json_string(doc, "status"), "failed");
  EXPECT_NE(json_string(doc, "error").find("401"), std::string::npos) << json_string(doc, "error");
  EXPECT_EQ(json_int(get("/api/v1/knowledge/bases/" + kb, token).json(), "chunk_count"), 0);
  // Nothing was embedded: a search finds nothing, without calling the API.
  EXPECT_TRUE(results(search(token, kb, R"({"query":"text"})")).empty());

  auto unreachable = create_base(
      token,
      R"({"name":"down","embedding_model":"m","embedding_config":{"provider":"openai_compatible","base_url":"http://127.0.0.1:1/v1"}})");
  auto d2 = ingest(token, unreachable, {"a.txt", "", "Some text."});
  EXPECT_EQ(json_string(d2, "status"), "failed");
  EXPECT_NE(json_string(d2, "error").find("cannot reach"), std::string::npos)
      << json_string(d2, "error");
}

TEST_F(rag_test, websocket_answers_carry_their_sources_too) {
  auto token = register_user("alice");
  auto kb = create_base(token, R"({"name":"policies"})");
  ingest(token, kb, {"refunds.txt", "", "退款政策：购买后七天内可以申请全额退款。"});
  auto bot = create_bot(token, R"({"name":"support","knowledge_base_ids":[")" + kb + R"("]})");
  auto conv = create_conversation(token, bot);
  ws_client ws{server->port(), "/api/v1/ws/conversations/" + conv + "?token=" + token};
  ASSERT_EQ(ws.status(), 101) << ws.refusal();
  ASSERT_TRUE(ws.send_text(R"({"type":"user_message","content":"退款政策是什么？"})"));
  std::optional<chatagent::protocol::json_value> answer;
  while (auto text = ws.next_text()) {
    auto doc = chatagent::protocol::parse_json(*text);
    ASSERT_TRUE(doc) << *text;
    if (json_string(*doc, "type") == "bot_response") {
      answer = *doc;
      break;
    }
    ASSERT_NE(json_string(*doc, "type"), "error") << *text;
  }
  ASSERT_TRUE(answer);
  ASSERT_NE(json_at(*answer, "metadata.sources"), nullptr);
  EXPECT_EQ(json_string(json_at(*answer, "metadata.sources")->as_array().at(0), "source"),
            "refunds.txt");
}

TEST_F(rag_test, uploads_do_not_wait_behind_an_ingestion) {
  auto token = register_user("alice");
  auto slow = slow_base(token);
  auto first = upload(token, slow, {"long.txt", "", long_text()});
  ASSERT_EQ(first.status, 201) << first.body;
  auto fast = create_base(token, R"({"name":"fast"})");
  auto second = upload(token, fast, {"short.txt", "", "A short note."});
  EXPECT_EQ(second.status, 201) << second.body;
  // The second upload was read while the first document was still being embedded.
  auto d = get("/api/v1/knowledge/bases/" + slow + "/documents/" + json_string(first.json(), "id"),
               token)
               .json();
  EXPECT_EQ(json_string(d, "status"), "processing");
  EXPECT_EQ(json_string(wait_done(token, slow, json_string(first.json(), "id")), "status"),
            "ready");
  EXPECT_EQ(json_string(wait_done(token, fast, json_string(second.json(), "id")), "status"),
            "ready");
}

TEST_F(rag_test, progress_shows_and_a_base_deleted_mid_ingestion_leaves_nothing) {
  auto token = register_user("alice");
  auto slow = slow_base(token);
  auto up = upload(token, slow, {"long.txt", "", long_text()});
  ASSERT_EQ(up.status, 201) << up.body;
  auto doc_url = "/api/v1/knowledge/bases/" + slow + "/documents/" + json_string(up.json(), "id");
  // Progress moves between 0 and 100 while the batches are embedded, never backwards.
  int64_t last = 0;
  bool partial = false;
  for (int attempt = 0; attempt < 600 && !partial; ++attempt) {
    auto d = get(doc_url, token).json();
    ASSERT_EQ(json_string(d, "status"), "processing");
    auto progress = json_int(d, "progress");
    EXPECT_GE(progress, last);
    last = progress;
    partial = progress > 0 && progress < 100;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(partial) << "no intermediate progress seen";
  // Deleting the base now cancels the ingestion; nothing of it is found afterwards.
  ASSERT_EQ(del("/api/v1/knowledge/bases/" + slow, token).status, 200);
  expect_error(get(doc_url, token), 404, "NOT_FOUND");
  expect_error(post("/api/v1/knowledge/bases/" + slow + "/search", R"({"query":"llamas"})", token),
               404, "NOT_FOUND");
  EXPECT_EQ(json_int(get("/api/v1/knowledge/bases", token).json(), "total"), 0);
  // A stop right away may leave chunks the worker stored after the deletion: the next
  // start erases them, and no chunk, vector or document of the base is left.
  auto dir = server->data_dir();
  ASSERT_EQ(server->stop(), 0) << server->log();
  server_process again({}, dir);
  ASSERT_TRUE(again.start()) << again.log();
  EXPECT_NE(again.log().find("loaded 0 knowledge bases, 0 chunks indexed"), std::string::npos)
      << again.log();
  ASSERT_EQ(again.stop(), 0) << again.log();
  auto db = chatagent::storage::kv_store::open(dir);
  ASSERT_TRUE(db) << chatagent::protocol::describe(db.error()).message;
  using chatagent::storage::family;
  for (auto f : {family::knowledge_bases, family::knowledge_documents, family::knowledge_chunks,
                 family::knowledge_vectors}) {
    size_t left = 0;
    ASSERT_FALSE((*db)->scan(f, "", [&](std::string_view, std::string_view) {
      ++left;
      return true;
    }));
    EXPECT_EQ(left, 0u) << "family " << static_cast<int>(f);
  }
}
