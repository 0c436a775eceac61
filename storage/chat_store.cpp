#include "storage/chat_store.hpp"

#include "protocol/error.hpp"
#include "protocol/json.hpp"
#include "storage/records.hpp"

#include <algorithm>
#include <cstring>

namespace chatagent::storage {

using namespace protocol;
using namespace records;

namespace {

std::string index_key(char kind, std::string_view owner, std::string_view conv) {
  std::string k;
  k.reserve(2 + owner.size() + 1 + conv.size());
  k.push_back(kind);
  k.push_back('/');
  k.append(owner);
  k.push_back('/');
  k.append(conv);
  return k;
}

} // namespace

std::string encode(const bot& b) {
  json_writer w;
  w.begin_object()
      .member("v", 1)
      .member("id", b.id.value)
      .member("owner", b.owner.value)
      .member("name", b.name)
      .member("description", b.description)
      .member("avatar_url", b.avatar_url)
      .member("platform_type", b.platform_type);
  w.key("platform_config").raw(b.platform_config);
  w.key("llm")
      .begin_object()
      .member("provider", b.llm.provider)
      .member("model", b.llm.model)
      .member("api_key", b.llm.api_key)
      .member("base_url", b.llm.base_url)
      .member("temperature", b.llm.temperature)
      .member("max_tokens", b.llm.max_tokens)
      .member("system_prompt", b.llm.system_prompt)
      .member("context_tokens", b.llm.context_tokens)
      .end_object();
  write_strings(w, "knowledge_base_ids", b.knowledge_base_ids);
  w.key("plugins").begin_array();
  for (auto& p : b.plugins) {
    w.begin_object().member("id", p.plugin_id);
    w.key("config").raw(p.config);
    w.member("enabled", p.enabled)
        .member("installed_at_ms", p.installed_at_ms)
        .member("updated_at_ms", p.updated_at_ms)
        .end_object();
  }
  w.end_array();
  w.member("is_active", b.is_active)
      .member("created_at_ms", b.created_at_ms)
      .member("updated_at_ms", b.updated_at_ms)
      .end_object();
  return w.take();
}

std::string encode(const plugin_info& p) {
  json_writer w;
  w.begin_object()
      .member("v", 1)
      .member("id", p.id)
      .member("owner", p.owner.value)
      .member("name", p.name)
      .member("description", p.description)
      .member("version", p.version)
      .member("author", p.author)
      .member("category", p.category)
      .member("tool_description", p.tool_description);
  w.key("parameters").raw(p.parameters);
  w.member("endpoint_url", p.endpoint_url).member("endpoint_method", p.endpoint_method);
  w.key("endpoint_headers").raw(p.endpoint_headers);
  w.key("config_schema").begin_array();
  for (auto& f : p.config_schema) {
    w.begin_object()
        .member("name", f.name)
        .member("type", f.type)
        .member("required", f.required)
        .member("secret", f.secret)
        .member("description", f.description)
        .member("default", f.default_value);
    write_strings(w, "enum", f.choices);
    w.end_object();
  }
  w.end_array()
      .member("created_at_ms", p.created_at_ms)
      .member("updated_at_ms", p.updated_at_ms)
      .end_object();
  return w.take();
}

caf::expected<plugin_info> decode_plugin(std::string_view bytes) {
  auto doc = parse_json(bytes);
  if (!doc || !doc->is_object())
    return corrupt("plugin");
  reader r{*doc};
  plugin_info p;
  p.id = r.str("id");
  p.owner = user_id{r.str("owner")};
  p.name = r.str("name");
  p.description = r.str("description");
  p.version = r.str("version", "1.0.0");
  p.author = r.str("author");
  p.category = r.str("category", "custom");
  p.tool_description = r.str("tool_description");
  p.parameters = r.object("parameters");
  p.endpoint_url = r.str("endpoint_url");
  p.endpoint_method = r.str("endpoint_method", "POST");
  p.endpoint_headers = r.object("endpoint_headers");
  if (auto list = doc->find("config_schema"); list && list->is_array())
    for (auto& x : list->as_array()) {
      reader f{x};
      plugin_field field;
      field.name = f.str("name");
      field.type = f.str("type", "string");
      field.required = f.flag("required");
      field.secret = f.flag("secret");
      field.description = f.str("description");
      field.default_value = f.str("default");
      field.choices = f.strings("enum");
      p.config_schema.push_back(std::move(field));
    }
  p.created_at_ms = r.num("created_at_ms");
  p.updated_at_ms = r.num("updated_at_ms");
  if (p.id.empty() || p.owner.empty())
    return corrupt("plugin");
  return p;
}

caf::expected<bot> decode_bot(std::string_view bytes) {
  auto doc = parse_json(bytes);
  if (!doc || !doc->is_object())
    return corrupt("bot");
  reader r{*doc};
  bot b;
  b.id = bot_id{r.str("id")};
  b.owner = user_id{r.str("owner")};
  b.name = r.str("name");
  b.description = r.str("description");
  b.avatar_url = r.str("avatar_url");
  b.platform_type = r.str("platform_type", "web");
  b.platform_config = r.object("platform_config");
  if (auto llm = doc->find("llm"); llm && llm->is_object()) {
    reader l{*llm};
    b.llm.provider = l.str("provider", "local");
    b.llm.model = l.str("model");
    b.llm.api_key = l.str("api_key");
    b.llm.base_url = l.str("base_url");
    b.llm.temperature = l.real("temperature", 0.7);
    b.llm.max_tokens = l.num("max_tokens", 2000);
    b.llm.system_prompt = l.str("system_prompt");
    b.llm.context_tokens = l.num("context_tokens", 4000);
  }
  b.knowledge_base_ids = r.strings("knowledge_base_ids");
  if (auto list = doc->find("plugins"); list && list->is_array())
    for (auto& p : list->as_array()) {
      plugin_install in;
      if (p.is_string()) { // before plugins had configurations: to be configured
        in.plugin_id = p.as_string();
        in.enabled = false;
      } else if (p.is_object()) {
        reader pr{p};
        in.plugin_id = pr.str("id");
        in.config = pr.object("config");
        in.enabled = pr.flag("enabled");
        in.installed_at_ms = pr.num("installed_at_ms");
        in.updated_at_ms = pr.num("updated_at_ms");
      }
      if (!in.plugin_id.empty())
        b.plugins.push_back(std::move(in));
    }
  b.is_active = r.flag("is_active");
  b.created_at_ms = r.num("created_at_ms");
  b.updated_at_ms = r.num("updated_at_ms");
  if (b.id.empty() || b.owner.empty())
    return corrupt("bot");
  return b;
}

std::string encode(const conversation& c) {
  json_writer w;
  w.begin_object()
      .member("v", 1)
      .member("id", c.id.value)
      .member("owner", c.owner.value)
      .member("bot", c.bot.value)
      .member("title", c.title)
      .member("platform", c.platform)
      .member("platform_chat_id", c.platform_chat_id)
      .member("status", c.status);
  w.key("context").raw(c.context);
  w.member("message_count", c.message_count)
      .member("last_message_at_ms", c.last_message_at_ms)
      .member("created_at_ms", c.created_at_ms)
      .member("updated_at_ms", c.updated_at_ms)
      .end_object();
  return w.take();
}

caf::expected<conversation> decode_conversation(std::string_view bytes) {
  auto doc = parse_json(bytes);
  if (!doc || !doc->is_object())
    return corrupt("conversation");
  reader r{*doc};
  conversation c;
  c.id = conversation_id{r.str("id")};
  c.owner = user_id{r.str("owner")};
  c.bot = bot_id{r.str("bot")};
  c.title = r.str("title");
  c.platform = r.str("platform", "web");
  c.platform_chat_id = r.str("platform_chat_id");
  c.status = r.str("status", "active");
  c.context = r.object("context");
  c.message_count = r.num("message_count");
  c.last_message_at_ms = r.num("last_message_at_ms");
  c.created_at_ms = r.num("created_at_ms");
  c.updated_at_ms = r.num("updated_at_ms");
  if (c.id.empty() || c.owner.empty())
    return corrupt("conversation");
  return c;
}

std::string encode(const chat_message& m) {
  json_writer w;
  w.begin_object()
      .member("v", 1)
      .member("id", m.id.value)
      .member("conversation", m.conversation.value)
      .member("seq", m.seq)
      .member("content", m.content)
      .member("message_type", m.message_type)
      .member("sender_type", m.sender_type)
      .member("sender_id", m.sender_id);
  w.key("metadata").raw(m.metadata);
  w.member("created_at_ms", m.created_at_ms).end_object();
  return w.take();
}

caf::expected<chat_message> decode_message(std::string_view bytes) {
  auto doc = parse_json(bytes);
  if (!doc || !doc->is_object())
    return corrupt("message");
  reader r{*doc};
  chat_message m;
  m.id = message_id{r.str("id")};
  m.conversation = conversation_id{r.str("conversation")};
  m.seq = r.num("seq");
  m.content = r.str("content");
  m.message_type = r.str("message_type", "text");
  m.sender_type = r.str("sender_type");
  m.sender_id = r.str("sender_id");
  m.metadata = r.object("metadata");
  m.created_at_ms = r.num("created_at_ms");
  if (m.id.empty() || m.seq <= 0)
    return corrupt("message");
  return m;
}

std::string message_key(const conversation_id& c, int64_t seq) {
  // The sequence number in 16 hex digits, so that keys sort in message order.
  static constexpr char hex[] = "0123456789abcdef";
  std::string k;
  k.resize(c.value.size() + 17);
  std::memcpy(k.data(), c.value.data(), c.value.size());
  auto* digits = k.data() + c.value.size();
  *digits++ = '/';
  auto v = static_cast<uint64_t>(seq);
  for (int i = 15; i >= 0; --i, v >>= 4)
    digits[i] = hex[v & 0xF];
  return k;
}

// -- bots ---------------------------------------------------------------------

caf::expected<std::vector<bot>> chat_store::load_bots() const {
  return load_all<bot>(*db_, family::bots, [](std::string_view v) { return decode_bot(v); });
}

void chat_store::put_bot(write_batch& batch, const bot& b) {
  batch.put(family::bots, b.id.value, encode(b));
}

void chat_store::erase_bot(write_batch& batch, const bot_id& id) {
  batch.erase(family::bots, id.value);
  batch.erase(family::bot_activity, id.value);
}

caf::expected<std::vector<plugin_info>> chat_store::load_plugins() const {
  return load_all<plugin_info>(*db_, family::plugins,
                               [](std::string_view v) { return decode_plugin(v); });
}

void chat_store::put_plugin(write_batch& batch, const plugin_info& p) {
  batch.put(family::plugins, p.owner.value + "/" + p.id, encode(p));
}

void chat_store::erase_plugin(write_batch& batch, const user_id& owner, const std::string& id) {
  batch.erase(family::plugins, owner.value + "/" + id);
}

caf::expected<std::unordered_map<std::string, counters>> chat_store::load_bot_activity() const {
  std::unordered_map<std::string, counters> out;
  caf::error failure;
  auto err = db_->scan(family::bot_activity, "", [&](std::string_view key, std::string_view value) {
    counters c;
    if (!decode_counters(value, c)) {
      failure =
          api_error(errc::internal_error, "corrupt activity counters of bot " + std::string{key});
      return false;
    }
    out.emplace(std::string{key}, c);
    return true;
  });
  if (err)
    return err;
  if (failure)
    return failure;
  return out;
}

void chat_store::add_bot_activity(write_batch& batch, const bot_id& id, int64_t messages,
                                  int64_t errors, int64_t at_ms) {
  batch.merge(family::bot_activity, id.value, encode_counters({messages, errors, at_ms}));
}

// -- conversations ------------------------------------------------------------

caf::expected<conversation> chat_store::find_conversation(const conversation_id& id) const {
  auto c = read_conversation(id);
  if (!c)
    return c;
  if (auto err = add_activity(*c))
    return err;
  return c;
}

caf::expected<conversation> chat_store::read_conversation(const conversation_id& id) const {
  auto bytes = db_->get(family::conversations, id.value);
  if (!bytes)
    return std::move(bytes.error());
  return decode_conversation(*bytes);
}

caf::error chat_store::add_activity(conversation& c) const {
  // The record is written when the conversation is made or changed, not with every
  // message: its activity is its last message's.
  caf::error failure;
  auto err =
      db_->last(family::messages, c.id.value + "/", [&](std::string_view, std::string_view value) {
        auto m = decode_message(value);
        if (!m) {
          failure = std::move(m.error());
          return;
        }
        c.message_count = std::max(c.message_count, m->seq);
        c.last_message_at_ms = std::max(c.last_message_at_ms, m->created_at_ms);
        c.updated_at_ms = std::max(c.updated_at_ms, m->created_at_ms);
      });
  return err ? err : failure;
}

caf::expected<conversation_page> chat_store::list_conversations(const user_id& owner,
                                                                const conversation_query& q) const {
  // Ids are ULIDs: key order is creation order. Collect the ids that pass the bot filter
  // from the index, then read the records for the status filter and the page.
  std::vector<std::string> ids;
  auto prefix = index_key('u', owner.value, "");
  auto err = db_->scan(family::conversation_index, prefix,
                       [&](std::string_view key, std::string_view bot) {
                         if (q.bot.empty() || bot == q.bot)
                           ids.emplace_back(key.substr(prefix.size()));
                         return true;
                       });
  if (err)
    return err;
  std::reverse(ids.begin(), ids.end()); // newest first
  conversation_page page;
  page.limit = q.limit;
  page.offset = q.offset;
  for (auto& id : ids) {
    // Without a status filter, records outside the page need not be read.
    bool in_page =
        page.total >= q.offset && static_cast<int64_t>(page.conversations.size()) < q.limit;
    if (q.status.empty() && !in_page) {
      ++page.total;
      continue;
    }
    auto c = read_conversation(conversation_id{id});
    if (!c) {
      if (c.error() == errc::not_found)
        continue; // deleted between the index scan and this read
      return std::move(c.error());
    }
    if (!q.status.empty() && c->status != q.status)
      continue;
    if (in_page) {
      if (auto err = add_activity(*c)) // only the page's: one seek each
        return err;
      page.conversations.push_back(std::move(*c));
    }
    ++page.total;
  }
  return page;
}

caf::expected<std::vector<conversation_id>>
chat_store::conversations_of_bot(const bot_id& bot) const {
  std::vector<conversation_id> out;
  auto prefix = index_key('b', bot.value, "");
  auto err =
      db_->scan(family::conversation_index, prefix, [&](std::string_view key, std::string_view) {
        out.emplace_back(std::string{key.substr(prefix.size())});
        return true;
      });
  if (err)
    return err;
  return out;
}

namespace {

/// `p/<bot id>/<platform>/<platform chat id>`: the conversation of a platform chat.
std::string chat_key(const bot_id& bot, std::string_view platform, std::string_view chat) {
  return index_key('p', bot.value, std::string{platform} + "/" + std::string{chat});
}

} // namespace

caf::expected<conversation_id> chat_store::find_platform_chat(const bot_id& bot,
                                                              std::string_view platform,
                                                              std::string_view chat) const {
  auto id = db_->get(family::conversation_index, chat_key(bot, platform, chat));
  if (!id)
    return std::move(id.error());
  return conversation_id{std::move(*id)};
}

void chat_store::erase_platform_chats(write_batch& batch, const bot_id& bot) {
  batch.erase_prefix(family::conversation_index, index_key('p', bot.value, ""));
}

void chat_store::put_conversation(write_batch& batch, const conversation& c, bool is_new) {
  batch.put(family::conversations, c.id.value, encode(c));
  if (is_new) {
    batch.put(family::conversation_index, index_key('u', c.owner.value, c.id.value), c.bot.value);
    batch.put(family::conversation_index, index_key('b', c.bot.value, c.id.value), "");
    if (!c.platform_chat_id.empty())
      batch.put(family::conversation_index, chat_key(c.bot, c.platform, c.platform_chat_id),
                c.id.value);
  }
}

void chat_store::erase_conversation(write_batch& batch, const conversation& c) {
  batch.erase(family::conversations, c.id.value);
  batch.erase(family::conversation_index, index_key('u', c.owner.value, c.id.value));
  batch.erase(family::conversation_index, index_key('b', c.bot.value, c.id.value));
  // The platform chat's entry stays: it may name a newer conversation of the chat already,
  // and one naming a deleted conversation is replaced at the chat's next message.
  batch.erase_prefix(family::messages, c.id.value + "/");
}

// -- messages -----------------------------------------------------------------

caf::expected<std::vector<chat_message>> chat_store::messages(const conversation_id& c,
                                                              int64_t offset, int64_t limit) const {
  std::vector<chat_message> out;
  if (limit <= 0)
    return out;
  caf::error failure;
  auto err = db_->scan_from(family::messages, c.value + "/", message_key(c, offset + 1),
                            [&](std::string_view, std::string_view value) {
                              auto m = decode_message(value);
                              if (!m) {
                                failure = std::move(m.error());
                                return false;
                              }
                              out.push_back(std::move(*m));
                              return static_cast<int64_t>(out.size()) < limit;
                            });
  if (err)
    return err;
  if (failure)
    return failure;
  return out;
}

void chat_store::put_message(write_batch& batch, const chat_message& m) {
  batch.put(family::messages, message_key(m.conversation, m.seq), encode(m));
}

} // namespace chatagent::storage
