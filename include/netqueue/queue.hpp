/// @file
/// Queue<T>: a typed facade over a Communicator and a serializer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>

#include "netqueue/communicator.hpp"
#include "netqueue/error.hpp"
#include "netqueue/serializer.hpp"

namespace netqueue {

/// The largest value a Queue reassembles from parts unless told otherwise: 4 GiB.
inline constexpr std::uint64_t default_max_value_size = std::uint64_t{4} << 30;  // 4 GiB

/// A typed facade over a Communicator and a serializer: puts and gets values of type T.
///
/// Values are never handed out in pieces: a message larger than the receiver's
/// serialization.message_size arrives as parts (Message::part), which the Queue
/// puts back together (the chunks are joined, not copied) and loads as one
/// value, up to `max_value_size` bytes. A larger one, and a message cut short
/// by its peer's end (Message::truncated), are consumed and reported instead:
/// get() throws Error(errc::serialization) or Error(errc::truncated) naming the
/// peer, and the next get() goes on with the next message. (A message delivered
/// whole is not held to `max_value_size`: serialization.message_size bounds it.)
///
/// Thread safety: as the Communicator's. Several threads may get at once: one
/// at a time takes a message off the communicator (so parts are joined in
/// order), each loads its own value. Do not take messages from the communicator
/// itself while a Queue gets from it: a value whose parts are split between the
/// two is dropped with Error(errc::serialization).
///
/// Movable (not while in use), not copyable.
///
/// @tparam T the value type
/// @tparam S its serializer (see serializer.hpp): DefaultSerializer<T>::type unless given
template <class T, class S = typename DefaultSerializer<T>::type>
  requires SerializerFor<S, T>
class Queue {
 public:
  /// A value and the peer that sent it.
  struct Item {
    Id peer;  ///< who sent it
    T value;  ///< the value, loaded by the serializer
  };

  /// Borrows `communicator`, which must outlive the Queue.
  /// @param communicator where values are put and got; not owned.
  /// @param max_value_size the largest value reassembled from parts (default_max_value_size, 4 GiB).
  explicit Queue(Communicator& communicator, std::uint64_t max_value_size = default_max_value_size)
      : comm_(&communicator), max_value_size_(max_value_size), reassembly_(std::make_unique<Reassembly>()) {}

  /// Borrows `value` where the serializer borrows (bytes, arrays): keep it alive
  /// and unmodified until the future is ready.
  ///
  /// As Communicator::put(Stream): never blocks, and errors come through the future. An exception from the
  /// serializer's dump propagates unchanged.
  SendFuture put(const T& value) { return comm_->put(S::dump(value)); }
  /// As put(const T&), to the named peers (Communicator::put(Stream, std::span<const Id>)).
  SendFuture put(const T& value, std::span<const Id> peers) { return comm_->put(S::dump(value), peers); }
  /// As put(const T&), to one peer.
  SendFuture put(const T& value, const Id& peer) { return comm_->put(S::dump(value), peer); }
  /// Takes ownership of `value`: nothing to keep alive.
  ///
  /// The value moves into shared ownership, freed once the library no longer needs it (a Stream's borrowed chunks
  /// still borrow). Otherwise as put(const T&).
  SendFuture put(T&& value) { return comm_->put(own(std::move(value))); }
  /// As put(T&&), to the named peers (Communicator::put(Stream, std::span<const Id>)).
  SendFuture put(T&& value, std::span<const Id> peers) { return comm_->put(own(std::move(value)), peers); }
  /// As put(T&&), to one peer.
  SendFuture put(T&& value, const Id& peer) { return comm_->put(own(std::move(value)), peer); }

  /// As Communicator::get, one whole value at a time. A payload the serializer
  /// cannot load throws Error(errc::serialization) naming the peer, and that
  /// message is consumed; so are the ones described in the class's documentation.
  ///
  /// @throws Error errc::serialization: a payload the serializer cannot load, a value over max_value_size(), or a
  ///         part whose beginning another consumer took; errc::truncated: a message cut short by its peer's end.
  /// @throws ClosedError and the other errors of Communicator::get().
  Item get() {
    for (;;) {
      std::optional<std::pair<Id, Stream>> whole;
      {
        Turn turn(*reassembly_, std::nullopt);
        whole = file(comm_->get());
      }
      if (whole) return load(whole->first, std::move(whole->second));
    }
  }
  /// As get(), but nullopt when no whole value arrived within `timeout`
  /// (saturated as Communicator::get_for's: a huge one waits without limit).
  std::optional<Item> get_for(std::chrono::nanoseconds timeout) {
    using Clock = std::chrono::steady_clock;
    const auto now = Clock::now();
    const auto deadline = timeout >= Clock::time_point::max() - now ? Clock::time_point::max() : now + timeout;
    for (;;) {
      std::optional<std::pair<Id, Stream>> whole;
      {
        Turn turn(*reassembly_, deadline);
        if (!turn) return std::nullopt;
        auto m = comm_->get_for(deadline - std::chrono::steady_clock::now());
        if (!m) return std::nullopt;
        whole = file(std::move(*m));
      }
      if (whole) return load(whole->first, std::move(whole->second));
    }
  }
  /// As get(), without waiting: nullopt unless a whole value is there (or
  /// while another thread is taking one).
  std::optional<Item> try_get() {
    for (;;) {
      std::optional<std::pair<Id, Stream>> whole;
      {
        Turn turn(*reassembly_, std::chrono::steady_clock::now());
        if (!turn) return std::nullopt;
        auto m = comm_->try_get();
        if (!m) return std::nullopt;
        whole = file(std::move(*m));
      }
      if (whole) return load(whole->first, std::move(whole->second));
    }
  }

  /// The communicator this Queue borrows.
  Communicator& communicator() const noexcept { return *comm_; }
  /// The largest value reassembled from parts, as constructed.
  std::uint64_t max_value_size() const noexcept { return max_value_size_; }

 private:
  // A value arriving in parts.
  struct Pending {
    std::uint64_t total = 0;
    bool skipping = false;  // over max_value_size: its parts are dropped
    Stream data;            // the parts so far, joined
  };
  // Messages are taken and filed one at a time (by the thread whose turn it
  // is), so that the parts of a value are joined in the order they came,
  // whichever thread took them; values are loaded outside the turn.
  struct Reassembly {
    std::mutex mutex;
    std::condition_variable free;
    bool taking = false;                      // a thread has the turn
    std::unordered_map<Id, Pending> pending;  // the turn holder's
  };
  // The turn, waited for until `deadline` (none: for as long as it takes).
  class Turn {
   public:
    Turn(Reassembly& r, std::optional<std::chrono::steady_clock::time_point> deadline) : r_(r) {
      std::unique_lock lock(r_.mutex);
      auto free = [&] { return !r_.taking; };
      if (!deadline) {
        r_.free.wait(lock, free);
      } else if (!r_.free.wait_until(lock, *deadline, free)) {
        return;
      }
      r_.taking = held_ = true;
    }
    ~Turn() {
      if (!held_) return;
      {
        std::lock_guard lock(r_.mutex);
        r_.taking = false;
      }
      r_.free.notify_one();
    }
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;
    explicit operator bool() const noexcept { return held_; }

   private:
    Reassembly& r_;
    bool held_ = false;
  };

  // Files one message: the whole value it completes (its peer and bytes), or
  // nothing yet; throws for what cannot be a value. During a Turn.
  std::optional<std::pair<Id, Stream>> file(Message m) {
    auto& pending = reassembly_->pending;
    if (m.truncated) {
      pending.erase(m.peer);
      const std::uint64_t came = m.part ? m.part->offset + m.data.size() : m.data.size();
      throw Error(errc::truncated, "message from " + m.peer.str() + " was cut short by the end of its session: " +
                                       std::to_string(came) + " of " +
                                       std::to_string(m.part ? m.part->total : m.data.size()) + " bytes arrived");
    }
    if (!m.part) return std::pair{m.peer, std::move(m.data)};
    const Part part = *m.part;
    if (part.offset == 0) {
      pending[m.peer] = Pending{part.total, part.total > max_value_size_, {}};
    } else if (auto it = pending.find(m.peer); it == pending.end() || it->second.total != part.total) {
      // Its beginning was taken elsewhere (straight from the communicator).
      if (!part.last) pending[m.peer] = Pending{part.total, true, {}};
      throw Error(errc::serialization, "a part of a message from " + m.peer.str() +
                                           " came without its beginning (taken by another consumer): dropped");
    }
    Pending& p = pending[m.peer];
    if (p.skipping) {
      if (part.last) pending.erase(m.peer);
      if (part.offset != 0) return std::nullopt;
      throw Error(errc::serialization, "message from " + m.peer.str() + " is " + std::to_string(part.total) +
                                           " bytes, over this Queue's max_value_size (" +
                                           std::to_string(max_value_size_) + "): its parts are dropped");
    }
    p.data.append(std::move(m.data));
    if (!part.last) return std::nullopt;
    std::pair<Id, Stream> whole{m.peer, std::move(p.data)};
    pending.erase(m.peer);
    return whole;
  }

  // The value moves into shared ownership; whatever the serializer borrowed
  // from it stays alive with the stream's chunks.
  static Stream own(T&& value) {
    auto holder = std::make_shared<const T>(std::move(value));
    Stream s = S::dump(*holder);
    s.keep_alive(holder);
    return s;
  }
  static Item load(const Id& peer, Stream data) {
    try {
      return Item{peer, S::load(std::move(data))};
    } catch (const std::exception& e) {
      throw Error(errc::serialization, "cannot load message from " + peer.str() + ": " + e.what());
    }
  }

  Communicator* comm_;
  std::uint64_t max_value_size_;
  std::unique_ptr<Reassembly> reassembly_;  // behind a pointer: the Queue stays movable
};

}  // namespace netqueue
