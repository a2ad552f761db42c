// MQTT transport: every communicator is one MQTT client of a broker (Paho
// MQTT C++), whose client id is its id in 32 lowercase hex digits.
//
// Topics (net-queue's, plus three of ours that Python peers never subscribe):
//   c2s/<client hex>        a client's pieces to the server
//   s2c/<client hex>        the server's pieces to that client
//   c2s/<client hex>/gone   the client's session ended abnormally: its will
//                           (the broker publishes it when the client vanishes)
//                           or a notice when it cut the session itself
//   s2c/<client hex>/gone   the server cut that client's session
//   c2s/<client hex>/credit the stream bytes a netqueue client has handed to
//   s2c/<client hex>/credit its session so far (8 bytes, big-endian), and the
//                           server's for that client: flow control, below
//   netqueue/server         retained: the id of the netqueue server on this
//                           broker, cleared (empty, by notice or will) when it goes
// `+` matches one level only, so a Python server's `c2s/+` never sees ours.
//
// A link is one client's topic pair. The server learns clients from topics:
// the first piece on c2s/<hex> attaches a session keyed by <hex>. Pieces are
// taken from the session (owned style), cut into publishes of at most
// mqtt.publish_size bytes (Paho copies each one), and acknowledged at the
// broker's PUBACK (QoS 1) in the order taken. At most mqtt.window publishes
// are in flight per communicator: the rest waits in the session, where the
// caller's bytes are not copied. Received payloads are handed up as owned
// chunks of Paho's message (no copy).
//
// Flow control: a broker acknowledges a publish whoever reads it, and keeps
// delivering to a subscriber that takes nothing, so the receive bound alone
// cannot hold a sender back. A netqueue receiver therefore publishes, on its
// own credit topic, how many stream bytes it has handed to its session (first
// after its first piece, then every quarter of the credit window), and a
// netqueue sender that has heard from it keeps at most `credit_window` bytes
// published beyond that. A peer that never sends credit (Python net-queue) is
// not held back.
//
// The wire has no sequence numbers: when the broker connection is lost, the
// pieces in flight may be lost or redelivered, so every session ends (both
// sides see the broker go) rather than continue a possibly corrupted stream.
#include "mqtt/mqtt.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace netqueue::detail {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* presence_topic = "netqueue/server";
// Bytes a sender may have published beyond what its peer handed up, and how
// often a receiver says what it took. Measured with 2 MiB messages through
// mosquitto (bench/README.md): 8 MiB in quarters held sync at 1.8 Gbit/s,
// 16 MiB in sixteenths at 2.4, 32 MiB in sixteenths at 3.0 (as without flow
// control) with the receiver's peak memory still under 64 MB.
constexpr std::uint64_t credit_window = 32 * MiB;
constexpr std::uint64_t credit_step = credit_window / 16;

// The MQTT keepalive: mqtt.keepalive, or from connection.peer_timeout so that
// the broker (after 1.5x the keepalive) cuts a vanished peer about then.
std::chrono::seconds keepalive_of(const Options& o) {
  if (o.mqtt.keepalive) return *o.mqtt.keepalive;
  if (o.connection.peer_timeout.count() == 0) return 0s;
  const auto derived = std::chrono::duration_cast<std::chrono::seconds>(o.connection.peer_timeout * 2 / 3);
  return std::clamp<std::chrono::seconds>(derived, 1s, std::chrono::seconds(65535));
}

// Paho C 1.3.12 leaves Nagle's algorithm on and has no option to turn it off
// (eclipse-paho/paho.mqtt.c#530): a small publish written right after another
// small packet (a PUBACK) waits for the broker's delayed ACK, 40 ms on Linux,
// so one small request and its reply took 88 ms on loopback. Once connected,
// this process's TCP sockets whose peer is the broker (`port`, and `host` when
// it is an address) get TCP_NODELAY: they are Paho's, and any other connection
// of the process to the broker only gains.
void disable_nagle_towards(const std::string& host, std::uint16_t port) {
  in_addr v4{};
  in6_addr v6{};
  const bool is_v4 = ::inet_pton(AF_INET, host.c_str(), &v4) == 1;
  const bool is_v6 = !is_v4 && ::inet_pton(AF_INET6, host.c_str(), &v6) == 1;
  DIR* fds = ::opendir("/proc/self/fd");
  if (!fds) return;
  while (const dirent* entry = ::readdir(fds)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == ::dirfd(fds)) continue;
    int protocol = 0;
    socklen_t length = sizeof protocol;
    if (::getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_PROTOCOL, &protocol, &length) != 0 ||
        protocol != IPPROTO_TCP)
      continue;
    sockaddr_storage peer{};
    length = sizeof peer;
    if (::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &length) != 0) continue;
    bool match = false;
    if (peer.ss_family == AF_INET) {
      const auto& a = reinterpret_cast<const sockaddr_in&>(peer);
      match = ntohs(a.sin_port) == port && (!is_v4 || a.sin_addr.s_addr == v4.s_addr) && !is_v6;
    } else if (peer.ss_family == AF_INET6) {
      const auto& a = reinterpret_cast<const sockaddr_in6&>(peer);
      match = ntohs(a.sin6_port) == port && (!is_v6 || std::memcmp(&a.sin6_addr, &v6, sizeof v6) == 0) && !is_v4;
    }
    const int on = 1;
    if (match) ::setsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  ::closedir(fds);
}

std::string encode_credit(std::uint64_t bytes) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, bytes >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(bytes & 0xff);
  return out;
}
std::optional<std::uint64_t> decode_credit(const std::string& payload) {
  if (payload.size() != 8) return std::nullopt;
  std::uint64_t bytes = 0;
  for (char c : payload) bytes = (bytes << 8) | static_cast<unsigned char>(c);
  return bytes;
}

std::string seconds_text(std::chrono::milliseconds d) {
  std::string s = std::to_string(std::chrono::duration<double>(d).count());
  return s.substr(0, s.find('.') + 2) + " s";
}

bool is_hex_id(std::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

class MqttTransport;

// One peer's topic pair. Everything but the Link methods runs on its executor.
class MqttLink final : public Link, public std::enable_shared_from_this<MqttLink> {
 public:
  // `out_topic`: where our pieces go; `credit_topic`: where we say what we took.
  MqttLink(MqttTransport& transport, std::shared_ptr<Executor> executor, std::string key, std::string out_topic,
           std::string credit_topic, std::uint64_t generation)
      : transport_(transport),
        executor_(std::move(executor)),
        key_(std::move(key)),
        out_topic_(std::move(out_topic)),
        credit_topic_(std::move(credit_topic)),
        generation_(generation) {}

  void wake_send() override {
    post([](MqttLink& l) { l.pump(); });
  }
  void wake_receive() override {
    post([](MqttLink& l) { l.drain(); });
  }
  void close(bool graceful) override {
    post([graceful](MqttLink& l) { l.end(graceful ? std::string() : "closed", !graceful); });
  }
  std::string remote() const override { return "mqtt client " + key_; }

  const std::string& key() const noexcept { return key_; }
  std::uint64_t generation() const noexcept { return generation_; }

  // `peer_has_credit`: the peer is known to be a netqueue peer (a server that
  // announced itself, a client whose first credit came before its first
  // piece), so its credit is awaited from the first byte on.
  void post_start(std::shared_ptr<Pipe> pipe, bool peer_has_credit) {
    post([pipe = std::move(pipe), peer_has_credit](MqttLink& l) mutable {
      l.pipe_ = std::move(pipe);
      if (l.ended_) return l.finish();
      if (peer_has_credit) l.peer_took_ = 0;
      l.send_credit();  // "we speak credit", before our first piece
      l.drain();
      l.pump();
    });
  }
  void post_deliver(mqtt::const_message_ptr message) {
    post([message = std::move(message)](MqttLink& l) mutable { l.deliver(std::move(message)); });
  }
  // The peer's session is gone (its will or notice, the broker, the server's
  // presence): bytes may be lost.
  void post_lost(std::string reason) {
    post([reason = std::move(reason)](MqttLink& l) { l.end(reason, false); });
  }
  void post_published(std::uint64_t id, bool ok, std::string error) {
    post([id, ok, error = std::move(error)](MqttLink& l) { l.published(id, ok, error); });
  }
  void post_pump() {
    post([](MqttLink& l) { l.pump(); });
  }
  // The peer handed `bytes` of our stream to its session so far.
  void post_credit(std::uint64_t bytes) {
    post([bytes](MqttLink& l) {
      l.peer_took_ = std::max(l.peer_took_.value_or(0), bytes);
      l.pump();
    });
  }

 private:
  struct Flight {
    std::uint64_t id;
    std::size_t bytes;
    bool done = false;
  };

  template <class F>
  void post(F f) {
    executor_->post([self = shared_from_this(), f = std::move(f)]() mutable { f(*self); });
  }

  void pump();
  void published(std::uint64_t id, bool ok, const std::string& error);

  void deliver(mqtt::const_message_ptr message) {
    if (ended_) return;
    const auto& payload = message->get_payload();
    // Paho's copy of the payload is adopted: the session slices frames out of it.
    auto bytes = std::as_bytes(std::span(payload.data(), payload.size()));
    received_.push_back(Chunk::adopt(std::shared_ptr<const void>(message, message.get()), bytes));
    drain();
  }

  // A broker cannot be told to stop delivering one topic: what arrives while
  // the session is paused by its receive bound waits here.
  void drain() {
    while (pipe_ && !ended_ && !received_.empty()) {
      if (!pipe_->receiving()) return;  // wake_receive resumes
      Chunk c = std::move(received_.front());
      received_.pop_front();
      const bool first = took_ == 0;
      took_ += c.size();
      pipe_->received_piece(std::move(c));
      if (first || took_ - credited_ >= credit_step) send_credit();
    }
  }
  void send_credit();

  // reason empty: a graceful end (goodbyes exchanged). notify: tell the peer
  // that its session is gone, so that it fails loudly instead of waiting.
  // `cause`: errc::transport when the broker connection failed us (core/transport.hpp).
  void end(const std::string& reason, bool notify, std::error_code cause = {});
  void finish();

  MqttTransport& transport_;
  const std::shared_ptr<Executor> executor_;
  const std::string key_;
  const mqtt::string_ref out_topic_;
  const std::string credit_topic_;
  const std::uint64_t generation_;
  // Flow control: stream bytes we published, and what the peer said it took
  // (nothing heard: a peer without flow control, not held back); stream bytes
  // we handed up, and the last count we told the peer.
  std::uint64_t published_ = 0;
  std::optional<std::uint64_t> peer_took_;
  std::uint64_t took_ = 0, credited_ = 0;
  std::shared_ptr<Pipe> pipe_;
  std::deque<Chunk> received_;
  Stream piece_;                // taken from the session, not yet all published
  std::deque<Flight> flights_;  // published, in order, awaiting the broker
  bool ended_ = false;
  std::string reason_;
  std::error_code cause_;
};

// Completion of publishes, from Paho's threads: forwards to the transport.
class PublishListener final : public mqtt::iaction_listener {
 public:
  explicit PublishListener(MqttTransport& transport) : transport_(transport) {}
  void on_success(const mqtt::token& token) override;
  void on_failure(const mqtt::token& token) override;

 private:
  MqttTransport& transport_;
};

class MqttTransport final : public Transport {
 public:
  MqttTransport(Purpose purpose, const Options& options, Hub& hub)
      : purpose_(purpose),
        options_(options),
        hub_(hub),
        hex_(options.id->hex()),
        broker_(describe_broker(options)),
        listener_(*this) {}
  ~MqttTransport() override { stop(); }

  void start() override {
    connector_ = std::thread([this] { run(); });
  }

  std::uint16_t port() const override { return static_cast<std::uint16_t>(options_.netloc.port); }

  void stop_accepting() override {
    std::lock_guard lock(mutex_);
    accepting_ = false;
    changed_.notify_all();
  }

  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      accepting_ = false;
      changed_.notify_all();
    }
    if (connector_.joinable()) connector_.join();
    std::vector<std::shared_ptr<MqttLink>> links;
    {
      std::lock_guard lock(mutex_);
      for (auto& [key, link] : links_) links.push_back(link);
    }
    for (auto& l : links) l->close(false);
    {
      std::unique_lock lock(mutex_);
      all_detached_.wait(lock, [&] { return attached_ == 0; });
    }
    std::shared_ptr<mqtt::async_client> client;
    {
      std::lock_guard lock(mutex_);
      client = std::move(client_);
    }
    if (!client) return;
    // A clean goodbye to the broker: no will is published, our presence is cleared.
    try {
      if (client->is_connected()) {
        if (purpose_ == Purpose::server)
          client->publish(mqtt::message::create(presence_topic, std::string(), 1, true))->wait_for(2s);
        client->disconnect(2000)->wait_for(3s);
      }
    } catch (const std::exception&) {
      // The broker is gone already: nothing to say goodbye to.
    }
    quiet(*client);
  }

  // ---- for links (their executors) ----

  // A publish slot for `link`, or 0 when the window is full: the link then
  // waits in line and is woken when a slot frees.
  std::uint64_t acquire(const std::shared_ptr<MqttLink>& link) {
    std::lock_guard lock(mutex_);
    if (in_flight_.size() >= options_.mqtt.window) {
      if (std::find_if(waiting_.begin(), waiting_.end(), [&](auto& w) { return w.lock() == link; }) ==
          waiting_.end())
        waiting_.push_back(link);
      return 0;
    }
    const std::uint64_t id = ++next_publish_;
    in_flight_.emplace(id, link);
    return id;
  }

  // Publishes `payload` for `link` under slot `id`; the listener reports the end.
  bool publish(const MqttLink& link, const mqtt::string_ref& topic, std::string payload, std::uint64_t id,
               std::string& error) {
    std::shared_ptr<mqtt::async_client> client;
    {
      std::lock_guard lock(mutex_);
      if (link.generation() == generation_) client = client_;
    }
    if (!client) {
      release(id);
      error = "the connection to the MQTT broker at " + broker_ + " is gone";
      return false;
    }
    try {
      auto message = mqtt::message::create(topic, mqtt::binary_ref(std::move(payload)), options_.mqtt.qos, false);
      client->publish(std::move(message), reinterpret_cast<void*>(static_cast<std::uintptr_t>(id)), listener_);
      return true;
    } catch (const std::exception& e) {
      release(id);
      error = std::string("publish to the MQTT broker failed: ") + e.what();
      return false;
    }
  }

  // Best effort, outside the window: a notice to the peer of a link (its
  // session ended; flow-control credit).
  void publish_notice(const MqttLink& link, const std::string& topic, std::string payload = {}) {
    std::shared_ptr<mqtt::async_client> client;
    {
      std::lock_guard lock(mutex_);
      if (link.generation() == generation_) client = client_;
    }
    if (!client) return;
    try {
      client->publish(mqtt::message::create(topic, std::move(payload), 1, false));
    } catch (const std::exception&) {
      // Not connected: the peer learns from the broker instead.
    }
  }

  // The link finished: it leaves the table (if it is still the key's link).
  void detached(const MqttLink& link) {
    std::lock_guard lock(mutex_);
    if (auto it = links_.find(link.key()); it != links_.end() && it->second.get() == &link) links_.erase(it);
    if (--attached_ == 0) all_detached_.notify_all();
  }

  void log(LogLevel level, const std::string& text) { hub_.log(level, text); }
  const Options& options() const { return options_; }

  // ---- Paho's threads ----

  void completed(const mqtt::token& token, bool ok) {
    const auto id = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(token.get_user_context()));
    std::shared_ptr<MqttLink> link = release(id);
    if (!link) return;
    std::string error;
    if (!ok) {
      error = "the MQTT broker did not take a publish (code " + std::to_string(token.get_return_code()) + ")";
    }
    link->post_published(id, ok, std::move(error));
  }

 private:
  static std::string describe_broker(const Options& o) {
    const std::string& h = o.netloc.host;
    return (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(o.netloc.port);
  }

  // Frees slot `id`; returns its link and wakes the next link waiting for a slot.
  // Every waiting link is woken (not just one), so that a link that ended
  // while waiting cannot strand the others.
  std::shared_ptr<MqttLink> release(std::uint64_t id) {
    std::shared_ptr<MqttLink> owner;
    std::deque<std::weak_ptr<MqttLink>> waiting;
    {
      std::lock_guard lock(mutex_);
      auto it = in_flight_.find(id);
      if (it == in_flight_.end()) return nullptr;
      owner = it->second.lock();
      in_flight_.erase(it);
      waiting.swap(waiting_);
    }
    for (auto& w : waiting)
      if (auto next = w.lock()) next->post_pump();
    return owner;
  }

  // ---- the connector thread: connects, reconnects (server), reports loss ----

  void run() {
    auto deadline = Clock::now() + options_.connection.connect_timeout;
    bool reported = false;
    auto backoff = 20ms;
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_ || (purpose_ == Purpose::client && !accepting_)) return;
      }
      std::string error;
      if (connect_once(deadline, error)) {
        backoff = 20ms;
        if (purpose_ == Purpose::client && !attach_client(deadline)) return;
        if (!wait_for_loss()) return;  // stopping
        hub_.transport_failed(errc::transport, "lost the connection to the MQTT broker at " + broker_ + " (" +
                                                   cause_ + "): pieces in flight may be lost, so the sessions end");
        if (purpose_ == Purpose::client) return;
        drop_client();
        deadline = Clock::now() + options_.connection.connect_timeout;
        reported = false;
        continue;
      }
      if (Clock::now() >= deadline && !reported) {
        const std::string why = "cannot reach the MQTT broker at " + broker_ + " within connection.connect_timeout (" +
                                seconds_text(options_.connection.connect_timeout) + "): " + error;
        hub_.transport_failed(errc::connect_failed, why);
        if (purpose_ == Purpose::client) return;
        reported = true;  // a server keeps trying: it serves once the broker is back
      }
      std::unique_lock lock(mutex_);
      auto until = Clock::now() + backoff;
      if (!reported && deadline > Clock::now()) until = std::min(until, deadline);
      changed_.wait_until(lock, until, [&] { return stopping_; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }

  std::shared_ptr<mqtt::async_client> make_client() const {
    mqtt::create_options create(MQTTVERSION_3_1_1);
    // Paho refuses publishes past this many queued commands; we keep at most
    // mqtt.window data publishes in flight, plus a few notices.
    create.set_max_buffered_messages(static_cast<int>(options_.mqtt.window) + 64);
    const std::string uri = (options_.security.active() ? "ssl://" : "tcp://") + broker_;
    return std::make_shared<mqtt::async_client>(uri, hex_, create);
  }

  bool connect_once(Clock::time_point deadline, std::string& error) {
    std::shared_ptr<mqtt::async_client> client;
    std::uint64_t generation;
    {
      std::lock_guard lock(mutex_);
      generation = generation_ + 1;
    }
    try {
      client = make_client();
      client->set_message_callback([this](mqtt::const_message_ptr m) { on_message(std::move(m)); });
      client->set_connection_lost_handler([this, generation](const std::string& cause) {
        std::lock_guard lock(mutex_);
        if (generation_ != generation) return;
        lost_ = true;
        cause_ = cause.empty() ? "connection lost" : cause;
        changed_.notify_all();
      });
      mqtt::connect_options opts;
      opts.set_mqtt_version(MQTTVERSION_3_1_1);
      opts.set_clean_session(true);
      opts.set_keep_alive_interval(static_cast<int>(keepalive_of(options_).count()));
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - Clock::now());
      opts.set_connect_timeout(static_cast<int>(std::clamp<std::int64_t>(left.count() + 1, 1, 30)));
      if (purpose_ == Purpose::client) {
        // The broker tells the server when we vanish without a goodbye.
        opts.set_will(mqtt::will_options("c2s/" + hex_ + "/gone", std::string(), 1, false));
      } else {
        // ... and tells clients when the server does: the presence is cleared.
        opts.set_will(mqtt::will_options(presence_topic, std::string(), 1, true));
      }
      if (options_.security.active()) {
        const TlsFiles files = tls_files(options_, false);  // both ends are the broker's clients
        mqtt::ssl_options ssl;
        if (files.trust) ssl.set_trust_store(*files.trust);
        if (files.key) {
          ssl.set_key_store(*files.certificate);  // Paho's name for our certificate chain
          ssl.set_private_key(*files.key);
        }
        ssl.set_enable_server_cert_auth(true);
        ssl.set_verify(true);  // the broker's name against netloc.host
        // No ssl error handler: Paho C++ 1.2 hands Paho C a pointer to the
        // ssl_options it was set on, which set_ssl() copies from (ASan saw the
        // callback run on the dead local). The connect failure says enough.
        opts.set_ssl(std::move(ssl));
      }
      auto token = client->connect(opts);
      if (!token->wait_for(std::chrono::seconds(opts.get_connect_timeout().count() + 2))) {
        error = "the connection attempt timed out";
        return false;
      }
      token->wait();  // throws the connect failure
      disable_nagle_towards(options_.netloc.host, static_cast<std::uint16_t>(options_.netloc.port));
      {
        std::lock_guard lock(mutex_);
        generation_ = generation;
        lost_ = false;
        client_ = client;
      }
      auto topics = std::make_shared<mqtt::string_collection>();
      if (purpose_ == Purpose::server) {
        topics->push_back("c2s/+");
        topics->push_back("c2s/+/gone");
        topics->push_back("c2s/+/credit");
      } else {
        topics->push_back("s2c/" + hex_);
        topics->push_back("s2c/" + hex_ + "/gone");
        topics->push_back("s2c/" + hex_ + "/credit");
        topics->push_back(presence_topic);
      }
      std::vector<int> qos(topics->size(), options_.mqtt.qos);
      qos.back() = 1;  // our own topics: presence and notices must not be lost
      auto sub = client->subscribe(topics, qos);
      if (!sub->wait_for(10s)) throw std::runtime_error("the broker did not answer SUBSCRIBE");
      sub->wait();
      if (purpose_ == Purpose::server) {
        const auto id = options_.id->as_bytes();
        std::string payload(reinterpret_cast<const char*>(id.data()), id.size());
        client->publish(mqtt::message::create(presence_topic, std::move(payload), 1, true))->wait_for(10s);
      }
      return true;
    } catch (const std::exception& e) {
      error = e.what();
      std::lock_guard lock(mutex_);
      if (client_ == client) client_.reset();
      return false;
    }
  }

  // Client: the link is attached once a server is present (mqtt.await_server).
  bool attach_client(Clock::time_point deadline) {
    std::shared_ptr<MqttLink> link;
    {
      std::unique_lock lock(mutex_);
      const bool ready = changed_.wait_until(lock, deadline, [&] {
        return stopping_ || !accepting_ || lost_ || !options_.mqtt.await_server || !presence_.empty();
      });
      if (stopping_ || !accepting_) return false;
      if (lost_) return true;  // reported by the caller
      if (!ready) {
        lock.unlock();
        hub_.transport_failed(errc::connect_failed,
                              "no netqueue server announced itself on the MQTT broker at " + broker_ +
                                  " within connection.connect_timeout (" +
                                  seconds_text(options_.connection.connect_timeout) +
                                  "); to reach a Python net-queue server set mqtt.await_server = false");
        return false;
      }
      attached_presence_ = presence_;
      link = std::make_shared<MqttLink>(*this, hub_.make_executor(), hex_, "c2s/" + hex_, "c2s/" + hex_ + "/credit",
                                        generation_);
    }
    auto pipe = hub_.attach(link);
    if (!pipe) return true;
    {
      std::lock_guard lock(mutex_);
      links_[hex_] = link;
      ++attached_;
    }
    link->post_start(std::move(pipe), options_.mqtt.await_server);
    return true;
  }

  // Waits until the broker connection is lost (true) or the transport stops (false).
  bool wait_for_loss() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return stopping_ || lost_; });
    return !stopping_;
  }

  void drop_client() {
    std::shared_ptr<mqtt::async_client> client;
    {
      std::lock_guard lock(mutex_);
      client = std::move(client_);
      in_flight_.clear();  // those publishes died with the connection
      waiting_.clear();
    }
    if (client) quiet(*client);
  }

  // No more callbacks into us from a client being dropped. Paho refuses while
  // the connection is still up (a disconnect that did not finish in time);
  // destroying the client stops them then.
  static void quiet(mqtt::async_client& client) noexcept {
    try {
      client.disable_callbacks();
    } catch (const std::exception&) {
    }
  }

  void on_message(mqtt::const_message_ptr message) {
    try {
      const std::string& topic = message->get_topic();
      if (purpose_ == Purpose::server) return on_server_message(topic, std::move(message));
      if (topic == presence_topic) return on_presence(message->get_payload());
      std::shared_ptr<MqttLink> link;
      {
        std::lock_guard lock(mutex_);
        if (auto it = links_.find(hex_); it != links_.end()) link = it->second;
      }
      if (!link) return;
      if (topic.size() > 5 && topic.ends_with("/gone")) {
        link->post_lost("the server ended the session");
      } else if (topic.ends_with("/credit")) {
        if (auto bytes = decode_credit(message->get_payload())) link->post_credit(*bytes);
      } else {
        link->post_deliver(std::move(message));
      }
    } catch (const std::exception& e) {
      hub_.log(LogLevel::error, std::string("mqtt: dropped an incoming message: ") + e.what());
    }
  }

  void on_presence(const std::string& payload) {
    std::shared_ptr<MqttLink> link;
    {
      std::lock_guard lock(mutex_);
      presence_ = payload;
      changed_.notify_all();
      if (attached_presence_.empty() || payload == attached_presence_) return;
      if (auto it = links_.find(hex_); it != links_.end()) link = it->second;
    }
    if (link)
      link->post_lost(payload.empty() ? "the server left the MQTT broker" : "another server took over the MQTT broker");
  }

  void on_server_message(const std::string& topic, mqtt::const_message_ptr message) {
    std::string_view rest(topic);
    if (!rest.starts_with("c2s/")) return;
    rest.remove_prefix(4);
    const bool gone = rest.ends_with("/gone");
    if (gone) rest.remove_suffix(5);
    const bool credit = rest.ends_with("/credit");
    if (credit) rest.remove_suffix(7);
    if (!is_hex_id(rest)) {
      hub_.log(LogLevel::warning, "mqtt: ignored a publish on " + topic + " (not a client id in hex)");
      return;
    }
    const std::string key(rest);
    std::shared_ptr<MqttLink> link;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      if (auto it = links_.find(key); it != links_.end()) link = it->second;
      if (gone && link) links_.erase(key);  // its next piece starts a fresh session
      if (gone) credit_clients_.erase(key);
    }
    if (gone) {
      if (link)
        link->post_lost("the client left without a goodbye (its will: it disconnected, or the broker heard nothing "
                        "from it for 1.5x its keepalive)");
      return;
    }
    if (credit) {
      const auto bytes = decode_credit(message->get_payload());
      if (bytes && link) {
        link->post_credit(*bytes);
      } else if (bytes) {  // a netqueue client's first word, before its first piece
        std::lock_guard lock(mutex_);
        credit_clients_.insert(key);
      }
      return;
    }
    if (!link) {
      std::uint64_t generation;
      {
        std::lock_guard lock(mutex_);
        generation = generation_;
      }
      link = std::make_shared<MqttLink>(*this, hub_.make_executor(), key, "s2c/" + key, "s2c/" + key + "/credit",
                                        generation);
      auto pipe = hub_.attach(link, key);
      if (!pipe) {
        hub_.log(LogLevel::debug, "mqtt: dropped a piece from client " + key + " (not accepted now)");
        return;
      }
      bool has_credit;
      {
        std::lock_guard lock(mutex_);
        links_[key] = link;
        ++attached_;
        has_credit = credit_clients_.erase(key) > 0;
      }
      link->post_start(std::move(pipe), has_credit);
    }
    link->post_deliver(std::move(message));
  }

  const Purpose purpose_;
  const Options& options_;
  Hub& hub_;
  const std::string hex_;
  const std::string broker_;
  PublishListener listener_;  // outlives client_: Paho holds it for pending publishes
  std::thread connector_;
  bool stopped_ = false;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::condition_variable all_detached_;
  std::shared_ptr<mqtt::async_client> client_;
  std::uint64_t generation_ = 0;  // broker connections made so far
  bool lost_ = false;
  std::string cause_;
  bool stopping_ = false;
  bool accepting_ = true;
  std::string presence_;           // client: the latest netqueue/server payload
  std::string attached_presence_;  // client: the server present when the link attached
  std::map<std::string, std::shared_ptr<MqttLink>> links_;
  std::set<std::string> credit_clients_;  // sent credit before their first piece
  int attached_ = 0;
  std::map<std::uint64_t, std::weak_ptr<MqttLink>> in_flight_;
  std::deque<std::weak_ptr<MqttLink>> waiting_;
  std::uint64_t next_publish_ = 0;
};

void PublishListener::on_success(const mqtt::token& token) { transport_.completed(token, true); }
void PublishListener::on_failure(const mqtt::token& token) { transport_.completed(token, false); }

// ---- MqttLink (its executor) ----

void MqttLink::pump() {
  const std::size_t publish_size = transport_.options().mqtt.publish_size;
  while (pipe_ && !ended_) {
    if (piece_.size() == 0) {
      piece_ = pipe_->take_piece();
      if (piece_.size() == 0) {
        piece_.clear();
        return;  // wake_send follows
      }
    }
    if (peer_took_ && published_ - *peer_took_ >= credit_window) return;  // the peer's credit wakes us
    const std::uint64_t id = transport_.acquire(shared_from_this());
    if (id == 0) return;  // the window is full: a completion wakes us
    const std::size_t n = std::min(publish_size, piece_.size());
    Stream part = piece_.read(n);
    std::string payload(n, '\0');
    part.copy_to(std::as_writable_bytes(std::span(payload.data(), payload.size())));
    flights_.push_back({id, n});
    published_ += n;
    std::string error;
    if (!transport_.publish(*this, out_topic_, std::move(payload), id, error))
      return end(error, false, make_error_code(errc::transport));
  }
}

void MqttLink::published(std::uint64_t id, bool ok, const std::string& error) {
  if (!pipe_) return;
  if (!ok) return end(error, false, make_error_code(errc::transport));
  auto it = std::find_if(flights_.begin(), flights_.end(), [&](const Flight& f) { return f.id == id; });
  if (it == flights_.end()) return;
  it->done = true;
  // Acknowledged in the order taken: the done prefix.
  std::uint64_t bytes = 0;
  while (!flights_.empty() && flights_.front().done) {
    bytes += flights_.front().bytes;
    flights_.pop_front();
  }
  if (bytes > 0 && !ended_) pipe_->acknowledged(bytes);
}

void MqttLink::send_credit() {
  credited_ = took_;
  transport_.publish_notice(*this, credit_topic_, encode_credit(took_));
}

void MqttLink::end(const std::string& reason, bool notify, std::error_code cause) {
  if (ended_) return;
  ended_ = true;
  reason_ = reason;
  cause_ = cause;
  received_.clear();
  piece_.clear();
  if (notify && pipe_) transport_.publish_notice(*this, std::string(out_topic_.str()) + "/gone");
  if (pipe_) finish();
}

void MqttLink::finish() {
  auto pipe = std::move(pipe_);
  pipe_.reset();
  flights_.clear();
  transport_.detached(*this);
  pipe->detached(LinkEnd::lost, reason_.empty() ? "closed" : reason_, cause_);
}

std::unique_ptr<Transport> make(Purpose purpose, const Options& options, Hub& hub) {
  return std::make_unique<MqttTransport>(purpose, options, hub);
}

void validate(const Options& o, Purpose purpose) {
  require(o.netloc.port != 0, "netloc.port", "the MQTT broker's port is needed (0 is only for listening servers)");
  require(o.mqtt.qos == 0 || o.mqtt.qos == 1, "mqtt.qos",
          std::to_string(o.mqtt.qos) + " is not supported (0: as net-queue, loss undetectable; 1: acknowledged)");
  require(!o.mqtt.keepalive || (o.mqtt.keepalive->count() >= 0 && o.mqtt.keepalive->count() <= 65535),
          "mqtt.keepalive", "must be 0 to 65535 seconds (MQTT's field)");
  require(o.mqtt.window >= 1 && o.mqtt.window <= 4096, "mqtt.window", "must be 1 to 4096 publishes in flight");
  require(o.mqtt.publish_size >= 1 && o.mqtt.publish_size <= 256 * MiB - 1024, "mqtt.publish_size",
          "must be 1 byte to just under 256 MiB (MQTT's largest packet)");
  require_tls_files(o, false);  // both ends are clients of the broker
  require(!o.security.partial_chain, "security.partial_chain",
          "Paho verifies the broker's chain itself and has no partial-chain mode (tcp has)");
  (void)purpose;
}

}  // namespace

// Detects a vanished peer through the broker (will, notices, presence); holds
// a netqueue sender back through credit; a broker moves tens, not hundreds, of
// MiB within a test's time.
const TransportInfo mqtt_transport{Protocol::mqtt, &make, &validate,
                                   Capabilities{.detects_peer_loss = true,
                                                .back_pressure = true,
                                                .heavy_ok = false,
                                                .one_buffer_per_message = false}};

}  // namespace netqueue::detail
