#include "http/server.hpp"

#include "http/api.hpp"
#include "http/close_reason.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
// Each I/O thread runs its own io_context and a connection lives on one of them for its
// whole life, so its handlers never run concurrently: no strands, and no type-erased
// executors on the hot path.
using executor = net::io_context::executor_type;
using socket_type = net::basic_stream_socket<tcp, executor>;
using stream_type = beast::basic_stream<tcp, executor>;
using timer_type = net::basic_waitable_timer<std::chrono::steady_clock,
                                             net::wait_traits<std::chrono::steady_clock>, executor>;

struct server::impl {
  server_settings cfg;
  api& handler;
  // One io_context per I/O thread; the acceptor lives on the first one and hands the
  // connections out round-robin.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  size_t next_context = 0;
  std::optional<socket_type> accepting; // the socket the pending accept fills
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  std::atomic<size_t> connections{0};
  std::atomic<size_t> in_flight{0};
  std::atomic<bool> draining{false};
  uint16_t bound_port = 0;
  // Sessions waiting for an actor's answer have no Asio operation pending: without this,
  // run() would return once the acceptor closes and their answers would never be written.
  std::vector<net::executor_work_guard<executor>> work;

  impl(server_settings s, api& h) : cfg(std::move(s)), handler(h), acceptor(make_contexts()) {}

  net::io_context& make_contexts() {
    for (size_t i = 0; i < std::max<size_t>(1, cfg.io_threads); ++i)
      contexts.push_back(std::make_unique<net::io_context>(1));
    return *contexts.front();
  }

  void do_accept();
  void on_accept(beast::error_code ec);
};

namespace {

void fail(beast::error_code ec, const char* what) {
  if (ec == net::error::operation_aborted || ec == beast::error::timeout ||
      ec == net::error::connection_reset || ec == net::error::broken_pipe ||
      ec == bhttp::error::end_of_stream || ec == net::error::eof)
    return;
  spdlog::debug("http: {}: {}", what, ec.message());
}

namespace websocket = boost::beast::websocket;

/// `r` as one buffer to write: what Beast's serializer would send for a
/// `response<string_body>` after `keep_alive(keep)` and `prepare_payload()`, without
/// building its field set (an allocation per field) and walking it in pieces. The header
/// names and values are the server's own (`api_response` is never a client's).
std::string render_response(const api_response& r, unsigned version, bool keep) {
  std::string out;
  auto append_number = [&out](size_t n) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n);
    out.append(buf, end);
  };
  auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
  size_t size = 96 + reason.size() + r.content_type.size() + r.body.size();
  for (auto& [name, value] : r.headers)
    size += name.size() + value.size() + 4;
  out.reserve(size);
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_number(r.status);
  out.push_back(' ');
  out.append(reason.data(), reason.size());
  out.append("\r\nServer: chatagent\r\nContent-Type: ");
  out.append(r.content_type);
  out.append("\r\n");
  for (auto& [name, value] : r.headers) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
  if (version == 10 && keep)
    out.append("Connection: keep-alive\r\n");
  else if (version != 10 && !keep)
    out.append("Connection: close\r\n");
  out.append("Content-Length: ");
  append_number(r.body.size());
  out.append("\r\n\r\n");
  out.append(r.body);
  return out;
}

/// Most bytes of WebSocket messages a slow client may have waiting before it is
/// disconnected (the number of messages is `ws_queue_messages`).
constexpr size_t ws_queue_max_bytes = 4 << 20;
constexpr size_t ws_message_max_bytes = 64 << 10;

/// The messages waiting to be written to a WebSocket, oldest first. Unlike std::deque,
/// it holds no memory while empty, which is how most connections spend their time.
class text_queue {
 public:
  bool empty() const noexcept { return head_ == items_.size(); }
  size_t size() const noexcept { return items_.size() - head_; }
  std::string& front() { return items_[head_]; }
  std::string& back() { return items_.back(); }
  void push_back(std::string s) { items_.push_back(std::move(s)); }
  void pop_back() { items_.pop_back(); }
  void pop_front() {
    items_[head_++] = std::string{};
    if (empty()) {
      items_ = std::vector<std::string>{};
      head_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

 private:
  std::vector<std::string> items_;
  size_t head_ = 0;
};

/// One WebSocket connection, after an HTTP upgrade request: asks the API whether to accept
/// it, completes the handshake, then reads client messages and writes the API's messages
/// through a bounded queue (a client that does not keep up is disconnected: no unbounded
/// buffering on its behalf). Pings keep idle connections alive.
class websocket_session : public ws_outlet, public std::enable_shared_from_this<websocket_session> {
 public:
  websocket_session(stream_type&& stream, server::impl& srv, bhttp::request<bhttp::string_body> req,
                    std::string client_address)
      : ws_(std::move(stream)), srv_(srv), req_(std::move(req)),
        client_address_(std::move(client_address)) {
    srv_.connections.fetch_add(1, std::memory_order_relaxed);
  }

  ~websocket_session() override { srv_.connections.fetch_sub(1, std::memory_order_relaxed); }

  void run(api_request areq) {
    auto self = shared_from_this();
    srv_.handler.upgrade(
        std::move(areq), self,
        [self](std::optional<api_response> refusal, std::shared_ptr<ws_inlet> in) mutable {
          net::post(self->ws_.get_executor(),
                    [self, refusal = std::move(refusal), in = std::move(in)]() mutable {
                      if (refusal)
                        self->refuse(std::move(*refusal));
                      else
                        self->accept(std::move(in));
                    });
        });
  }

  // -- ws_outlet (any thread) ---------------------------------------------------

  void send(std::string text) override {
    net::post(ws_.get_executor(), [self = shared_from_this(), text = std::move(text)]() mutable {
      self->enqueue(std::move(text));
    });
  }

  void close(std::string reason) override {
    net::post(ws_.get_executor(), [self = shared_from_this(), reason = std::move(reason)] {
      auto [code, why] = split_close_reason(reason); // "4000 why": code 4000
      self->do_close(static_cast<websocket::close_code>(code), why);
    });
  }

 private:
  void refuse(api_response r) {
    refusal_ = render_response(r, req_.version(), false);
    beast::get_lowest_layer(ws_).expires_after(srv_.cfg.read_timeout);
    net::async_write(ws_.next_layer(), net::buffer(refusal_),
                     [self = shared_from_this()](beast::error_code, std::size_t) {
                       beast::error_code ec;
                       self->ws_.next_layer().socket().shutdown(tcp::socket::shutdown_both, ec);
                       self->ws_.next_layer().socket().close(ec);
                     });
  }

  void accept(std::shared_ptr<ws_inlet> in) {
    inlet_ = std::move(in);
    beast::get_lowest_layer(ws_).expires_never(); // the websocket stream times itself
    websocket::stream_base::timeout t;
    t.handshake_timeout = srv_.cfg.read_timeout;
    t.idle_timeout = srv_.cfg.idle_timeout; // a ping after half of it, closed after all of it
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(bhttp::field::server, "chatagent"); }));
    ws_.read_message_max(ws_message_max_bytes);
    ws_.async_accept(req_,
                     [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void on_accept(beast::error_code ec) {
    if (ec) {
      fail(ec, "websocket accept");
      finish();
      return;
    }
    accepted_ = true;
    req_ = {}; // not needed any more
    do_read();
    if (!queue_.empty())
      do_write();
  }

  // Reads frame payload piece by piece into a small buffer of the session: a whole-message
  // read would have the stream reserve a frame's worth (4 KiB) of buffer for every idle
  // connection. Messages are assembled in `message_`, which is empty between messages.
  void do_read() {
    ws_.async_read_some(
        net::buffer(piece_),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    if (ec) {
      if (ec != websocket::error::closed)
        fail(ec, "websocket read");
      finish();
      return;
    }
    message_.append(piece_.data(), n);
    if (ws_.is_message_done()) {
      if (ws_.got_text() && inlet_)
        inlet_->on_text(std::move(message_));
      message_ = std::string{};
    }
    do_read();
  }

  void enqueue(std::string text) {
    if (closing_ || finished_)
      return;
    if (queue_.size() >= srv_.cfg.ws_queue_messages ||
        queued_bytes_ + text.size() > ws_queue_max_bytes) {
      spdlog::warn("websocket client {} reads too slowly: {} messages waiting; disconnecting",
                   client_address_, queue_.size());
      // The message being written stays until its write completes.
      while (queue_.size() > (writing_ ? 1u : 0u)) {
        queued_bytes_ -= queue_.back().size();
        queue_.pop_back();
      }
      do_close(websocket::close_code::policy_error, "send queue full: the client reads too slowly");
      return;
    }
    queued_bytes_ += text.size();
    queue_.push_back(std::move(text));
    if (accepted_ && queue_.size() == 1 && !writing_)
      do_write();
  }

  void do_write() {
    if (queue_.empty() || writing_ || closing_)
      return;
    writing_ = true;
    ws_.text(true);
    ws_.async_write(
        net::buffer(queue_.front()),
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (ec) {
      fail(ec, "websocket write");
      finish();
      return;
    }
    queued_bytes_ -= queue_.front().size();
    queue_.pop_front();
    if (pending_close_) {
      auto why = *pending_close_;
      pending_close_.reset();
      do_close(static_cast<websocket::close_code>(why.code), std::string{why.reason.c_str()});
      return;
    }
    do_write();
  }

  void do_close(websocket::close_code code, const std::string& reason) {
    if (closing_ || finished_)
      return;
    if (!accepted_) {
      finish();
      return;
    }
    if (writing_) { // one write at a time: close after the current one
      pending_close_.emplace(code, reason);
      return;
    }
    closing_ = true;
    ws_.async_close(websocket::close_reason{code, reason},
                    [self = shared_from_this()](beast::error_code) { self->finish(); });
  }

  /// The connection is over: tell the API once.
  void finish() {
    if (finished_)
      return;
    finished_ = true;
    if (inlet_) {
      inlet_->on_close();
      inlet_.reset();
    }
  }

  websocket::stream<stream_type> ws_;
  server::impl& srv_;
  bhttp::request<bhttp::string_body> req_;
  std::string refusal_; // the response refusing the upgrade, while it is written
  std::string client_address_;
  std::array<char, 256> piece_;
  std::string message_;
  std::shared_ptr<ws_inlet> inlet_;
  text_queue queue_;
  size_t queued_bytes_ = 0;
  std::optional<websocket::close_reason> pending_close_;
  bool accepted_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

/// One client connection: read a request, answer it, repeat while kept alive.
class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(socket_type&& socket, server::impl& srv) : stream_(std::move(socket)), srv_(srv) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec)
      client_address_ = ep.address().to_string();
  }

  ~http_session() { srv_.connections.fetch_sub(1, std::memory_order_relaxed); }

  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&http_session::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(srv_.cfg.max_header_bytes));
    // The largest limit until the headers tell which applies (Beast checks a
    // Content-Length against the limit as soon as the headers are parsed).
    body_limit_ = std::max(srv_.cfg.max_body_bytes, srv_.cfg.max_upload_bytes);
    parser_->body_limit(body_limit_);
    stream_.expires_after(srv_.cfg.idle_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&http_session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) {
      on_read_error(ec);
      return;
    }
    stream_.expires_never();
    // File uploads get a limit of their own.
    body_limit_ = srv_.cfg.max_body_bytes;
    auto type = parser_->get()[bhttp::field::content_type];
    if (type.size() >= 19 && beast::iequals(type.substr(0, 19), "multipart/form-data"))
      body_limit_ = srv_.cfg.max_upload_bytes;
    if (auto length = parser_->content_length(); length && *length > body_limit_) {
      reject(protocol::errc::payload_too_large,
             "the request body exceeds " + std::to_string(body_limit_) + " bytes");
      return;
    }
    // A chunked body is measured as it arrives.
    parser_->body_limit(body_limit_);
    // The body usually came in with the headers: parsed here from the buffer, it needs no
    // deadline, no asynchronous read and none of their completions.
    beast::error_code pec;
    while (!parser_->is_done() && buffer_.size() > 0) {
      auto n = parser_->put(buffer_.data(), pec);
      buffer_.consume(n);
      if (pec || n == 0)
        break;
    }
    if (pec && pec != bhttp::error::need_more) {
      on_read_error(pec);
      return;
    }
    if (parser_->is_done()) { // all of it (or no body, as with most GETs)
      on_read({}, 0);
      return;
    }
    // The body gets its own deadline: a timeout of the stream itself would close the
    // socket, and a client that stalls mid-body deserves a 408 it can read.
    body_timed_out_ = false;
    body_timer_.expires_after(srv_.cfg.read_timeout);
    body_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec)
        return;
      self->body_timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
      continue_.emplace(bhttp::status::continue_, parser_->get().version());
      bhttp::async_write(stream_, *continue_,
                         beast::bind_front_handler(&http_session::on_continue, shared_from_this()));
      return;
    }
    read_body();
  }

  void on_continue(beast::error_code ec, std::size_t) {
    if (ec) {
      body_timer_.cancel();
      fail(ec, "write 100-continue");
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  }

  void on_read_error(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      reject(protocol::errc::payload_too_large,
             "the request body exceeds " + std::to_string(body_limit_) + " bytes");
    } else if (ec == bhttp::error::header_limit) {
      reject(protocol::errc::header_too_large,
             "the request headers exceed " + std::to_string(srv_.cfg.max_header_bytes) + " bytes");
    } else if (ec == net::error::operation_aborted && body_timed_out_) {
      reject(protocol::errc::request_timeout, "the request body was not received in time");
    } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
               ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      reject(protocol::errc::validation_error, "malformed HTTP request: " + ec.message());
    } else {
      fail(ec, "read");
      close();
    }
  }

  /// Answers a request the transport refused, then closes the connection.
  void reject(protocol::errc code, std::string message) {
    body_timer_.cancel();
    api_request req;
    req.client_address = client_address_;
    if (parser_ && parser_->is_header_done())
      req = to_api_request(parser_->get(), false);
    keep_alive_ = false;
    srv_.in_flight.fetch_add(1, std::memory_order_relaxed);
    srv_.handler.reject(req, code, std::move(message), post_back());
  }

  api_request to_api_request(bhttp::request<bhttp::string_body>& req, bool take_body) {
    api_request r;
    r.method = std::string{req.method_string()};
    r.target = std::string{req.target()};
    if (take_body)
      r.body = std::move(req.body());
    r.authorization = std::string{req[bhttp::field::authorization]};
    r.content_type = std::string{req[bhttp::field::content_type]};
    r.request_id = std::string{req["X-Request-Id"]};
    r.client_address = client_address_;
    // Platform callbacks are authenticated by their own headers (signatures): only they
    // get them all, other requests are not slowed by copies.
    if (r.target.starts_with("/api/v1/webhooks/"))
      for (auto& f : req)
        r.headers.emplace_back(std::string{f.name_string()}, std::string{f.value()});
    return r;
  }

  void on_read(beast::error_code ec, std::size_t) {
    body_timer_.cancel();
    if (ec) {
      on_read_error(ec);
      return;
    }
    auto& req = parser_->get();
    if (websocket::is_upgrade(req)) {
      // The connection becomes a WebSocket (or gets the refusal): this session ends here.
      auto areq = to_api_request(req, false);
      std::make_shared<websocket_session>(std::move(stream_), srv_, parser_->release(),
                                          client_address_)
          ->run(std::move(areq));
      return;
    }
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    srv_.in_flight.fetch_add(1, std::memory_order_relaxed);
    srv_.handler.handle(to_api_request(req, true), post_back());
  }

  /// A responder that writes the answer on this session's strand, from any thread.
  responder post_back() {
    return [self = shared_from_this()](api_response res) mutable {
      auto ex = self->stream_.get_executor();
      net::post(ex, [self = std::move(self), res = std::move(res)]() mutable {
        self->write(std::move(res));
      });
    };
  }

  void write(api_response r) {
    bool keep = keep_alive_ && !srv_.draining.load(std::memory_order_relaxed);
    out_ = render_response(r, version_, keep);
    stream_.expires_after(srv_.cfg.read_timeout);
    net::async_write(stream_, net::buffer(out_),
                     beast::bind_front_handler(&http_session::on_write, shared_from_this(), !keep));
  }

  void on_write(bool close_after, beast::error_code ec, std::size_t) {
    srv_.in_flight.fetch_sub(1, std::memory_order_relaxed);
    // An idle keep-alive connection keeps no response buffer (thousands of them may wait
    // for their next request); a response costs one allocation.
    std::string{}.swap(out_);
    if (ec) {
      fail(ec, "write");
      return;
    }
    if (close_after) {
      linger();
      return;
    }
    do_read();
  }

  /// Half-closes, then reads and discards what the client still sends for a moment, so
  /// the error response is not lost to a reset caused by unread data.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > (size_t{4} << 20)) {
                                self->close();
                                return;
                              }
                              self->drain();
                            });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  stream_type stream_;
  server::impl& srv_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  std::string out_; // the response being written
  timer_type body_timer_{stream_.get_executor()};
  bool body_timed_out_ = false;
  size_t body_limit_ = 0; // of the request being read
  std::string client_address_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
  std::array<char, 16384> scratch_{};
  size_t drained_ = 0;
};

} // namespace

void server::impl::do_accept() {
  auto& ioc = *contexts[next_context];
  next_context = (next_context + 1) % contexts.size();
  accepting.emplace(ioc.get_executor());
  acceptor.async_accept(*accepting, beast::bind_front_handler(&impl::on_accept, this));
}

void server::impl::on_accept(beast::error_code ec) {
  auto socket = std::move(*accepting);
  accepting.reset();
  if (ec == net::error::operation_aborted || !acceptor.is_open())
    return;
  if (ec) {
    fail(ec, "accept");
  } else if (connections.fetch_add(1, std::memory_order_relaxed) >= cfg.max_connections) {
    connections.fetch_sub(1, std::memory_order_relaxed);
    spdlog::warn("http: refusing a connection: {} connections open", cfg.max_connections);
    beast::error_code ignored;
    socket.close(ignored);
  } else {
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<http_session>(std::move(socket), *this)->run();
  }
  do_accept();
}

server::server(server_settings settings, api& handler)
    : impl_(std::make_unique<impl>(std::move(settings), handler)) {}

server::~server() {
  stop();
}

bool server::start(std::string& error) {
  auto& d = *impl_;
  beast::error_code ec;
  tcp::endpoint endpoint;
  auto address = net::ip::make_address(d.cfg.host, ec);
  if (ec) {
    tcp::resolver resolver{*d.contexts.front()};
    auto results = resolver.resolve(d.cfg.host, std::to_string(d.cfg.port), ec);
    if (ec || results.empty()) {
      error = "cannot resolve host '" + d.cfg.host + "': " + ec.message();
      return false;
    }
    endpoint = *results.begin();
  } else {
    endpoint = tcp::endpoint{address, d.cfg.port};
  }
  auto where = d.cfg.host + ":" + std::to_string(d.cfg.port);
  if (d.acceptor.open(endpoint.protocol(), ec); ec) {
    error = "cannot open a socket for " + where + ": " + ec.message();
    return false;
  }
  d.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (d.acceptor.bind(endpoint, ec); ec) {
    error = "cannot listen on " + where + ": " + ec.message();
    return false;
  }
  if (d.acceptor.listen(net::socket_base::max_listen_connections, ec); ec) {
    error = "cannot listen on " + where + ": " + ec.message();
    return false;
  }
  d.bound_port = d.acceptor.local_endpoint().port();
  d.do_accept();
  for (auto& ioc : d.contexts) {
    d.work.push_back(net::make_work_guard(ioc->get_executor()));
    d.threads.emplace_back([&ioc = *ioc] { ioc.run(); });
  }
  return true;
}

uint16_t server::port() const noexcept {
  return impl_->bound_port;
}

void server::stop() {
  auto& d = *impl_;
  if (d.threads.empty())
    return;
  d.draining = true;
  net::post(d.acceptor.get_executor(), [&d] {
    beast::error_code ec;
    d.acceptor.close(ec);
  });
  auto deadline = std::chrono::steady_clock::now() + d.cfg.shutdown_timeout;
  while (d.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (auto left = d.in_flight.load(); left > 0)
    spdlog::warn("http: {} requests still in flight at shutdown", left);
  d.work.clear();
  for (auto& ioc : d.contexts)
    ioc->stop();
  for (auto& t : d.threads)
    t.join();
  d.threads.clear();
}

} // namespace chatagent::http
