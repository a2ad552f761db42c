// Queue<T>: a typed facade over a Communicator and a serializer.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "netqueue/communicator.hpp"
#include "netqueue/error.hpp"
#include "netqueue/serializer.hpp"

namespace netqueue {

template <class T, class S = typename DefaultSerializer<T>::type>
  requires SerializerFor<S, T>
class Queue {
 public:
  struct Item {
    Id peer;
    T value;
  };

  // Borrows `communicator`, which must outlive the Queue.
  explicit Queue(Communicator& communicator) noexcept : comm_(&communicator) {}

  // Borrows `value` where the serializer borrows (bytes, arrays): keep it alive
  // and unmodified until the future is ready.
  SendFuture put(const T& value) { return comm_->put(S::dump(value)); }
  SendFuture put(const T& value, std::span<const Id> peers) { return comm_->put(S::dump(value), peers); }
  SendFuture put(const T& value, const Id& peer) { return comm_->put(S::dump(value), peer); }
  // Takes ownership of `value`: nothing to keep alive.
  SendFuture put(T&& value) { return comm_->put(own(std::move(value))); }
  SendFuture put(T&& value, std::span<const Id> peers) { return comm_->put(own(std::move(value)), peers); }
  SendFuture put(T&& value, const Id& peer) { return comm_->put(own(std::move(value)), peer); }

  // As Communicator::get; a payload the serializer cannot load throws
  // Error(errc::serialization) naming the peer, and that message is consumed.
  Item get() { return load(comm_->get()); }
  std::optional<Item> get_for(std::chrono::nanoseconds timeout) {
    auto m = comm_->get_for(timeout);
    return m ? std::optional<Item>(load(std::move(*m))) : std::nullopt;
  }
  std::optional<Item> try_get() {
    auto m = comm_->try_get();
    return m ? std::optional<Item>(load(std::move(*m))) : std::nullopt;
  }

  Communicator& communicator() const noexcept { return *comm_; }

 private:
  // The value moves into shared ownership; whatever the serializer borrowed
  // from it stays alive with the stream's chunks.
  static Stream own(T&& value) {
    auto holder = std::make_shared<const T>(std::move(value));
    Stream s = S::dump(*holder);
    s.keep_alive(holder);
    return s;
  }
  static Item load(Message m) {
    const Id peer = m.peer;
    try {
      return Item{peer, S::load(std::move(m.data))};
    } catch (const std::exception& e) {
      throw Error(errc::serialization, "cannot load message from " + peer.str() + ": " + e.what());
    }
  }

  Communicator* comm_;
};

}  // namespace netqueue
