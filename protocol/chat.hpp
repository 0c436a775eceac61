#pragma once

// Bots, conversations and messages: the records the chat API works on.

#include "protocol/ids.hpp"
#include "protocol/plugin.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace chatagent::protocol {

/// How a bot talks to its language model.
struct llm_config {
  std::string provider = "local"; // local, openai, anthropic, ollama, deepseek, ...
  std::string model;
  std::string api_key; // stored, never returned by the API
  std::string base_url;
  double temperature = 0.7;
  int64_t max_tokens = 2000;
  std::string system_prompt;
  int64_t context_tokens = 4000; // budget for the history sent with each message
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, llm_config& x) {
  return f(caf::meta::type_name("llm_config"), x.provider, x.model, x.api_key, x.base_url,
           x.temperature, x.max_tokens, x.system_prompt, x.context_tokens);
}

/// A bot as stored. `platform_config` is a JSON object's text; the API never shows its
/// secrets (see `is_secret_key`).
struct bot {
  bot_id id;
  user_id owner;
  std::string name;
  std::string description;
  std::string avatar_url;
  std::string platform_type = "web";
  std::string platform_config = "{}";
  llm_config llm;
  std::vector<std::string> knowledge_base_ids;
  std::vector<plugin_install> plugins; // the API shows their ids
  bool is_active = false;              // started: comes back running after a restart
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bot& x) {
  return f(caf::meta::type_name("bot"), x.id, x.owner, x.name, x.description, x.avatar_url,
           x.platform_type, x.platform_config, x.llm, x.knowledge_base_ids, x.plugins, x.is_active,
           x.created_at_ms, x.updated_at_ms);
}

/// Filters and paging of `GET /bots/`.
struct bot_query {
  std::string search; // case-insensitive substring of name or description
  std::string platform_type;
  int8_t is_active = -1; // -1: any
  int64_t limit = 20;
  int64_t offset = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bot_query& x) {
  return f(caf::meta::type_name("bot_query"), x.search, x.platform_type, x.is_active, x.limit,
           x.offset);
}

/// One page of a user's bots, oldest first.
struct bot_page {
  std::vector<bot> bots;
  int64_t total = 0;
  int64_t limit = 0;
  int64_t offset = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bot_page& x) {
  return f(caf::meta::type_name("bot_page"), x.bots, x.total, x.limit, x.offset);
}

/// A bot's running state and counters.
struct bot_status {
  bot_id id;
  bool is_running = false;
  bool is_online = false;
  int64_t start_time_ms = 0; // 0: not running
  int64_t message_count = 0;
  int64_t error_count = 0;
  int64_t last_activity_ms = 0; // 0: none yet
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bot_status& x) {
  return f(caf::meta::type_name("bot_status"), x.id, x.is_running, x.is_online, x.start_time_ms,
           x.message_count, x.error_count, x.last_activity_ms);
}

/// A conversation between a user and one of their bots. `context` is a JSON object's text.
struct conversation {
  conversation_id id;
  user_id owner;
  protocol::bot_id bot;
  std::string title;
  std::string platform = "web";
  std::string platform_chat_id;
  std::string status = "active"; // active or archived
  std::string context = "{}";
  int64_t message_count = 0;
  int64_t last_message_at_ms = 0; // 0: no message yet
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, conversation& x) {
  return f(caf::meta::type_name("conversation"), x.id, x.owner, x.bot, x.title, x.platform,
           x.platform_chat_id, x.status, x.context, x.message_count, x.last_message_at_ms,
           x.created_at_ms, x.updated_at_ms);
}

/// Filters and paging of `GET /conversations/`.
struct conversation_query {
  std::string bot; // empty: any bot
  std::string status;
  int64_t limit = 20;
  int64_t offset = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, conversation_query& x) {
  return f(caf::meta::type_name("conversation_query"), x.bot, x.status, x.limit, x.offset);
}

/// One page of a user's conversations, newest first.
struct conversation_page {
  std::vector<conversation> conversations;
  int64_t total = 0;
  int64_t limit = 0;
  int64_t offset = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, conversation_page& x) {
  return f(caf::meta::type_name("conversation_page"), x.conversations, x.total, x.limit, x.offset);
}

/// A message of a conversation. `seq` numbers them from 1 in the order the conversation
/// accepted them; `metadata` is a JSON object's text.
struct chat_message {
  message_id id;
  conversation_id conversation;
  int64_t seq = 0;
  std::string content;
  std::string message_type = "text";
  std::string sender_type; // user or bot
  std::string sender_id;
  std::string metadata = "{}";
  int64_t created_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, chat_message& x) {
  return f(caf::meta::type_name("chat_message"), x.id, x.conversation, x.seq, x.content,
           x.message_type, x.sender_type, x.sender_id, x.metadata, x.created_at_ms);
}

/// A user's message as it arrives at the API.
struct message_draft {
  std::string content;
  std::string message_type = "text";
  std::string metadata = "{}";
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message_draft& x) {
  return f(caf::meta::type_name("message_draft"), x.content, x.message_type, x.metadata);
}

/// The answer to a sent message: the stored user message and the bot's reply.
struct exchange {
  chat_message user_message;
  chat_message bot_response;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, exchange& x) {
  return f(caf::meta::type_name("exchange"), x.user_message, x.bot_response);
}

/// What a conversation tells its live subscribers (WebSocket clients) while it answers.
struct stream_event {
  enum kind_t : uint8_t { chunk, complete, failed, tool_call, tool_result };
  uint8_t kind = chunk;
  conversation_id conversation;
  int64_t chunk_id = 0;        // chunk: counts from 1 within one answer
  std::string content;         // chunk: the piece; complete: the whole answer; failed: why;
                               // tool_call: the arguments; tool_result: the result
  bool is_final = false;       // chunk: the last one of the answer; tool_result: it succeeded
  std::string tool;            // tool_call, tool_result: the tool's name
  std::string call_id;         // tool_call, tool_result: the call's id
  message_id message;          // complete: the stored answer
  std::string error_code;      // failed: the spec's error code
  std::string metadata = "{}"; // complete: the stored answer's metadata (its sources, ...)
  int64_t created_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_event& x) {
  return f(caf::meta::type_name("stream_event"), x.kind, x.conversation, x.chunk_id, x.content,
           x.is_final, x.tool, x.call_id, x.message, x.error_code, x.metadata, x.created_at_ms);
}

/// One page of a conversation's messages, oldest first.
struct message_page {
  std::vector<chat_message> messages;
  int64_t total = 0;
  int64_t limit = 0;
  int64_t offset = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message_page& x) {
  return f(caf::meta::type_name("message_page"), x.messages, x.total, x.limit, x.offset);
}

} // namespace chatagent::protocol
