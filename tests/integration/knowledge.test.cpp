#include "integration/fixture.hpp"

using namespace chatagent::test;

namespace {

class knowledge_test : public server_test {
 protected:
  std::string create_base(const std::string& token, const std::string& body) {
    auto res = post("/api/v1/knowledge/bases", body, token);
    EXPECT_EQ(res.status, 201) << res.body;
    return json_string(res.json(), "id");
  }
};

// The request of 创建知识库 in the API document, as written.
const std::string spec_base = R"({
    "name": "产品知识库",
    "description": "包含产品相关的所有文档",
    "vector_store_type": "chroma",
    "embedding_model": "text-embedding-ada-002",
    "chunk_size": 1000,
    "chunk_overlap": 200,
    "metadata": {
        "category": "product",
        "language": "zh"
    }
})";

} // namespace

TEST_F(knowledge_test, the_spec_example_creates_a_base) {
  auto token = register_user("alice");
  auto created = post("/api/v1/knowledge/bases", spec_base, token);
  ASSERT_EQ(created.status, 201) << created.body;
  auto doc = created.json();
  auto id = json_string(doc, "id");
  EXPECT_EQ(id.rfind("kb_", 0), 0u);
  EXPECT_EQ(json_string(doc, "name"), "产品知识库");
  EXPECT_EQ(json_string(doc, "description"), "包含产品相关的所有文档");
  EXPECT_EQ(json_string(doc, "vector_store_type"), "faiss"); // the built-in store serves it
  EXPECT_EQ(json_string(doc, "embedding_model"), "text-embedding-ada-002");
  EXPECT_EQ(json_string(doc, "embedding_config.provider"), "openai");
  EXPECT_EQ(json_int(doc, "chunk_size"), 1000);
  EXPECT_EQ(json_int(doc, "chunk_overlap"), 200);
  EXPECT_EQ(json_string(doc, "metadata.category"), "product");
  EXPECT_EQ(json_string(doc, "metadata.language"), "zh");
  EXPECT_EQ(json_int(doc, "document_count"), 0);
  EXPECT_EQ(json_int(doc, "chunk_count"), 0);
  EXPECT_EQ(json_string(doc, "created_at").size(), 20u);
  EXPECT_EQ(json_string(doc, "user_id"), json_string(get("/api/v1/auth/me", token).json(), "id"));

  auto fetched = get("/api/v1/knowledge/bases/" + id, token);
  ASSERT_EQ(fetched.status, 200) << fetched.body;
  EXPECT_EQ(json_string(fetched.json(), "name"), "产品知识库");
}

TEST_F(knowledge_test, defaults_are_the_offline_embedder_and_faiss) {
  auto token = register_user("alice");
  auto res = post("/api/v1/knowledge/bases", R"({"name":"docs"})", token);
  ASSERT_EQ(res.status, 201) << res.body;
  auto doc = res.json();
  EXPECT_EQ(json_string(doc, "vector_store_type"), "faiss");
  EXPECT_EQ(json_string(doc, "embedding_model"), "local");
  EXPECT_EQ(json_string(doc, "embedding_config.provider"), "local");
  EXPECT_EQ(json_int(doc, "chunk_size"), 1000);
  EXPECT_EQ(json_int(doc, "chunk_overlap"), 200);
  EXPECT_EQ(json_string(doc, "description"), "");
}

TEST_F(knowledge_test, invalid_bases_are_refused_with_the_field) {
  auto token = register_user("alice");
  struct bad_case {
    std::string body;
    std::string field;
  };
  std::vector<bad_case> cases{
      {R"({})", "name"},
      {R"({"name":""})", "name"},
      {R"({"name":")" + std::string(101, 'x') + R"("})", "name"},
      {R"({"name":"k","vector_store_type":"pinecone"})", "vector_store_type"},
      {R"({"name":"k","chunk_size":10})", "chunk_size"},
      {R"({"name":"k","chunk_size":"big"})", "chunk_size"},
      {R"({"name":"k","chunk_overlap":-1})", "chunk_overlap"},
      {R"({"name":"k","chunk_size":300,"chunk_overlap":300})", "chunk_overlap"},
      {R"({"name":"k","metadata":[1]})", "metadata"},
      {R"({"name":"k","embedding_model":""})", "embedding_model"},
      {R"({"name":"k","embedding_config":{"provider":"magic"}})", "embedding_config.provider"},
      {R"({"name":"k","embedding_config":{"base_url":"ftp://x"}})", "embedding_config.base_url"},
      {R"({"name":"k","embedding_config":"openai"})", "embedding_config"},
  };
  for (auto& c : cases) {
    auto res = post("/api/v1/knowledge/bases", c.body, token);
    expect_error(res, 400, "VALIDATION_ERROR");
    EXPECT_EQ(json_string(res.json(), "error.details.field"), c.field) << c.body;
  }
  auto unsupported =
      post("/api/v1/knowledge/bases", R"({"name":"k","vector_store_type":"x"})", token);
  EXPECT_NE(unsupported.body.find("faiss"), std::string::npos) << unsupported.body;
  EXPECT_EQ(json_int(get("/api/v1/knowledge/bases", token).json(), "total"), 0);
}

TEST_F(knowledge_test, list_searches_and_pages) {
  auto token = register_user("alice");
  create_base(token, R"({"name":"产品手册","description":"用户指南"})");
  create_base(token, R"({"name":"API reference"})");
  create_base(token, R"({"name":"Support","description":"answers to API tickets"})");
  auto page = get("/api/v1/knowledge/bases?limit=2&offset=0", token);
  ASSERT_EQ(page.status, 200) << page.body;
  auto doc = page.json();
  EXPECT_EQ(json_int(doc, "total"), 3);
  EXPECT_EQ(json_int(doc, "limit"), 2);
  ASSERT_EQ(json_at(doc, "knowledge_bases")->as_array().size(), 2u);
  EXPECT_EQ(json_string(json_at(doc, "knowledge_bases")->as_array()[0], "name"), "产品手册");
  auto rest = get("/api/v1/knowledge/bases?limit=2&offset=2", token).json();
  ASSERT_EQ(json_at(rest, "knowledge_bases")->as_array().size(), 1u);
  EXPECT_EQ(json_string(json_at(rest, "knowledge_bases")->as_array()[0], "name"), "Support");
  EXPECT_EQ(json_int(get("/api/v1/knowledge/bases?search=api", token).json(), "total"), 2);
  EXPECT_EQ(
      json_int(get("/api/v1/knowledge/bases?search=%E6%89%8B%E5%86%8C", token).json(), "total"), 1);
  expect_error(get("/api/v1/knowledge/bases?limit=0", token), 400, "VALIDATION_ERROR");
}

TEST_F(knowledge_test, update_merges_and_never_shows_the_api_key) {
  auto token = register_user("alice");
  auto id = create_base(
      token,
      R"({"name":"kb","embedding_model":"text-embedding-3-small","embedding_config":{"base_url":"http://127.0.0.1:9/v1","api_key":"sk-embed-secret"},"metadata":{"a":1,"b":2}})");
  auto res = put("/api/v1/knowledge/bases/" + id,
                 R"({"description":"now described","metadata":{"b":null,"c":3}})", token);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.body.find("sk-embed-secret"), std::string::npos) << res.body;
  auto doc = res.json();
  EXPECT_EQ(json_string(doc, "name"), "kb");
  EXPECT_EQ(json_string(doc, "description"), "now described");
  EXPECT_EQ(json_int(doc, "metadata.a"), 1);
  EXPECT_EQ(json_at(doc, "metadata.b"), nullptr);
  EXPECT_EQ(json_int(doc, "metadata.c"), 3);
  EXPECT_TRUE(json_at(doc, "embedding_config.has_api_key")->as_bool());
  EXPECT_EQ(json_string(doc, "embedding_config.base_url"), "http://127.0.0.1:9/v1");
  auto listed = get("/api/v1/knowledge/bases", token);
  EXPECT_EQ(listed.body.find("sk-embed-secret"), std::string::npos) << listed.body;

  auto bad = put("/api/v1/knowledge/bases/" + id, R"({"chunk_size":5})", token);
  expect_error(bad, 400, "VALIDATION_ERROR");
  EXPECT_EQ(json_int(get("/api/v1/knowledge/bases/" + id, token).json(), "chunk_size"), 1000);
}

TEST_F(knowledge_test, other_users_bases_do_not_exist_for_them) {
  auto alice = register_user("alice");
  auto bob = register_user("bob");
  auto id = create_base(alice, R"({"name":"private"})");
  expect_error(get("/api/v1/knowledge/bases/" + id, bob), 404, "NOT_FOUND");
  expect_error(put("/api/v1/knowledge/bases/" + id, R"({"name":"mine"})", bob), 404, "NOT_FOUND");
  expect_error(del("/api/v1/knowledge/bases/" + id, bob), 404, "NOT_FOUND");
  EXPECT_EQ(json_int(get("/api/v1/knowledge/bases", bob).json(), "total"), 0);
  EXPECT_EQ(json_string(get("/api/v1/knowledge/bases/" + id, alice).json(), "name"), "private");
  expect_error(get("/api/v1/knowledge/bases/" + id, ""), 401, "UNAUTHORIZED");
}

TEST_F(knowledge_test, delete_removes_the_base) {
  auto token = register_user("alice");
  auto id = create_base(token, R"({"name":"temporary"})");
  auto res = del("/api/v1/knowledge/bases/" + id, token);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_TRUE(json_at(res.json(), "success")->as_bool());
  EXPECT_EQ(json_string(res.json(), "base_id"), id);
  expect_error(get("/api/v1/knowledge/bases/" + id, token), 404, "NOT_FOUND");
  expect_error(del("/api/v1/knowledge/bases/" + id, token), 404, "NOT_FOUND");
  EXPECT_EQ(json_int(get("/api/v1/knowledge/bases", token).json(), "total"), 0);
}

TEST_F(knowledge_test, bases_survive_a_crash) {
  auto token = register_user("alice");
  auto kept = create_base(
      token,
      R"({"name":"kept","embedding_model":"nomic-embed-text","embedding_config":{"provider":"ollama","api_key":"k"}})");
  auto gone = create_base(token, R"({"name":"gone"})");
  ASSERT_EQ(put("/api/v1/knowledge/bases/" + kept, R"({"description":"edited"})", token).status,
            200);
  ASSERT_EQ(del("/api/v1/knowledge/bases/" + gone, token).status, 200);
  auto dir = server->data_dir();
  server->kill9();

  server_process again({}, dir);
  ASSERT_TRUE(again.start()) << again.log();
  auto base = again.base_url();
  auto list = http_request("GET", base + "/api/v1/knowledge/bases", {}, auth(token)).json();
  EXPECT_EQ(json_int(list, "total"), 1);
  auto kb = http_request("GET", base + "/api/v1/knowledge/bases/" + kept, {}, auth(token)).json();
  EXPECT_EQ(json_string(kb, "description"), "edited");
  EXPECT_EQ(json_string(kb, "embedding_model"), "nomic-embed-text");
  EXPECT_EQ(json_string(kb, "embedding_config.provider"), "ollama");
  EXPECT_TRUE(json_at(kb, "embedding_config.has_api_key")->as_bool());
  EXPECT_EQ(http_request("GET", base + "/api/v1/knowledge/bases/" + gone, {}, auth(token)).status,
            404);
  EXPECT_EQ(again.stop(), 0) << again.log();
}
