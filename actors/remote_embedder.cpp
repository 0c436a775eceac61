#include "actors/remote_embedder.hpp"

#include "actors/http_engine.hpp"
#include "protocol/error.hpp"
#include "protocol/json.hpp"

#include <cmath>
#include <future>
#include <thread>

namespace chatagent::actors {

using namespace protocol;

namespace {

struct http_answer {
  long status = 0;
  std::string body;
  std::string error;
  bool timed_out = false;
};

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/')
    s.pop_back();
  return s;
}

/// The API's own error message, when its body has one.
std::string message_of(const std::string& body) {
  auto doc = parse_json(body);
  if (doc && doc->is_object()) {
    if (auto e = doc->find("error")) {
      if (e->is_string())
        return e->as_string();
      if (e->is_object())
        if (auto m = e->find("message"); m && m->is_string())
          return m->as_string();
    }
  }
  return body.substr(0, 200);
}

bool read_vector(const json_value& v, std::vector<float>& out) {
  if (!v.is_array() || v.as_array().empty())
    return false;
  out.clear();
  double norm = 0;
  for (auto& x : v.as_array()) {
    if (!x.is_number())
      return false;
    auto f = x.as_double();
    out.push_back(static_cast<float>(f));
    norm += f * f;
  }
  if (norm > 0) {
    auto inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (auto& f : out)
      f *= inv;
  }
  return true;
}

} // namespace

remote_embedder::remote_embedder(std::shared_ptr<http_engine> engine,
                                 std::chrono::milliseconds timeout)
    : engine_(std::move(engine)), timeout_(timeout) {}

caf::expected<std::vector<std::vector<float>>>
remote_embedder::embed(const embedding_config& config, const std::string& model,
                       const std::vector<std::string>& texts) const {
  bool ollama = config.provider == "ollama";
  std::string base = trim_slash(config.base_url);
  if (base.empty()) {
    if (config.provider == "openai")
      base = "https://api.openai.com/v1";
    else if (ollama)
      base = "http://127.0.0.1:11434";
    else
      return api_error(errc::validation_error,
                       "embedding_config.base_url is required for " + config.provider,
                       "embedding_config.base_url", "required");
  }
  auto url = base + (ollama ? "/api/embed" : "/embeddings");
  json_writer w;
  w.begin_object().member("model", model).key("input").begin_array();
  for (auto& t : texts)
    w.value(t);
  w.end_array().end_object();
  auto body = w.take();
  std::vector<std::string> headers{"Content-Type: application/json"};
  if (!config.api_key.empty())
    headers.push_back("Authorization: Bearer " + config.api_key);

  http_answer answer;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(200 << (2 * (attempt - 1))));
    auto done = std::make_shared<std::promise<http_answer>>();
    auto result = done->get_future();
    auto acc = std::make_shared<http_answer>();
    http_call call;
    call.url = url;
    call.headers = headers;
    call.body = body;
    call.timeout = timeout_;
    call.on_status = [acc](long status) { acc->status = status; };
    call.on_data = [acc](std::string_view data) {
      if (acc->body.size() + data.size() > (size_t{256} << 20))
        return false;
      acc->body.append(data);
      return true;
    };
    call.on_done = [acc, done](long status, const std::string& error, bool timed_out) {
      acc->status = status;
      acc->error = error;
      acc->timed_out = timed_out;
      done->set_value(std::move(*acc));
    };
    engine_->submit(std::move(call));
    answer = result.get(); // the engine always calls on_done, at the latest at the timeout
    bool retry =
        answer.status == 0 ? !answer.timed_out : answer.status == 429 || answer.status >= 500;
    if (!retry)
      break;
  }
  if (answer.status == 0) {
    if (answer.timed_out)
      return api_error(errc::gateway_timeout,
                       "the embeddings API at " + url + " did not answer in time");
    return api_error(errc::service_unavailable,
                     "cannot reach the embeddings API at " + url + ": " + answer.error);
  }
  if (answer.status < 200 || answer.status >= 300)
    return api_error(errc::bad_gateway, "the embeddings API answered " +
                                            std::to_string(answer.status) + ": " +
                                            message_of(answer.body));
  auto doc = parse_json(answer.body);
  std::vector<std::vector<float>> out(texts.size());
  bool ok = doc && doc->is_object();
  if (ok && ollama) {
    auto list = doc->find("embeddings");
    ok = list && list->is_array() && list->as_array().size() == texts.size();
    for (size_t i = 0; ok && i < texts.size(); ++i)
      ok = read_vector(list->as_array()[i], out[i]);
  } else if (ok) {
    auto data = doc->find("data");
    ok = data && data->is_array() && data->as_array().size() == texts.size();
    for (size_t i = 0; ok && i < texts.size(); ++i) {
      auto& item = data->as_array()[i];
      auto index = item.find("index");
      size_t at = index && index->is_integer() ? static_cast<size_t>(index->as_int()) : i;
      auto vec = item.find("embedding");
      ok = at < texts.size() && vec && read_vector(*vec, out[at]);
    }
  }
  for (size_t i = 0; ok && i < out.size(); ++i)
    ok = !out[i].empty() && out[i].size() == out[0].size();
  if (!ok)
    return api_error(errc::bad_gateway, "the embeddings API at " + url +
                                            " did not answer with one embedding per text");
  return out;
}

} // namespace chatagent::actors
