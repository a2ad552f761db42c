#include "core/session.hpp"

#include <algorithm>
#include <array>

#include "core/core.hpp"
#include "netqueue/error.hpp"

namespace netqueue::detail {
namespace {

// Bytes a session may read past its receive bound while the communicator
// closes, to reach the peer's goodbye behind what it had already sent.
std::size_t close_allowance(std::size_t receive_bound) { return 4 * std::max(receive_bound, 4 * MiB); }

std::optional<Id> id_of(const Stream& data) {
  if (data.size() != Id::size) return std::nullopt;
  std::array<std::byte, Id::size> bytes;
  data.copy_to(bytes);
  return Id::from_bytes(bytes);
}

// The errc a session whose link was lost ends with (core/transport.hpp, detached).
errc code_of(const std::error_code& cause) {
  if (!cause) return errc::closed;
  if (cause.category() == error_category()) return static_cast<errc>(cause.value());
  if (cause == std::errc::timed_out) return errc::timeout;  // the peer answered nothing (peer_timeout)
  if (cause == std::errc::connection_reset || cause == std::errc::connection_aborted ||
      cause == std::errc::broken_pipe)
    return errc::closed;
  return errc::transport;
}

FrameDecoder::Limits decoder_limits(const Options& o) {
  FrameDecoder::Limits limits;
  limits.message_size = o.serialization.message_size;
  return limits;
}

}  // namespace

Session::Session(Core& core, std::string key)
    : core_(core),
      key_(std::move(key)),
      receive_bound_(core.options().connection.receive_bound),
      decoder_(decoder_limits(core.options())),
      batcher_(core.options().connection.max_size, core.options().connection.effective_merge_size(),
               core.options().connection.effective_efficient_size()),
      state_(std::make_shared<SendState>()) {}

// ---- receive side ----

void Session::received(std::size_t n) {
  core_.count_stream_in(n);
  decoder_.commit(n, frames_);
  handle(frames_);
}

void Session::received_piece(Chunk piece) {
  // Memory the transport does not own beyond this call is copied here, once.
  if (!piece.owned()) piece = Chunk::copy_of(piece.bytes());
  core_.count_stream_in(piece.size());
  decoder_.feed(piece, frames_);
  handle(frames_);
}

void Session::handle(std::vector<DecodedFrame>& frames) {
  for (DecodedFrame& f : frames) {
    if (over()) break;
    if (!identified()) {
      if (f.part || f.data.size() != Id::size) {
        end(errc::protocol_error,
            "the first frame is " + std::to_string(f.part ? f.part->total : f.data.size()) +
                " bytes long, not a 16-byte hello",
            LogLevel::error);
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
      end(errc::protocol_error, "data after the peer's goodbye", LogLevel::error);
      break;
    }
    unconsumed_.fetch_add(static_cast<std::int64_t>(f.data.size()), std::memory_order_relaxed);
    deliveries_.push_back(Message{peer_, std::move(f.data), f.part, f.truncated});
  }
  frames.clear();
  if (!deliveries_.empty()) core_.deliver(shared_from_this(), deliveries_);
  // A first frame that cannot be a hello is refused on its header alone.
  if (!identified() && !over()) {
    if (auto length = decoder_.pending_length(); length && *length != Id::size)
      end(errc::protocol_error,
          "the first frame is " + std::to_string(*length) + " bytes long, not a 16-byte hello", LogLevel::error);
  }
}

bool Session::on_hello(const Stream& data) {
  const Id id = *id_of(data);
  if (id.is_nil()) {
    end(errc::protocol_error, "the hello names the nil id, which names no peer", LogLevel::error);
    return false;
  }
  {
    std::lock_guard lock(mutex_);
    peer_ = id;
  }
  state_->set_peer(id);
  std::string why;
  if (!core_.identify(shared_from_this(), id, why)) {
    end(errc::protocol_error, why, LogLevel::error);
    return false;
  }
  identified_.store(true, std::memory_order_release);
  return true;
}

bool Session::receiving() {
  if (over()) return false;
  // Closing waits for goodbyes, which must be read whatever get() does: past
  // the bound, up to an allowance for what the peer had in flight (socket
  // buffers), never without limit (a peer that floods while we close waits
  // there, as it would without the close, until the close deadline).
  const std::int64_t bound = static_cast<std::int64_t>(receive_bound_) +
                             (core_.closing() ? static_cast<std::int64_t>(close_allowance(receive_bound_)) : 0);
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
    incoming_.push(std::move(data));
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
    incoming_.push(Stream::borrow(core_.id().as_bytes()));
    if (!wake_pending_ && link_) {
      wake_pending_ = true;
      wake = link_;
    }
  }
  if (wake) wake->wake_send();
}

bool Session::refill() {
  if (taken_.empty()) {
    std::lock_guard lock(mutex_);
    taken_.swap(incoming_);  // incoming_ gets the emptied blocks back
    if (taken_.empty() && batcher_.empty()) {
      wake_pending_ = false;
      return false;
    }
  }
  // Feed the batcher a couple of batches ahead only: a burst of puts waits in
  // one queue, not moved whole into a second one.
  const std::uint64_t ahead = 2 * static_cast<std::uint64_t>(core_.options().connection.max_size);
  while (!taken_.empty() && batcher_.pending_bytes() < ahead) batcher_.push(taken_.pop());
  return true;
}

std::span<const Pipe::Buffer> Session::next_batch() {
  if (!refill()) return {};
  return batcher_.next();
}

void Session::sent() {
  const std::size_t n = batcher_.batch_bytes();
  taken_bytes_.fetch_add(n, std::memory_order_relaxed);
  count_out(n, batcher_.consume());
  state_->advance(n);
  finish_if_done();
}

Stream Session::take_piece() {
  if (!refill()) return {};
  auto taken = batcher_.take();
  taken_bytes_.fetch_add(taken.piece.size(), std::memory_order_relaxed);  // before count_out: it reads it
  count_out(taken.piece.size(), taken.completed);
  return std::move(taken.piece);
}

void Session::acknowledged(std::uint64_t bytes) {
  state_->advance(bytes);
  finish_if_done();
}

std::uint64_t Session::unacknowledged() const noexcept {
  return taken_bytes_.load(std::memory_order_relaxed) - state_->sent();
}

void Session::count_out(std::uint64_t bytes, Batcher::Completed done) {
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
  if (goodbye && taken_bytes_.load(std::memory_order_relaxed) >= *goodbye && done.frames > 0) {
    --done.frames;
    done.payload -= Id::size;
  }
  core_.count_sent(bytes, done.payload, done.frames);
}

void Session::finish_if_done() {
  std::shared_ptr<Link> link;
  {
    std::lock_guard lock(mutex_);
    // Both goodbyes exchanged (ours acknowledged): the session is over.
    if (!goodbye_end_ || !peer_said_goodbye_ || state_->sent() < *goodbye_end_) return;
    link = link_;
  }
  core_.log(LogLevel::debug, describe() + ": goodbyes exchanged, closing");
  if (link) link->close(true);
}

// ---- links and the end ----

bool Session::attach(std::shared_ptr<Link> link) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (link_ || over()) return false;
    link_ = link;
    remote_ = link->remote();
    ++links_;
    // No link was attached, so the strand's state is ours to read.
    wake = !incoming_.empty() || !batcher_.empty() || !taken_.empty();
    wake_pending_ = wake;
  }
  if (wake) link->wake_send();
  return true;
}

void Session::detached(LinkEnd end, const std::string& reason, std::error_code cause) {
  bool resumable;
  {
    std::lock_guard lock(mutex_);
    link_.reset();  // the link held us: the cycle is broken
    wake_pending_ = false;
    // After both goodbyes, however the link ended, the session ended well.
    const bool done = peer_said_goodbye_ && goodbye_end_ && state_->sent() >= *goodbye_end_;
    resumable = end == LinkEnd::resumable && unacknowledged() == 0 && !done && !over();
  }
  if (!resumable) return finish({code_of(cause), reason, cause});
  core_.log(LogLevel::debug, describe() + ": link ended (" + reason + "); the session waits for the next one");
  core_.session_detached(shared_from_this());
}

void Session::end(errc code, const std::string& reason, LogLevel level, std::exception_ptr cause) {
  std::shared_ptr<Link> link;
  {
    std::lock_guard lock(mutex_);
    if (over()) return;
    failure_ = {code, reason, {}};
    failure_cause_ = std::move(cause);
    ending_.store(true, std::memory_order_release);
    link = link_;
  }
  core_.log(level, describe() + ": " + reason);
  // With a link, its detach finishes the session; without one, nothing else
  // touches the session: it finishes here.
  if (link) {
    link->close(false);
  } else {
    finish({code, reason, {}});
  }
}

void Session::finish(Ending ending) {
  if (ended_.exchange(true, std::memory_order_acq_rel)) return;
  std::exception_ptr cause;
  {
    std::lock_guard lock(mutex_);
    const bool done = peer_said_goodbye_ && goodbye_end_ && state_->sent() >= *goodbye_end_;
    if (!failure_.reason.empty()) {
      ending = failure_;  // end() said why first
    } else if (done) {
      ending = {};  // both goodbyes: however the link ended, the session ended well
    }
    cause = failure_cause_;
    send_closed_ = true;
    incoming_.clear();
    link_.reset();
  }
  deliver_truncated();
  batcher_.clear();
  taken_.clear();
  if (!cause) {
    const Id peer = this->peer();
    cause = std::make_exception_ptr(
        ClosedError(peer, "peer " + peer.str() + " is disconnected" + (ending.reason.empty() ? "" : ": " + ending.reason),
                    ending.code, ending.cause));
  }
  {
    std::lock_guard lock(mutex_);
    end_cause_ = cause;  // what later puts fail with
  }
  state_->fail(cause);
  core_.session_ended(shared_from_this(), ending.code, ending.reason, ending.cause);
}

void Session::deliver_truncated() {
  // One rule: what arrived of a message the stream ended inside (a whole one
  // or one delivered in parts) is delivered, marked truncated, with its part
  // saying where it stopped. Nothing of a session that never said hello is,
  // nor anything after the peer's goodbye (a protocol error).
  frames_.clear();
  if (!decoder_.finish(frames_) || !identified() || peer_said_goodbye_) return frames_.clear();
  if (frames_.empty()) {
    core_.log(LogLevel::warning, describe() + ": the session ended inside a frame header");
    return;
  }
  for (DecodedFrame& f : frames_) {
    const Part& p = *f.part;
    core_.log(LogLevel::warning, describe() + ": the session ended inside a message of " + std::to_string(p.total) +
                                     " bytes, after " + std::to_string(p.offset + f.data.size()) +
                                     "; what arrived is delivered marked truncated");
    unconsumed_.fetch_add(static_cast<std::int64_t>(f.data.size()), std::memory_order_relaxed);
    deliveries_.push_back(Message{peer_, std::move(f.data), f.part, true});
  }
  frames_.clear();
  core_.deliver(shared_from_this(), deliveries_);
}

Id Session::peer() const {
  std::lock_guard lock(mutex_);
  return peer_;
}

std::uint64_t Session::links() const {
  std::lock_guard lock(mutex_);
  return links_;
}

bool Session::linked() const {
  std::lock_guard lock(mutex_);
  return link_ != nullptr;
}

std::string Session::describe() const {
  std::lock_guard lock(mutex_);
  const std::string remote = remote_.empty() ? std::string("an unknown address") : remote_;
  if (identified()) return "peer " + peer_.str() + " (" + remote + ")";
  return "connection from " + remote;
}

}  // namespace netqueue::detail
