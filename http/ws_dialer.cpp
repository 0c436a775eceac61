#include "http/ws_dialer.hpp"

#include "http/close_reason.hpp"
#include "protocol/address.hpp"
#include "protocol/error.hpp"

#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

namespace chatagent::http {

using namespace protocol;
namespace beast = boost::beast;
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

using dialed_atom = caf::atom_constant<caf::atom("dialed")>;

constexpr size_t max_queued_frames = 1024; // frames waiting to be written; then it closes
constexpr size_t max_frame_bytes = 4 << 20;

struct ws_url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

std::optional<ws_url> parse_ws_url(std::string_view url) {
  ws_url u;
  if (url.starts_with("wss://")) {
    u.tls = true;
    url.remove_prefix(6);
  } else if (url.starts_with("ws://")) {
    url.remove_prefix(5);
  } else {
    return std::nullopt;
  }
  auto slash = url.find_first_of("/?");
  auto authority = url.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string{url.substr(slash)};
  if (u.target.front() == '?')
    u.target.insert(0, "/");
  if (authority.empty() || authority.find('@') != std::string_view::npos)
    return std::nullopt;
  if (authority.front() == '[') { // [::1]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return std::nullopt;
    u.host = std::string{authority.substr(1, close - 1)};
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      u.port = std::string{authority.substr(close + 2)};
  } else {
    auto colon = authority.rfind(':');
    u.host = std::string{authority.substr(0, colon)};
    if (colon != std::string_view::npos)
      u.port = std::string{authority.substr(colon + 1)};
  }
  if (u.port.empty())
    u.port = u.tls ? "443" : "80";
  if (u.host.empty() || u.port.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return u;
}

/// One connection, whatever its stream.
class connection_base {
 public:
  virtual ~connection_base() = default;
  virtual void send(std::string text) = 0;
  virtual void close(std::string reason) = 0;
  /// Drops the connection at once (on the I/O thread): every pending operation ends.
  virtual void abort() = 0;
  /// Starts reading frames (once its owner has the connection: frames come after it).
  virtual void start_reading() = 0;
};

using read_atom = caf::atom_constant<caf::atom("read")>;

/// The connection's actor; `read_atom` (from the dialer, once the owner got the
/// connection) starts the frames.
using peer_actor = platform_peer_actor::extend<caf::reacts_to<read_atom>>;

/// The connection as an actor: its owner's frames go out, and it closes when the owner
/// is gone.
peer_actor::behavior_type peer_impl(peer_actor::pointer self, std::shared_ptr<connection_base> conn,
                                    adapter_actor owner) {
  self->monitor(owner);
  self->set_down_handler([self, conn](caf::down_msg&) {
    conn->close("the bot stopped");
    self->quit();
  });
  return {
      [conn](read_atom) { conn->start_reading(); },
      [conn](frame_atom, std::string& text) { conn->send(std::move(text)); },
      [self, conn](hangup_atom, std::string& reason) {
        conn->close(std::move(reason));
        self->quit();
      },
  };
}

} // namespace

struct ws_dialer::impl {
  impl(caf::actor_system& s, bool public_only) : sys(s), public_only(public_only) {}

  caf::actor_system& sys;
  bool public_only; // refuse loopback and private network addresses
  net::io_context ioc{1};
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  ssl::context tls{ssl::context::tls_client};
  std::thread thread;
  ws_dialer_actor actor;
  std::mutex mtx;
  std::vector<std::weak_ptr<connection_base>> live;
  bool stopped = false;

  void dial(int64_t id, ws_url url, std::vector<std::string> headers, adapter_actor owner,
            caf::actor dialer);
};

namespace {

template <class Stream>
class connection : public connection_base, public std::enable_shared_from_this<connection<Stream>> {
 public:
  static constexpr bool tls = !std::is_same_v<Stream, beast::tcp_stream>;

  connection(ws_dialer::impl& d, ws_url url, std::vector<std::string> headers, adapter_actor owner,
             int64_t id, caf::actor dialer)
      : d_(d), url_(std::move(url)), headers_(std::move(headers)), owner_(std::move(owner)),
        id_(id), dialer_(std::move(dialer)), resolver_(d.ioc), ws_(make_stream(d)) {}

  void start() {
    {
      std::lock_guard<std::mutex> guard{d_.mtx};
      std::erase_if(d_.live, [](auto& w) { return w.expired(); });
      d_.live.push_back(this->shared_from_this());
    }
    resolver_.async_resolve(
        url_.host, url_.port,
        [self = this->shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
          self->on_resolve(ec, std::move(r));
        });
  }

  void send(std::string text) override {
    net::post(d_.ioc, [self = this->shared_from_this(), text = std::move(text)]() mutable {
      if (self->closing_ || self->done_)
        return;
      if (self->out_.size() >= max_queued_frames) {
        spdlog::warn("websocket to {}: {} frames waiting; closing", self->url_.host,
                     self->out_.size());
        self->do_close("too many frames waiting");
        return;
      }
      self->out_.push_back(std::move(text));
      if (!self->writing_)
        self->write();
    });
  }

  void start_reading() override {
    net::post(d_.ioc, [self = this->shared_from_this()] {
      if (!self->done_)
        self->read();
    });
  }

  void abort() override {
    resolver_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  void close(std::string reason) override {
    net::post(d_.ioc, [self = this->shared_from_this(), reason = std::move(reason)] {
      self->do_close(reason);
    });
  }

 private:
  static websocket::stream<Stream> make_stream(ws_dialer::impl& d) {
    if constexpr (tls)
      return websocket::stream<Stream>(d.ioc, d.tls);
    else
      return websocket::stream<Stream>(d.ioc);
  }

  void fail_dial(const std::string& why) {
    caf::anon_send(caf::actor_cast<caf::actor>(dialer_), dialed_atom::value, id_,
                   platform_peer_actor{}, "cannot connect to " + url_.host + ": " + why);
  }

  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec)
      return fail_dial(ec.message());
    // The addresses actually connected to are checked (DNS cannot sneak a private one in).
    std::vector<tcp::endpoint> allowed;
    std::string refused;
    for (auto& r : results) {
      auto a = r.endpoint().address();
      bool ok = a.is_v4() ? protocol::is_public_ipv4(a.to_v4().to_bytes().data())
                          : protocol::is_public_ipv6(a.to_v6().to_bytes().data());
      if (ok || !d_.public_only)
        allowed.push_back(r.endpoint());
      else
        refused = a.to_string();
    }
    if (allowed.empty())
      return fail_dial("refused to connect to " + refused +
                       ": not a public address (private and loopback addresses are not allowed "
                       "here: platforms_allow_private_network)");
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(15));
    beast::get_lowest_layer(ws_).async_connect(
        allowed, [self = this->shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
          self->on_connect(ec);
        });
  }

  void on_connect(beast::error_code ec) {
    if (ec)
      return fail_dial(ec.message());
    if constexpr (tls) {
      auto& tls_stream = ws_.next_layer();
      if (!SSL_set_tlsext_host_name(tls_stream.native_handle(), url_.host.c_str()))
        return fail_dial("cannot set the TLS server name");
      tls_stream.set_verify_mode(ssl::verify_peer);
      tls_stream.set_verify_callback(ssl::host_name_verification(url_.host));
      tls_stream.async_handshake(ssl::stream_base::client,
                                 [self = this->shared_from_this()](beast::error_code ec) {
                                   if (ec)
                                     return self->fail_dial("TLS: " + ec.message());
                                   self->handshake();
                                 });
    } else {
      handshake();
    }
  }

  void handshake() {
    beast::get_lowest_layer(ws_).expires_never(); // the websocket stream times itself
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    ws_.read_message_max(max_frame_bytes);
    ws_.set_option(
        websocket::stream_base::decorator([headers = headers_](websocket::request_type& req) {
          req.set(beast::http::field::user_agent, "chatagent");
          for (auto& h : headers) {
            auto colon = h.find(':');
            if (colon == std::string::npos)
              continue;
            auto value = h.substr(colon + 1);
            while (!value.empty() && value.front() == ' ')
              value.erase(0, 1);
            req.set(h.substr(0, colon), value);
          }
        }));
    auto host = url_.host + ((url_.tls && url_.port == "443") || (!url_.tls && url_.port == "80")
                                 ? std::string{}
                                 : ":" + url_.port);
    ws_.async_handshake(host, url_.target, [self = this->shared_from_this()](beast::error_code ec) {
      self->on_handshake(ec);
    });
  }

  void on_handshake(beast::error_code ec) {
    if (ec)
      return fail_dial("WebSocket handshake: " + ec.message());
    peer_ = d_.sys.spawn(
        peer_impl, std::static_pointer_cast<connection_base>(this->shared_from_this()), owner_);
    caf::anon_send(caf::actor_cast<caf::actor>(dialer_), dialed_atom::value, id_, peer_,
                   std::string{});
  }

  void read() {
    ws_.async_read(in_, [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec) // "<close code> <why>": 1006 when there was no close frame
      return closed(ec == websocket::error::closed ? std::to_string(ws_.reason().code) + " " +
                                                         std::string{ws_.reason().reason.c_str()}
                                                   : "1006 " + ec.message());
    if (ws_.got_text()) {
      platform_event ev;
      ev.kind = platform_event::ws_text;
      ev.body = beast::buffers_to_string(in_.data());
      ev.peer = peer_;
      caf::anon_send(owner_, inbound_atom::value, std::move(ev));
    }
    in_.consume(in_.size());
    read();
  }

  void write() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(out_.front()),
                    [self = this->shared_from_this()](beast::error_code ec, size_t) {
                      self->out_.pop_front();
                      self->writing_ = false;
                      if (ec)
                        return self->closed(ec.message());
                      if (self->close_pending_) {
                        self->do_close(self->close_reason_);
                        return;
                      }
                      if (!self->out_.empty())
                        self->write();
                    });
  }

  void do_close(const std::string& reason) {
    if (closing_ || done_ || !peer_)
      return;
    if (writing_) { // a close may not overlap a write
      close_pending_ = true;
      close_reason_ = reason;
      return;
    }
    closing_ = true;
    auto [code, why] = split_close_reason(reason);
    ws_.async_close(websocket::close_reason{static_cast<websocket::close_code>(code), why},
                    [self = this->shared_from_this()](beast::error_code) {
                      // The pending read ends now, and reports it.
                    });
  }

  /// The connection ended: the owner hears it once.
  void closed(std::string why) {
    if (done_)
      return;
    done_ = true;
    platform_event ev;
    ev.kind = platform_event::ws_close;
    ev.body = std::move(why);
    ev.peer = peer_;
    caf::anon_send(owner_, inbound_atom::value, std::move(ev));
    caf::anon_send_exit(peer_, caf::exit_reason::normal);
    peer_ = nullptr;
  }

  ws_dialer::impl& d_;
  ws_url url_;
  std::vector<std::string> headers_;
  adapter_actor owner_;
  int64_t id_;
  caf::actor dialer_;
  tcp::resolver resolver_;
  websocket::stream<Stream> ws_;
  beast::flat_buffer in_;
  std::deque<std::string> out_;
  platform_peer_actor peer_;
  bool writing_ = false;
  bool closing_ = false;
  bool close_pending_ = false;
  bool done_ = false;
  std::string close_reason_;
};

struct dialer_state {
  dialer_state() = default; // not an aggregate: CAF 0.17 would construct it from `self`
  std::unordered_map<int64_t, caf::typed_response_promise<platform_peer_actor>> pending;
  int64_t next = 0;
};

/// `dialed_atom, id, connection, error`: dial `id` is over (`error` set when it failed).
using dialer_actor =
    ws_dialer_actor::extend<caf::reacts_to<dialed_atom, int64_t, platform_peer_actor, std::string>>;

dialer_actor::behavior_type dialer_impl(dialer_actor::stateful_pointer<dialer_state> self,
                                        ws_dialer::impl* d) {
  return {
      [self, d](dial_atom, std::string& url, std::vector<std::string>& headers,
                adapter_actor& owner) -> caf::result<platform_peer_actor> {
        auto u = parse_ws_url(url);
        if (!u)
          return api_error(errc::validation_error,
                           "'" + url + "' is not a ws:// or wss:// URL with a host");
        auto id = ++self->state.next;
        auto rp = self->make_response_promise<platform_peer_actor>();
        self->state.pending.emplace(id, rp);
        d->dial(id, std::move(*u), std::move(headers), std::move(owner),
                caf::actor_cast<caf::actor>(self));
        return rp;
      },
      [self](dialed_atom, int64_t id, platform_peer_actor& peer, std::string& error) {
        auto i = self->state.pending.find(id);
        if (i == self->state.pending.end())
          return;
        if (peer) {
          i->second.deliver(peer);
          // Frames reach the owner after the connection does.
          self->send(caf::actor_cast<peer_actor>(peer), read_atom::value);
        } else
          i->second.deliver(api_error(errc::bad_gateway, error));
        self->state.pending.erase(i);
      },
  };
}

} // namespace

void ws_dialer::impl::dial(int64_t id, ws_url url, std::vector<std::string> headers,
                           adapter_actor owner, caf::actor dialer) {
  net::post(ioc, [this, id, url = std::move(url), headers = std::move(headers),
                  owner = std::move(owner), dialer = std::move(dialer)]() mutable {
    if (url.tls)
      std::make_shared<connection<beast::ssl_stream<beast::tcp_stream>>>(
          *this, std::move(url), std::move(headers), std::move(owner), id, std::move(dialer))
          ->start();
    else
      std::make_shared<connection<beast::tcp_stream>>(*this, std::move(url), std::move(headers),
                                                      std::move(owner), id, std::move(dialer))
          ->start();
  });
}

ws_dialer::ws_dialer(caf::actor_system& sys, bool public_only)
    : impl_(std::make_shared<impl>(sys, public_only)) {
  impl_->tls.set_default_verify_paths();
  impl_->tls.set_verify_mode(ssl::verify_peer);
  impl_->thread = std::thread([d = impl_.get()] { d->ioc.run(); });
  auto a = sys.spawn(dialer_impl, impl_.get());
  impl_->actor = caf::actor_cast<ws_dialer_actor>(a);
}

ws_dialer::~ws_dialer() {
  stop();
}

ws_dialer_actor ws_dialer::actor() const {
  return impl_->actor;
}

void ws_dialer::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  caf::anon_send_exit(impl_->actor, caf::exit_reason::user_shutdown);
  impl_->actor = nullptr;
  // Every connection is dropped: their pending operations end (telling their owners while
  // the actor system still runs), and the I/O thread runs out of work.
  net::post(impl_->ioc, [d = impl_.get()] {
    std::vector<std::shared_ptr<connection_base>> open;
    {
      std::lock_guard<std::mutex> guard{d->mtx};
      for (auto& w : d->live)
        if (auto c = w.lock())
          open.push_back(std::move(c));
      d->live.clear();
    }
    for (auto& c : open)
      c->abort();
  });
  impl_->work.reset();
  for (int i = 0; i < 200 && !impl_->ioc.stopped(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  impl_->ioc.stop(); // a straggler: its handlers are dropped with the io_context
  if (impl_->thread.joinable())
    impl_->thread.join();
}

} // namespace chatagent::http
