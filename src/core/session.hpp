// Session: everything protocol-independent about one connection.
//
// Receive side (called by the transport on the link's strand): frames are cut
// by the FrameDecoder; the first 16-byte frame is the peer's hello, a later
// 16-byte frame equal to the peer's id is its goodbye, everything else is data
// handed to the Core's inbox. Send side: put() threads queue frames under a
// short lock; the transport's strand takes them in batches (merge/split by the
// Batcher) and reports bytes sent, which resolves put futures.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/send_state.hpp"
#include "core/transport.hpp"
#include "netqueue/future.hpp"
#include "netqueue/message.hpp"
#include "stream/batcher.hpp"
#include "stream/frame.hpp"

namespace netqueue::detail {

class Core;

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `link` is null for a client session made before it connects.
  Session(Core& core, std::shared_ptr<Link> link);

  // ---- transport side: one strand at a time ----
  std::span<std::byte> receive_buffer() { return decoder_.buffer(); }
  // Bytes certainly coming (the rest of the current frame): a transport may
  // wait for that many before waking up (0: anything is worth a wake-up).
  std::size_t receive_expected() const noexcept { return decoder_.expected(); }
  void on_received(std::size_t n);
  void on_piece(const Chunk& piece);
  // Whether the transport should receive more now. False while the receive
  // bound is reached (wake_receive follows) or after the session ended.
  bool receiving();
  // The next batch to send (empty: nothing queued; wake_send follows).
  std::span<const Batcher::Buffer> next_batch();
  // The whole last batch was handed over.
  void on_sent();
  // The connection ended: `error` is empty for a clean end. Exactly once.
  // `cause`, when given, is what pending futures fail with (default: ClosedError).
  void on_closed(const std::string& error, std::exception_ptr cause = nullptr);

  // ---- core side: any thread ----
  void attach(std::shared_ptr<Link> link);
  // Queues one message; the target resolves when its bytes are handed over.
  SendFuture::Target enqueue(Stream data);
  // Queues our goodbye behind everything queued; later puts fail.
  void say_goodbye();
  // get() took `bytes` of this session's messages off the inbox.
  void consumed(std::size_t bytes);
  // Receives again if the receive bound had paused it (closing ignores the bound).
  void resume();
  // Ends the session now with `reason` (protocol error, deadline).
  void abort(const std::string& reason);

  Id peer() const;
  bool identified() const noexcept { return identified_.load(std::memory_order_acquire); }
  bool ended() const noexcept { return ended_.load(std::memory_order_acquire); }
  std::string describe() const;  // "peer <id> (127.0.0.1:4000)" for messages

 private:
  void handle(std::vector<DecodedFrame>& frames);
  bool on_hello(const Stream& data);
  void fail(const std::string& reason, LogLevel level = LogLevel::error);
  void finish_if_done();

  Core& core_;
  const std::size_t receive_bound_;

  // Receive side (strand only).
  FrameDecoder decoder_;
  std::vector<DecodedFrame> frames_;
  std::vector<Message> deliveries_;
  bool peer_said_goodbye_ = false;
  bool hello_counted_ = false;  // send side (strand)
  std::atomic<std::int64_t> unconsumed_{0};
  std::atomic<bool> paused_{false};

  // Send side: incoming_ and the flags under mutex_; batcher_ on the strand.
  mutable std::mutex mutex_;
  std::shared_ptr<Link> link_;
  std::vector<Stream> incoming_;
  std::uint64_t queued_ = 0;  // offset of the end of what was queued
  std::optional<std::uint64_t> goodbye_end_;
  bool wake_pending_ = false;
  bool send_closed_ = false;          // goodbye queued or session over: puts fail
  std::string failure_;               // why the session is being ended
  std::atomic<bool> failing_{false};  // failure_ is set
  std::exception_ptr end_cause_;      // why the session ended
  Batcher batcher_;
  std::vector<Stream> taken_;  // strand: swapped with incoming_, fed to batcher_ from taken_at_
  std::size_t taken_at_ = 0;
  std::shared_ptr<SendState> state_;

  Id peer_;  // under mutex_ (known after the hello)
  std::atomic<bool> identified_{false};
  std::atomic<bool> ended_{false};
};

}  // namespace netqueue::detail
