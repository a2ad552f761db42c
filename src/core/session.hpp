// Session: everything protocol-independent about one peer. It outlives the
// links that carry it (the transport's Pipe contract, core/transport.hpp).
//
// Receive side (the link's strand): frames are cut by the FrameDecoder; the
// first 16-byte frame is the peer's hello, a later 16-byte frame equal to the
// peer's id is its goodbye, everything else is data handed to the Core's
// inbox. Send side: put() threads queue frames under a short lock; the strand
// takes them in batches or owned pieces (merge/split by the Batcher) and
// reports bytes acknowledged, which resolves put futures.
//
// One name per meaning: the core *ends* a session (end()); a transport reports
// that a link *detached*; a session *finishes* once, when it is over.
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

#include "core/put_queue.hpp"
#include "core/send_state.hpp"
#include "core/transport.hpp"
#include "netqueue/future.hpp"
#include "netqueue/message.hpp"
#include "stream/batcher.hpp"
#include "stream/frame.hpp"

namespace netqueue::detail {

class Core;

class Session final : public Pipe, public std::enable_shared_from_this<Session> {
 public:
  // `key` is the transport's name for the session (empty: none).
  Session(Core& core, std::string key);

  // ---- Pipe: the link's strand ----
  std::span<std::byte> receive_buffer() override { return decoder_.buffer(); }
  void received(std::size_t n) override;
  std::size_t receive_expected() const noexcept override { return decoder_.expected(); }
  void received_piece(Chunk piece) override;
  bool receiving() override;
  std::span<const Buffer> next_batch() override;
  void sent() override;
  Stream take_piece() override;
  void acknowledged(std::uint64_t bytes) override;
  std::uint64_t unacknowledged() const noexcept override;
  void detached(LinkEnd end, const std::string& reason, std::error_code cause) override;
  std::string describe() const override;

  // ---- core side: any thread ----
  // Gives the session a link; false when it has one, or is over.
  bool attach(std::shared_ptr<Link> link);
  // Queues one message; the target resolves when its bytes are acknowledged.
  SendFuture::Target enqueue(Stream data);
  // Queues our goodbye behind everything queued; later puts fail.
  void say_goodbye();
  // get() took `bytes` of this session's messages off the inbox.
  void consumed(std::size_t bytes);
  // Receives again if the receive bound had paused it (closing allows a bounded extra).
  void resume();
  // Ends the session now: its link is cut, then it finishes with `reason`;
  // pending puts fail with `cause`, by default ClosedError(code) naming the peer.
  void end(errc code, const std::string& reason, LogLevel level = LogLevel::warning,
           std::exception_ptr cause = nullptr);

  const std::string& key() const noexcept { return key_; }
  Id peer() const;
  bool identified() const noexcept { return identified_.load(std::memory_order_acquire); }
  bool over() const noexcept { return ending_.load(std::memory_order_acquire) || ended_.load(std::memory_order_acquire); }
  bool ended() const noexcept { return ended_.load(std::memory_order_acquire); }
  // Links attached so far, and whether one is attached now.
  std::uint64_t links() const;
  bool linked() const;

 private:
  void handle(std::vector<DecodedFrame>& frames);
  bool on_hello(const Stream& data);
  // Moves queued frames into the batcher; false when nothing is left to send.
  bool refill();
  // `bytes` of the stream were handed out, completing `done` frames.
  void count_out(std::uint64_t bytes, Batcher::Completed done);
  void finish_if_done();
  // Why a session is over; an empty reason: it ended well (both goodbyes).
  struct Ending {
    errc code = errc::closed;
    std::string reason;
    std::error_code cause;
  };
  // The session is over: fails what is pending, tells the core. Exactly once.
  void finish(Ending ending);
  // What arrived of a message the stream ended inside, delivered marked truncated.
  void deliver_truncated();

  Core& core_;
  const std::string key_;
  const std::size_t receive_bound_;

  // Receive side (strand only).
  FrameDecoder decoder_;
  std::vector<DecodedFrame> frames_;
  std::vector<Message> deliveries_;
  bool peer_said_goodbye_ = false;
  std::atomic<std::int64_t> unconsumed_{0};
  std::atomic<bool> paused_{false};

  // Send side: incoming_ and the flags under mutex_; the rest on the strand.
  mutable std::mutex mutex_;
  std::shared_ptr<Link> link_;
  std::uint64_t links_ = 0;
  PutQueue incoming_;
  std::uint64_t queued_ = 0;  // offset of the end of what was queued
  std::optional<std::uint64_t> goodbye_end_;
  bool wake_pending_ = false;
  bool send_closed_ = false;                 // goodbye queued or session over: puts fail
  std::string remote_;                       // the last link's remote end
  Ending failure_;                           // why the session is being ended (end())
  std::exception_ptr failure_cause_;         // what its puts fail with, when not the default
  std::exception_ptr end_cause_;             // why the session ended (later puts fail with it)
  Batcher batcher_;
  PutQueue taken_;  // strand: swapped with incoming_, fed to batcher_
  std::atomic<std::uint64_t> taken_bytes_{0};  // bytes handed out (sent or taken)
  bool hello_counted_ = false;       // strand
  std::shared_ptr<SendState> state_;

  Id peer_;  // under mutex_ (known after the hello)
  std::atomic<bool> identified_{false};
  std::atomic<bool> ending_{false};  // end() was called: failure_ is set
  std::atomic<bool> ended_{false};
};

}  // namespace netqueue::detail
