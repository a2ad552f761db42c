// Close under stress (issue "Liveness and scale", item 3), over TCP on
// 127.0.0.1 with ports the kernel picks.
//
// StressClose: 16 threads put, get and close one communicator at once (a
// server with a few clients, then a client), round after round, plain and
// TLS. Every put future ends exactly once: it is settled when the last close
// returns, handed over or failed with ClosedError, and it never changes its
// outcome afterwards. get() and get_for() return messages (each one once) or
// throw ClosedError once closed. close() and close_for() called from several
// threads at once all return within their bound, and every close_for gives
// the same outcome (the close happened once).
//
// StressClose.*Reset*: a server closes at the moment one of its peers'
// connection is reset (an RST, as from a killed process) while puts to that
// peer are still waiting: the same guarantees, and every put that failed for
// that peer names it.
//
// StressCreateAndClose: 1,000 client/server pairs made, used once and closed
// in a loop leave as many file descriptors and threads open as before.
//
// Nothing may hang: every wait is bounded. A thread still running past its
// bound is reported (naming what it was doing) and the program aborts, since
// the objects it uses cannot be destroyed under it.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <netqueue/netqueue.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/helpers.hpp"
#include "tcp/raw_socket.hpp"
#include "tcp/tcp_support.hpp"

// Under ASan or TSan everything runs several times slower: the loops below
// repeat fewer times there (same code paths, fewer repetitions), so that the
// sanitizer passes of scripts/test stay within their time.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NQTEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NQTEST_SANITIZED 1
#endif
#endif
#ifndef NQTEST_SANITIZED
#define NQTEST_SANITIZED 0
#endif

namespace {

using namespace netqueue;
using namespace nqtest;
using Clock = std::chrono::steady_clock;

constexpr int scaled(int normal, int sanitized) { return NQTEST_SANITIZED ? sanitized : normal; }

ms since(Clock::time_point start) { return std::chrono::duration_cast<ms>(Clock::now() - start); }

// ---- threads that must all end within a bound ----

class Crew {
 public:
  // One thread of the crew. It says what it is doing (a string literal), for
  // the report of a hang.
  class Member {
   public:
    void doing(const char* what) { doing_.store(what, std::memory_order_relaxed); }
    const std::string& name() const { return name_; }

   private:
    friend class Crew;
    std::string name_;
    std::atomic<const char*> doing_{"waiting for the start"};
    std::atomic<bool> done_{false};
  };

  Crew() = default;
  Crew(const Crew&) = delete;
  Crew& operator=(const Crew&) = delete;
  ~Crew() {
    go();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  // Starts `body` on a thread of its own; it runs once go() is called, so that
  // every member starts at the same moment. An exception out of it fails the test.
  void spawn(std::string name, std::function<void(Member&)> body) {
    Member& m = *members_.emplace_back(std::make_unique<Member>());
    m.name_ = std::move(name);
    {
      std::lock_guard lock(mutex_);
      ++running_;
    }
    threads_.emplace_back([this, &m, body = std::move(body)] {
      gate_.wait();
      try {
        body(m);
      } catch (const std::exception& e) {
        ADD_FAILURE() << m.name_ << " threw while in " << m.doing_.load() << ": " << e.what();
      }
      m.done_ = true;
      std::lock_guard lock(mutex_);
      --running_;
      cv_.notify_all();
    });
  }

  void go() {
    if (!started_) gate_.count_down();
    started_ = true;
  }

  // Starts the crew if needed and joins it; a member still running after
  // `within` is a hang: reported, then the program aborts. Returns how long it took.
  ms join_within(ms within, const std::string& what) {
    go();
    const auto start = Clock::now();
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, within, [&] { return running_ == 0; })) {
      std::string stuck;
      for (const auto& m : members_)
        if (!m->done_) stuck += "  " + m->name_ + ": in " + m->doing_.load() + "\n";
      std::fprintf(stderr,
                   "HANG: %s: threads still running %lld ms after the start (aborting: the objects they use cannot "
                   "be destroyed under them):\n%s",
                   what.c_str(), static_cast<long long>(within.count()), stuck.c_str());
      std::fflush(stderr);
      std::abort();
    }
    lock.unlock();
    for (auto& t : threads_) t.join();
    threads_.clear();
    return since(start);
  }

 private:
  std::latch gate_{1};
  bool started_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
  int running_ = 0;
  std::vector<std::unique_ptr<Member>> members_;
  std::vector<std::thread> threads_;
};

// ---- puts and how they ended ----

// A put, named for failure messages, and its outcome as first seen.
struct Put {
  SendFuture future;
  std::string what;
  std::string outcome;
};

// How one peer's part of a put ended: "handed over", or the exception.
std::string describe(const std::exception_ptr& error) {
  if (!error) return "handed over";
  try {
    std::rethrow_exception(error);
  } catch (const ClosedError& e) {
    return std::string("ClosedError: ") + e.what();
  } catch (const Error& e) {
    return "Error (" + e.code().message() + "): " + e.what();
  } catch (const std::exception& e) {
    return std::string("unexpected exception: ") + e.what();
  }
  return "unknown exception";
}

// A settled put's outcome, peer by peer (a broadcast to nobody: "to nobody").
std::string outcome_of(const SendFuture& f) {
  std::string out;
  for (const auto& r : f.results()) out += (out.empty() ? "" : "; ") + r.peer.str() + ": " + describe(r.error);
  return out.empty() ? "to nobody" : out;
}

// Empty when every peer's part of the settled put was handed over or failed
// with ClosedError naming that peer; else what is wrong.
std::string problem_with(const SendFuture& f) {
  for (const auto& r : f.results()) {
    if (!r.error) continue;
    try {
      std::rethrow_exception(r.error);
    } catch (const ClosedError& e) {
      if (e.peer() != r.peer) return "its failure for " + r.peer.str() + " names " + e.peer().str();
    } catch (...) {
      return "it failed with something other than ClosedError: " + describe(r.error);
    }
  }
  return {};
}

// Every put of `puts` must be settled now (`when`: what just happened, e.g.
// every close returned), acceptably; its outcome is recorded for recheck().
void settle_all(std::vector<Put>& puts, const std::string& when) {
  std::size_t pending = 0;
  for (Put& p : puts) {
    if (!p.future.ready()) {
      if (pending++ < 5) ADD_FAILURE() << p.what << " was still pending when " << when;
      continue;
    }
    p.outcome = outcome_of(p.future);
    const std::string problem = problem_with(p.future);
    EXPECT_TRUE(problem.empty()) << p.what << ": " << problem;
  }
  EXPECT_EQ(pending, 0u) << "puts still pending when " << when << " (the first 5 are named above)";
}

// A future ends exactly once: what it said when first settled, it says later
// (after the communicators are gone, too).
void recheck(const std::vector<Put>& puts, const std::string& when) {
  std::size_t changed = 0;
  for (const Put& p : puts) {
    if (p.outcome.empty()) continue;  // was pending: reported already
    const std::string now = outcome_of(p.future);
    if (now != p.outcome && changed++ < 5)
      ADD_FAILURE() << p.what << " changed its outcome " << when << ": first \"" << p.outcome << "\", now \"" << now
                    << "\"";
  }
  EXPECT_EQ(changed, 0u) << "puts whose outcome changed " << when;
}

// Payloads: a tag ("s3#17") and, for every 8th, 64 KiB more (a write that
// cannot go out whole at once). The tag names the message in the receiver.
const std::vector<std::byte>& filler() {
  static const std::vector<std::byte> bytes = pattern(64 * KiB, 99);
  return bytes;
}
Stream payload(const std::string& tag, std::uint64_t n) {
  Stream s = Stream::copy_of(tag + "|");
  if (n % 8 == 7) s.write(Chunk::borrow(filler()));
  return s;
}
std::string tag_of(const Message& m) {
  const std::string text = m.data.to_string();
  return text.substr(0, text.find('|'));
}

// ---- 16 threads on one communicator ----

// What the 16 threads did, checked once they are all joined.
struct Round {
  std::vector<std::vector<Put>> puts;                        // per putting thread
  std::vector<std::vector<std::pair<Id, std::string>>> got;  // per getting thread: peer and tag
  std::mutex mutex;
  std::vector<std::optional<bool>> close_for_results;  // per closing thread (close(): nullopt)
  std::atomic<int> activity{0};                        // puts made so far
  std::atomic<bool> closing{false};                    // a closer began
  std::atomic<int> closers_done{0};
};

constexpr int putters = 6, getters = 4, closers = 6;
static_assert(putters + getters + closers == 16);

// Spawns the 16 threads on `c`: 6 put (to everyone, to one of `peers`, to
// two of them; a client: to its server, or naming it), 4 get (get(),
// get_for(10 ms), get_for(0), try_get()) until ClosedError, 6 close (close(),
// close_for with 0, 30 ms, 1 s and 5 s; which begins first varies with the
// round) once some puts were made. The threads copy `peers` and `round`:
// they outlive this call.
void spawn_sixteen(Crew& crew, Communicator& c, const std::vector<Id>& peers, int round, Round& r) {
  r.puts.resize(putters);
  r.got.resize(getters);
  r.close_for_results.resize(closers);
  const std::string side = c.purpose() == Purpose::server ? "server" : "client";
  for (int t = 0; t < putters; ++t) {
    crew.spawn(side + " putter " + std::to_string(t), [&r, &c, peers, side, round, t](Crew::Member& me) {
      std::vector<Put>& mine = r.puts[static_cast<std::size_t>(t)];
      // Until a closer began, and 50 more after that (they race the close).
      int after_closing = 0;
      for (std::uint64_t n = 0; n < 3000 && after_closing < 50; ++n) {
        after_closing += r.closing.load() ? 1 : 0;
        const std::string tag = "s" + std::to_string(t) + "#" + std::to_string(n);
        me.doing("put");
        SendFuture f;
        std::string to;
        if (t % 3 == 0 || peers.empty()) {
          f = c.put(payload(tag, n));
          to = c.purpose() == Purpose::server ? "everyone" : "the server";
        } else if (t % 3 == 1 || peers.size() < 2) {
          const Id& p = peers[n % peers.size()];
          f = c.put(payload(tag, n), p);
          to = p.str();
        } else {
          const Id two[] = {peers[n % peers.size()], peers[(n + 1) % peers.size()]};
          f = c.put(payload(tag, n), two);
          to = two[0].str() + " and " + two[1].str();
        }
        mine.push_back(
            {std::move(f), side + " put " + tag + " to " + to + " (round " + std::to_string(round) + ")", {}});
        r.activity.fetch_add(1);
      }
    });
  }
  for (int t = 0; t < getters; ++t) {
    crew.spawn(side + " getter " + std::to_string(t), [&r, &c, round, t](Crew::Member& me) {
      auto& mine = r.got[static_cast<std::size_t>(t)];
      for (;;) {
        try {
          std::optional<Message> m;
          switch (t) {
            case 0:
              me.doing("get()");
              m = c.get();
              break;
            case 1:
              me.doing("get_for(10 ms)");
              m = c.get_for(10ms);
              break;
            case 2:
              me.doing("get_for(0)");
              m = c.get_for(0ms);
              break;
            default:
              me.doing("try_get()");
              m = c.try_get();
              break;
          }
          if (m) {
            mine.emplace_back(m->peer, tag_of(*m));
          } else if (t >= 2) {
            std::this_thread::yield();  // polling: let the others run
          }
        } catch (const ClosedError&) {
          return;  // closed, and everything received was taken
        } catch (const std::exception& e) {
          ADD_FAILURE() << me.name() << " (round " << round
                        << "): get threw something other than ClosedError: " << e.what();
          return;
        }
      }
    });
  }
  for (int t = 0; t < closers; ++t) {
    crew.spawn(side + " closer " + std::to_string(t), [&r, &c, round, t](Crew::Member& me) {
      const int kind = (t + round) % closers;
      // Staggered, so that the closes overlap the puts and one another.
      me.doing("waiting for puts to be made");
      const int enough = 100 + 40 * kind;
      EXPECT_TRUE(eventually([&] { return r.activity.load() >= enough; }, ms(20000)))
          << me.name() << " (round " << round << "): only " << r.activity.load() << " puts in 20 s";
      r.closing = true;
      static constexpr std::array<std::optional<std::chrono::milliseconds>, closers> deadlines = {
          std::nullopt, ms(0), ms(30), ms(1000), ms(5000), std::nullopt};
      const auto deadline = deadlines[static_cast<std::size_t>(kind)];
      const auto start = Clock::now();
      std::optional<bool> result;
      if (deadline) {
        me.doing("close_for");
        result = c.close_for(*deadline);
      } else {
        me.doing("close()");
        c.close();
      }
      // close_for(d): d, then up to 2 s for the transport's threads to stop
      // (TcpTransport::stop), and room for a slow (sanitized) machine.
      // close(): the clients close meanwhile, so goodbyes come.
      const ms bound = deadline ? *deadline + ms(10000) : ms(20000);
      const ms took = since(start);
      EXPECT_LT(took, bound) << me.name() << " (round " << round << "): "
                             << (deadline ? "close_for(" + std::to_string(deadline->count()) + " ms)" : "close()")
                             << " took " << took.count() << " ms";
      std::lock_guard lock(r.mutex);
      r.close_for_results[static_cast<std::size_t>(t)] = result;
      r.closers_done.fetch_add(1);
    });
  }
}

// After the crew is joined: every close_for said the same, every put ended,
// each message was taken once, the communicator stays closed.
void check_round(Communicator& c, Round& r, int round,
                 const std::function<std::string(const Id&, const std::string&)>& bad_message) {
  const std::string where = "round " + std::to_string(round);
  std::optional<bool> first;
  for (const auto& result : r.close_for_results) {
    if (!result) continue;
    if (!first) first = result;
    EXPECT_EQ(*result, *first) << where << ": concurrent close_for calls disagree on whether the close was graceful";
  }
  for (auto& puts : r.puts) settle_all(puts, "every close had returned (" + where + ")");

  std::set<std::pair<Id, std::string>> seen;
  std::size_t bad = 0, duplicates = 0;
  for (const auto& got : r.got) {
    for (const auto& [peer, tag] : got) {
      if (const std::string why = bad_message(peer, tag); !why.empty() && bad++ < 5)
        ADD_FAILURE() << where << ": got " << tag << " from " << peer.str() << ": " << why;
      if (!seen.emplace(peer, tag).second && duplicates++ < 5)
        ADD_FAILURE() << where << ": got " << tag << " from " << peer.str() << " twice";
    }
  }
  EXPECT_EQ(bad + duplicates, 0u) << where << ": messages that were not sent, or came twice";

  // Closed for good: get throws at once (the getters took everything), a put fails at once.
  EXPECT_THROW(c.try_get(), ClosedError) << where;
  const SendFuture late = c.put(text("late"));
  ASSERT_TRUE(late.ready()) << where << ": a put after close is pending";
  EXPECT_THROW(late.get(), ClosedError) << where;
}

class StressClose : public testing::Test {
 protected:
  // A server with 3 clients; 16 threads put, get and close the server while
  // each client puts to it, then closes once a server closer began.
  void server_round(const TransportCase& kind, int round) {
    Communicator server(Protocol::tcp, Purpose::server, server_options(kind));
    constexpr std::size_t client_count = 3;
    std::vector<std::unique_ptr<Communicator>> clients;
    std::vector<Id> ids;
    for (std::size_t k = 0; k < client_count; ++k) {
      clients.push_back(
          std::make_unique<Communicator>(Protocol::tcp, Purpose::client, client_options(kind, server.local_port())));
      ids.push_back(clients.back()->id());
    }
    for (auto& client : clients)
      ASSERT_NO_THROW(settled(client->put(text("join|")), ms(20000)).get())
          << "round " << round << ": a client could not join";
    ASSERT_TRUE(eventually([&] { return server.peers().size() == client_count; }, ms(20000)))
        << "round " << round << ": " << server.peers().size() << " of " << client_count << " clients joined";

    Round r;
    Crew crew;
    spawn_sixteen(crew, server, ids, round, r);
    std::vector<std::vector<Put>> client_puts(client_count);
    for (std::size_t k = 0; k < client_count; ++k) {
      crew.spawn("client " + std::to_string(k), [&, k](Crew::Member& me) {
        Communicator& client = *clients[k];
        // Puts until a server closer began (and a few more), then closes.
        int after_closing = 0;
        for (std::uint64_t n = 0; n < 3000 && after_closing < 20; ++n) {
          after_closing += r.closing.load() ? 1 : 0;
          const std::string tag = "c" + std::to_string(k) + "#" + std::to_string(n);
          me.doing("put");
          client_puts[k].push_back(
              {client.put(payload(tag, n)),
               "client " + std::to_string(k) + " put " + tag + " (round " + std::to_string(round) + ")",
               {}});
        }
        const auto start = Clock::now();
        me.doing("close_for(20 s)");
        client.close_for(ms(20000));
        EXPECT_LT(since(start), ms(25000)) << me.name() << " (round " << round << "): close_for(20 s) overran";
      });
    }
    crew.join_within(ms(90000), "16 threads on a server, round " + std::to_string(round));

    check_round(server, r, round, [&](const Id& peer, const std::string& tag) -> std::string {
      for (std::size_t k = 0; k < client_count; ++k) {
        if (ids[k] != peer) continue;
        if (tag == "join" || tag.starts_with("c" + std::to_string(k) + "#")) return {};
        return "not a tag client " + std::to_string(k) + " sent";
      }
      return "not from any client";
    });
    for (auto& puts : client_puts)
      settle_all(puts, "its client's close had returned (round " + std::to_string(round) + ")");
    clients.clear();
    r.puts.insert(r.puts.end(), client_puts.begin(), client_puts.end());
    // The server goes at the end of this scope; futures outlive it.
    puts_.insert(puts_.end(), r.puts.begin(), r.puts.end());
  }

  // A client whose server echoes every message back; 16 threads put, get and
  // close the client. The server closes once every client closer returned.
  void client_round(const TransportCase& kind, int round) {
    Communicator server(Protocol::tcp, Purpose::server, server_options(kind));
    Communicator client(Protocol::tcp, Purpose::client, client_options(kind, server.local_port()));
    Round r;
    Crew crew;
    std::vector<Put> echoes;
    spawn_sixteen(crew, client, {server.id()}, round, r);
    crew.spawn("server", [&](Crew::Member& me) {
      // Echoes until every client closer returned (the client is gone), then closes.
      while (r.closers_done.load() < closers) {
        me.doing("get_for(10 ms)");
        auto m = server.get_for(10ms);
        if (!m) continue;
        me.doing("put (echo)");
        const std::string tag = tag_of(*m);
        echoes.push_back({server.put(std::move(m->data), m->peer), "server echo of " + tag, {}});
      }
      me.doing("close_for(5 s)");
      const auto start = Clock::now();
      server.close_for(ms(5000));
      EXPECT_LT(since(start), ms(15000)) << "round " << round << ": the server's close_for(5 s) overran";
    });
    crew.join_within(ms(90000), "16 threads on a client, round " + std::to_string(round));

    check_round(client, r, round, [&](const Id& peer, const std::string& tag) -> std::string {
      if (peer != server.id()) return "not from the server";
      if (!tag.starts_with("s")) return "not a tag the client sent";
      return {};
    });
    settle_all(echoes, "the server's close had returned (round " + std::to_string(round) + ")");
    r.puts.push_back(std::move(echoes));
    puts_.insert(puts_.end(), r.puts.begin(), r.puts.end());
  }

  // Every round's puts, rechecked once their communicators are gone.
  void TearDown() override {
    for (const auto& puts : puts_) recheck(puts, "after their communicators were destroyed");
  }

  std::vector<std::vector<Put>> puts_;
};

const int rounds = scaled(20, 10);

TEST_F(StressClose, SixteenThreadsPutGetAndCloseAServer) {
  const auto start = Clock::now();
  for (int round = 0; round < rounds; ++round) {
    ASSERT_NO_FATAL_FAILURE(server_round(plain_tcp(), round));
    if (HasFailure()) break;
  }
  std::printf("%d rounds in %lld ms\n", rounds, static_cast<long long>(since(start).count()));
}

TEST_F(StressClose, SixteenThreadsPutGetAndCloseAClient) {
  const auto start = Clock::now();
  for (int round = 0; round < rounds; ++round) {
    ASSERT_NO_FATAL_FAILURE(client_round(plain_tcp(), round));
    if (HasFailure()) break;
  }
  std::printf("%d rounds in %lld ms\n", rounds, static_cast<long long>(since(start).count()));
}

#ifdef NETQUEUE_TEST_HAVE_TLS
// TLS closes differently (close_notify before the FIN, handshakes that a
// close may cut): the same rounds, fewer of them (handshakes cost).
TEST_F(StressClose, SixteenThreadsPutGetAndCloseATlsServer) {
  const auto start = Clock::now();
  for (int round = 0; round < rounds / 2; ++round) {
    ASSERT_NO_FATAL_FAILURE(server_round(tls_tcp(), round));
    if (HasFailure()) break;
  }
  std::printf("%d rounds in %lld ms\n", rounds / 2, static_cast<long long>(since(start).count()));
}

TEST_F(StressClose, SixteenThreadsPutGetAndCloseATlsClient) {
  const auto start = Clock::now();
  for (int round = 0; round < rounds / 2; ++round) {
    ASSERT_NO_FATAL_FAILURE(client_round(tls_tcp(), round));
    if (HasFailure()) break;
  }
  std::printf("%d rounds in %lld ms\n", rounds / 2, static_cast<long long>(since(start).count()));
}
#endif

// ---- a server closes while a peer's connection is reset ----

TEST_F(StressClose, AServerClosesAtTheMomentAPeersConnectionIsReset) {
  const auto start = Clock::now();
  const int reset_rounds = scaled(20, 10);
  for (int round = 0; round < reset_rounds && !HasFailure(); ++round) {
    const std::string where = "round " + std::to_string(round);
    Communicator server(Protocol::tcp, Purpose::server, server_options(plain_tcp()));
    // Two well-behaved clients, and a raw peer that says hello, one message,
    // then reads nothing: what the server puts to it piles up.
    std::vector<std::unique_ptr<Communicator>> clients;
    for (int k = 0; k < 2; ++k) {
      clients.push_back(std::make_unique<Communicator>(Protocol::tcp, Purpose::client,
                                                       client_options(plain_tcp(), server.local_port())));
      ASSERT_NO_THROW(settled(clients.back()->put(text("join|"))).get()) << where;
    }
    const Id raw_id = Id::random();
    RawSocket raw = RawSocket::connect(server.local_port());
    Bytes hello = hello_frame(raw_id);
    append(hello, frame("here|"));
    ASSERT_TRUE(raw.write_all(hello)) << where << ": the raw peer could not say hello";
    ASSERT_TRUE(eventually([&] { return server.peers().size() == 3; }, ms(20000)))
        << where << ": " << server.peers().size() << " of 3 peers joined";

    // 24 MiB to the raw peer: far more than the socket buffers of a peer that
    // reads nothing hold (its receive buffer does not grow without reads), so
    // the last of these puts are still waiting at the reset.
    static const std::vector<std::byte> big = pattern(512 * KiB, 7);
    std::vector<Put> puts;
    for (int i = 0; i < 48; ++i)
      puts.push_back({server.put(Stream::borrow(big), raw_id),
                      "put " + std::to_string(i) + " of 512 KiB to the raw peer (" + where + ")",
                      {}});

    Round r;  // only its puts and getters' tags are used
    r.puts.resize(2);
    r.got.resize(1);
    Crew crew;
    std::optional<bool> graceful;
    ms close_took{0};
    crew.spawn("reset", [&](Crew::Member& me) {
      me.doing("abort()");
      raw.abort();  // RST: the server may be writing to it, or about to
    });
    crew.spawn("server closer", [&](Crew::Member& me) {
      me.doing("close_for(2 s)");
      const auto t0 = Clock::now();
      graceful = server.close_for(ms(2000));
      close_took = since(t0);
      r.closing = true;
    });
    for (int k = 0; k < 2; ++k) {
      crew.spawn("client " + std::to_string(k) + " closer", [&, k](Crew::Member& me) {
        me.doing("close_for(5 s)");
        clients[static_cast<std::size_t>(k)]->close_for(ms(5000));
      });
    }
    // Puts race the close: broadcasts and puts to the raw peer.
    for (int t = 0; t < 2; ++t) {
      crew.spawn("putter " + std::to_string(t), [&, t](Crew::Member& me) {
        for (int n = 0; n < 200; ++n) {
          me.doing("put");
          const std::string tag = "p" + std::to_string(t) + "#" + std::to_string(n);
          r.puts[static_cast<std::size_t>(t)].push_back(
              {t == 0 ? server.put(payload(tag, static_cast<std::uint64_t>(n)))
                      : server.put(payload(tag, static_cast<std::uint64_t>(n)), raw_id),
               "put " + tag + (t == 0 ? " to everyone" : " to the raw peer") + " (" + where + ")",
               {}});
        }
      });
    }
    crew.spawn("getter", [&](Crew::Member& me) {
      for (;;) {
        me.doing("get_for(10 ms)");
        try {
          if (auto m = server.get_for(10ms)) r.got[0].emplace_back(m->peer, tag_of(*m));
        } catch (const ClosedError&) {
          return;
        }
      }
    });
    crew.join_within(ms(60000), "closing a server while a peer is reset, " + where);

    // close_for(2 s): the deadline, then up to 2 s for the transport's threads.
    EXPECT_LT(close_took, ms(10000)) << where << ": close_for(2 s) took " << close_took.count() << " ms";
    ASSERT_TRUE(graceful.has_value());
    settle_all(puts, "the server's close had returned (" + where + ")");
    for (auto& p : r.puts) settle_all(p, "the server's close had returned (" + where + ")");
    // What failed for the raw peer names it; the last of the 24 MiB cannot have been handed over.
    std::size_t raw_failed = 0;
    for (const Put& p : puts)
      if (p.outcome.find(raw_id.str() + ": ClosedError") != std::string::npos) ++raw_failed;
    EXPECT_GT(raw_failed, 0u) << where << ": all 24 MiB to a peer that read nothing were handed over";
    for (const auto& [peer, tag] : r.got[0])
      EXPECT_TRUE(tag == "join" || (peer == raw_id && tag == "here")) << where << ": got " << tag;
    EXPECT_THROW(server.try_get(), ClosedError) << where;
    clients.clear();
    puts_.push_back(std::move(puts));
    for (auto& p : r.puts) puts_.push_back(std::move(p));
  }
  std::printf("%d rounds in %lld ms\n", reset_rounds, static_cast<long long>(since(start).count()));
}

// ---- 1,000 pairs, no descriptor or thread left behind ----

// The entries of a /proc/self directory: fd -> what it is, or tid -> thread name.
std::map<std::string, std::string> entries_of(const std::string& dir, bool threads) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    std::string what;
    if (threads) {
      std::FILE* f = std::fopen((e.path() / "comm").c_str(), "r");
      char buf[64] = {};
      if (f) {
        if (!std::fgets(buf, sizeof buf, f)) buf[0] = 0;
        std::fclose(f);
      }
      what = buf;
      if (!what.empty() && what.back() == '\n') what.pop_back();
    } else {
      what = std::filesystem::read_symlink(e.path(), ec).string();
    }
    out.emplace(name, what);
  }
  return out;
}

// Entries of `after` that `before` does not have, as "name (what)".
std::string added(const std::map<std::string, std::string>& before, const std::map<std::string, std::string>& after) {
  std::string out;
  for (const auto& [name, what] : after)
    if (!before.contains(name)) out += " " + name + " (" + what + ")";
  return out.empty() ? " none (the count differs: an entry was reused)" : out;
}

class StressCreateAndClose : public testing::Test {
 protected:
  // `count` pairs: a server, a client that puts one message the server gets,
  // then the close, in turn: the client first, the server first (cutting the
  // client), or only the destructors (client, then server).
  void run(const TransportCase& kind, int count) {
    auto pair = [&](int i) {
      const std::string where = kind.name + " pair " + std::to_string(i);
      Communicator server(Protocol::tcp, Purpose::server, server_options(kind));
      Communicator client(Protocol::tcp, Purpose::client, client_options(kind, server.local_port()));
      ASSERT_NO_THROW(settled(client.put(text("ping")), ms(20000)).get()) << where;
      auto m = server.get_for(ms(20000));
      ASSERT_TRUE(m) << where << ": the server got nothing";
      EXPECT_EQ(text_of(*m), "ping") << where;
      const auto start = Clock::now();
      switch (i % 3) {
        case 0:
          client.close();
          EXPECT_TRUE(server.close_for(ms(10000)))
              << where << ": the client said goodbye, yet the close was not graceful";
          break;
        case 1:
          EXPECT_FALSE(server.close_for(ms(0))) << where << ": cutting a connected client was graceful";
          client.close_for(ms(10000));
          break;
        default: break;  // the destructors: the client (declared last) closes first
      }
      EXPECT_LT(since(start), ms(10000)) << where << ": closing took " << since(start).count() << " ms";
    };

    // A few pairs first: what the first use makes once and keeps (OpenSSL's
    // tables, the resolver's files) is not a leak.
    for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(pair(i));
    const auto fds_before = entries_of("/proc/self/fd", false);
    const auto threads_before = entries_of("/proc/self/task", true);

    const auto start = Clock::now();
    for (int i = 0; i < count; ++i) {
      ASSERT_NO_FATAL_FAILURE(pair(i)) << "(pair " << i << " of " << count << ")";
      if (HasFailure()) return;
    }
    const ms took = since(start);

    // close() joins every thread it started; a joined thread's /proc/self/task
    // entry may linger a moment (the kernel reaps it after the join returns),
    // hence the bounded wait. Descriptors are closed before close() returns.
    EXPECT_TRUE(
        eventually([&] { return entries_of("/proc/self/task", true).size() <= threads_before.size(); }, ms(2000)))
        << count << " " << kind.name
        << " pairs left threads behind:" << added(threads_before, entries_of("/proc/self/task", true));
    const auto fds_after = entries_of("/proc/self/fd", false);
    EXPECT_EQ(fds_after.size(), fds_before.size())
        << count << " " << kind.name
        << " pairs changed the number of open descriptors; new:" << added(fds_before, fds_after);
    EXPECT_EQ(entries_of("/proc/self/task", true).size(), threads_before.size());
    std::printf("%d %s pairs in %lld ms; %zu descriptors and %zu threads before and after\n", count, kind.name.c_str(),
                static_cast<long long>(took.count()), fds_before.size(), threads_before.size());
  }
};

TEST_F(StressCreateAndClose, AThousandPlainPairsLeaveNoDescriptorOrThreadBehind) {
  run(plain_tcp(), scaled(1000, 300));
}

#ifdef NETQUEUE_TEST_HAVE_TLS
TEST_F(StressCreateAndClose, AThousandTlsPairsLeaveNoDescriptorOrThreadBehind) { run(tls_tcp(), scaled(1000, 150)); }
#endif

}  // namespace
