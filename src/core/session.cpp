#include "core/session.hpp"

#include <array>

#include "core/core.hpp"
#include "netqueue/error.hpp"

namespace netqueue::detail {
namespace {

std::optional<Id> id_of(const Stream& data) {
  if (data.size() != Id::size) return std::nullopt;
  std::array<std::byte, Id::size> bytes;
  data.copy_to(bytes);
  return Id::from_bytes(bytes);
}

FrameDecoder::Limits decoder_limits(const Options& o) {
  FrameDecoder::Limits limits;
  limits.message_size = o.serialization.message_size;
  return limits;
}

}  // namespace

Session::Session(Core& core, std::shared_ptr<Link> link)
    : core_(core),
      receive_bound_(core.options().connection.receive_bound),
      decoder_(decoder_limits(core.options())),
      link_(std::move(link)),
      batcher_(core.options().connection.max_size, core.options().connection.effective_merge_size(),
               core.options().connection.effective_efficient_size()),
      state_(std::make_shared<SendState>()) {}

// ---- receive side ----

void Session::on_received(std::size_t n) {
  core_.count_stream_in(n);
  decoder_.commit(n, frames_);
  handle(frames_);
}

void Session::on_piece(const Chunk& piece) {
  core_.count_stream_in(piece.size());
  decoder_.feed(piece, frames_);
  handle(frames_);
}

void Session::handle(std::vector<DecodedFrame>& frames) {
  for (DecodedFrame& f : frames) {
    if (ended() || failing_.load(std::memory_order_acquire)) break;
    if (!identified()) {
      if (f.part || f.data.size() != Id::size) {
        fail("the first frame is " + std::to_string(f.part ? f.part->total : f.data.size()) +
             " bytes long, not a 16-byte hello");
        break;
      }
      if (!on_hello(f.data)) break;
      continue;
    }
    if (!f.part && id_of(f.data) == peer_) {  // goodbye
      peer_said_goodbye_ = true;
      core_.log(LogLevel::debug, describe() + " said goodbye");
      say_goodbye();
      finish_if_done();
      continue;
    }
    if (peer_said_goodbye_) {
      fail("data after the peer's goodbye");
      break;
    }
    if (f.truncated) core_.count_truncated();
    core_.count_received(f.data.size());
    unconsumed_.fetch_add(static_cast<std::int64_t>(f.data.size()), std::memory_order_relaxed);
    deliveries_.push_back(Message{peer_, std::move(f.data), f.part, f.truncated});
  }
  frames.clear();
  if (!deliveries_.empty()) core_.deliver(shared_from_this(), deliveries_);
}

bool Session::on_hello(const Stream& data) {
  const Id id = *id_of(data);
  {
    std::lock_guard lock(mutex_);
    peer_ = id;
  }
  state_->set_peer(id);
  std::string why;
  if (!core_.identify(shared_from_this(), id, why)) {
    fail(why);
    return false;
  }
  identified_.store(true, std::memory_order_release);
  return true;
}

bool Session::receiving() {
  if (ended() || failing_.load(std::memory_order_acquire)) return false;
  // Closing waits for goodbyes, which must be read whatever get() does.
  if (core_.closing()) return true;
  const auto bound = static_cast<std::int64_t>(receive_bound_);
  if (unconsumed_.load(std::memory_order_acquire) < bound) return true;
  paused_.store(true, std::memory_order_seq_cst);
  // get() may have drained the inbox between the check and the flag.
  return unconsumed_.load(std::memory_order_seq_cst) < bound && paused_.exchange(false);
}

void Session::consumed(std::size_t bytes) {
  const auto left = unconsumed_.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_seq_cst) -
                    static_cast<std::int64_t>(bytes);
  if (left < static_cast<std::int64_t>(receive_bound_)) resume();
}

void Session::resume() {
  if (!paused_.load(std::memory_order_seq_cst) || !paused_.exchange(false)) return;
  std::shared_ptr<Link> link;
  {
    std::lock_guard lock(mutex_);
    link = link_;
  }
  if (link) link->wake_receive();
}

// ---- send side ----

SendFuture::Target Session::enqueue(Stream data) {
  std::shared_ptr<Link> wake;
  std::uint64_t end;
  {
    std::lock_guard lock(mutex_);
    if (send_closed_) {
      auto error =
          end_cause_
              ? end_cause_
              : std::make_exception_ptr(ClosedError(peer_, "peer " + peer_.str() + " is closing (goodbye sent)"));
      return {std::make_shared<SendState>(error), 1};
    }
    queued_ += frame_header_size + data.size();
    end = queued_;
    incoming_.push_back(std::move(data));
    if (!wake_pending_ && link_) {
      wake_pending_ = true;
      wake = link_;
    }
  }
  if (wake) wake->wake_send();
  return {state_, end};
}

void Session::say_goodbye() {
  std::shared_ptr<Link> wake;
  {
    std::lock_guard lock(mutex_);
    if (send_closed_) return;
    send_closed_ = true;
    queued_ += frame_header_size + Id::size;
    goodbye_end_ = queued_;
    incoming_.push_back(Stream::borrow(core_.id().as_bytes()));
    if (!wake_pending_ && link_) {
      wake_pending_ = true;
      wake = link_;
    }
  }
  if (wake) wake->wake_send();
}

std::span<const Batcher::Buffer> Session::next_batch() {
  if (taken_at_ == taken_.size()) {
    taken_.clear();
    taken_at_ = 0;
    std::lock_guard lock(mutex_);
    taken_.swap(incoming_);  // incoming_ gets the old buffer back: no reallocation
    if (taken_.empty() && batcher_.empty()) {
      wake_pending_ = false;
      return {};
    }
  }
  // Feed the batcher a couple of batches ahead only: a burst of puts waits in
  // one queue, not moved whole into a second one.
  const std::uint64_t ahead = 2 * static_cast<std::uint64_t>(core_.options().connection.max_size);
  while (taken_at_ < taken_.size() && batcher_.pending_bytes() < ahead) batcher_.push(std::move(taken_[taken_at_++]));
  return batcher_.next();
}

void Session::on_sent() {
  const std::size_t n = batcher_.batch_bytes();
  auto done = batcher_.consume();
  state_->advance(n);
  // Statistics count data messages: our hello (always the first frame) and
  // goodbye (always the last) are not.
  if (done.frames > 0 && !hello_counted_) {
    hello_counted_ = true;
    --done.frames;
    done.payload -= Id::size;
  }
  std::optional<std::uint64_t> goodbye;
  {
    std::lock_guard lock(mutex_);
    goodbye = goodbye_end_;
  }
  if (goodbye && state_->sent() >= *goodbye && done.frames > 0) {
    --done.frames;
    done.payload -= Id::size;
  }
  core_.count_sent(n, done.payload, done.frames);
  finish_if_done();
}

void Session::finish_if_done() {
  std::shared_ptr<Link> link;
  {
    std::lock_guard lock(mutex_);
    // Both goodbyes exchanged (ours handed over): the session is over.
    if (!goodbye_end_ || !peer_said_goodbye_ || state_->sent() < *goodbye_end_) return;
    link = link_;
  }
  core_.log(LogLevel::debug, describe() + ": goodbyes exchanged, closing");
  if (link) link->close(true);
}

// ---- ending ----

void Session::attach(std::shared_ptr<Link> link) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    link_ = link;
    wake = !incoming_.empty();
    wake_pending_ = wake;
  }
  if (wake) link->wake_send();
}

void Session::fail(const std::string& reason, LogLevel level) {
  std::shared_ptr<Link> link;
  {
    std::lock_guard lock(mutex_);
    if (failing_.load(std::memory_order_relaxed) || ended()) return;
    failure_ = reason;
    failing_.store(true, std::memory_order_release);
    link = link_;
  }
  core_.log(level, describe() + ": " + reason);
  if (link) link->close(false);
}

void Session::abort(const std::string& reason) { fail(reason, LogLevel::warning); }

void Session::on_closed(const std::string& error, std::exception_ptr cause) {
  if (ended_.exchange(true, std::memory_order_acq_rel)) return;
  std::string reason;
  {
    std::lock_guard lock(mutex_);
    // After both goodbyes, however the connection ended, the session ended well.
    const bool done = peer_said_goodbye_ && goodbye_end_ && state_->sent() >= *goodbye_end_;
    reason = !failure_.empty() ? failure_ : done ? std::string() : error;
    send_closed_ = true;
    incoming_.clear();
    link_.reset();  // the link holds the session: break the cycle
  }
  frames_.clear();
  if (decoder_.finish(frames_)) {
    core_.count_truncated();
    core_.log(LogLevel::warning, describe() + ": the session ended inside a message (truncated)");
    for (DecodedFrame& f : frames_) deliveries_.push_back(Message{peer_, std::move(f.data), f.part, true});
    frames_.clear();
    if (!deliveries_.empty()) core_.deliver(shared_from_this(), deliveries_);
  }
  batcher_.clear();
  taken_.clear();
  taken_at_ = 0;
  if (!cause) {
    const Id peer = this->peer();
    cause = std::make_exception_ptr(ClosedError(
        peer, "peer " + peer.str() + " is disconnected" + (reason.empty() ? std::string() : ": " + reason)));
  }
  {
    std::lock_guard lock(mutex_);
    end_cause_ = cause;  // what later puts fail with
  }
  state_->fail(cause);
  core_.session_ended(shared_from_this(), reason);
}

Id Session::peer() const {
  std::lock_guard lock(mutex_);
  return peer_;
}

std::string Session::describe() const {
  if (identified()) return "peer " + peer().str();
  std::shared_ptr<Link> link;
  {
    std::lock_guard lock(mutex_);
    link = link_;
  }
  return link ? "connection from " + link->remote() : "connection";
}

}  // namespace netqueue::detail
