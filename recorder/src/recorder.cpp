#include "recorder.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "event_kinds.h"
#include "no_destructor.h"
#include "process_facts.h"
#include "profilemate.npb.h"
#include "profilemate/recorder.h"
#include "session_dir.h"
#include "text.h"

namespace profilemate::recorder {
namespace {

constexpr int kHandledSignals[] = {SIGTERM, SIGINT};
struct sigaction g_previous_actions[NSIG];
constexpr uint32_t kSignalFlushTimeoutMs = 2000;

constexpr long kFlushPollMicros = 100;
// A waiting thread (pm_set_thread_waits) polls for room this often, for at most this long per
// event: the writer empties a full buffer in milliseconds, so a second means it is stalled.
constexpr long kWaitPollMicros = 50;
constexpr uint64_t kWaitForRoomMicros = 1'000'000;

void sleep_us(long us) {
  timespec ts{us / 1'000'000, (us % 1'000'000) * 1000};
  ::nanosleep(&ts, nullptr);
}

// Flush, then hand the signal to whoever had it before us, so the application behaves exactly
// as it would without ProfileMate.
void on_termination_signal(int signal, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  Recorder::instance().flush_from_signal();
  const struct sigaction& previous = g_previous_actions[signal];
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(signal, info, context);
  } else if (previous.sa_handler == SIG_DFL) {
    ::sigaction(signal, &previous, nullptr);
    ::raise(signal);  // delivered when this handler returns
  } else if (previous.sa_handler != SIG_IGN) {
    previous.sa_handler(signal);
  }
  errno = saved_errno;
}

void install_signal_handlers() {
  for (const int signal : kHandledSignals) {
    struct sigaction action {};
    action.sa_sigaction = on_termination_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    ::sigaction(signal, &action, &g_previous_actions[signal]);
  }
}

void stop_at_exit() {
  Recorder::instance().stop();
}

}  // namespace

// The calling thread's buffer. Plain thread_locals (no destructor), so they stay usable after
// the thread's C++ thread_local objects are destroyed: the main thread still records from
// atexit handlers, which run after that.
thread_local Recorder::Slot* Recorder::t_slot_ = nullptr;
thread_local uint64_t Recorder::t_generation_ = 0;
thread_local bool Recorder::t_exiting_ = false;
thread_local bool Recorder::t_waits_ = false;

// Releases the thread's buffer when the thread exits; the writer drains and recycles it. A
// record made after this (from an exit handler) binds a new buffer.
struct Recorder::ThreadExit {
  ThreadExit() = default;
  ThreadExit(const ThreadExit&) = delete;
  ThreadExit& operator=(const ThreadExit&) = delete;
  ~ThreadExit() {
    if (t_slot_ != nullptr && t_generation_ == instance().generation_.load(std::memory_order_relaxed)) {
      t_slot_->state.store(kRetired, std::memory_order_release);
    }
    t_slot_ = nullptr;
    t_generation_ = 0;
    t_exiting_ = true;
  }
};

Recorder& Recorder::instance() {
  static NoDestructor<Recorder> recorder;
  return recorder.get();
}

Recorder::RingMemory::~RingMemory() {
  if (base != nullptr) ::munmap(base, bytes);
}

// ----------------------------------------------------------------------------------------------
// Life cycle

int Recorder::start() {
  std::lock_guard lock(lifecycle_);
  return start_locked();
}

int Recorder::ensure_running() {
  const State state = state_.load(std::memory_order_acquire);
  if (state == State::kOn) return PM_OK;
  if (state != State::kForkPending) return PM_INACTIVE;
  std::lock_guard lock(lifecycle_);
  return start_locked();
}

int Recorder::start_locked() {
  const State state = state_.load(std::memory_order_relaxed);
  if (state == State::kOn) return PM_OK;
  if (state == State::kFailed) return PM_START_FAILED;
  if (state != State::kForkPending) config_ = Config::from_environment();

  if (!slots_) {
    const uint64_t ring_bytes = config_.thread_buffer_bytes();
    slot_count_ = config_.max_threads;
    ring_memory_.bytes = ring_bytes * slot_count_;
    // Pages are touched only as buffers fill, so resident memory follows use, up to the budget.
    void* base = ::mmap(nullptr, ring_memory_.bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
      std::fprintf(stderr, "[ProfileMate] cannot reserve %zu bytes of buffers (%s): recording is off\n",
                   ring_memory_.bytes, std::strerror(errno));
      state_.store(State::kFailed, std::memory_order_release);
      return PM_START_FAILED;
    }
    ring_memory_.base = base;
    slots_ = std::make_unique<Slot[]>(slot_count_);
    for (uint32_t i = 0; i < slot_count_; ++i) {
      slots_[i].ring.attach(static_cast<std::byte*>(base) + i * ring_bytes, ring_bytes);
    }
  }

  // A forked child inherited the parent's descriptors (its eventfd wakes the parent's writer):
  // drop them without writing anything.
  log_.reset();
  if (state == State::kForkPending) wake_fd_.reset();
  const pid_t pid = ::getpid();
  SessionLogResult opened =
      open_session_log(config_.session_dir, config_.profiling_dir, pid, config_.session_dir_setting);
  if (!opened.error.empty()) {
    std::fprintf(stderr, "[ProfileMate] %s; recording is off for this process (pid %d)\n",
                 opened.error.c_str(), static_cast<int>(pid));
    state_.store(State::kFailed, std::memory_order_release);
    return PM_START_FAILED;
  }
  // Forked children and later restarts join this session rather than making a new one.
  config_.session_dir = opened.log.dir_path;
  session_id_ = opened.log.session_id;
  base_realtime_ns_ = realtime_ns();
  base_monotonic_ns_ = monotonic_ns();
  log_ =
      std::make_unique<LogFile>(std::move(opened.log.log_fd), opened.log.log_path, Config::kWriterBufferBytes,
                                config_.max_log_bytes, base_realtime_ns_, config_.compress);
  if (!wake_fd_.valid()) wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  // New bindings for every thread, and empty buffers: after fork they hold the parent's events.
  generation_.fetch_add(1, std::memory_order_relaxed);
  reset_slots();
  stop_requested_.store(false, std::memory_order_relaxed);
  wake_pending_.store(false, std::memory_order_relaxed);
  flush_requested_.store(0, std::memory_order_relaxed);
  flush_done_.store(0, std::memory_order_relaxed);
  write_header();
  write_clock_sync();
  log_->write_out();

  // The writer never takes SIGTERM/SIGINT: the handler waits for it.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  writer_running_.store(false, std::memory_order_relaxed);
  const int created = ::pthread_create(&writer_, nullptr, &Recorder::writer_entry, this);
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (created != 0) {
    std::fprintf(stderr, "[ProfileMate] cannot start the writer thread (%s): recording is off\n",
                 std::strerror(created));
    state_.store(State::kFailed, std::memory_order_release);
    return PM_START_FAILED;
  }
  // Until the thread runs, the C library (or a sanitizer's runtime) may still be setting it up,
  // under locks a fork now would leave held in the child: wait for it (microseconds, once).
  writer_running_.wait(false, std::memory_order_acquire);

  if (!process_hooks_installed_) {
    process_hooks_installed_ = true;
    std::atexit(stop_at_exit);
    ::pthread_atfork(
        [] {
          instance().lifecycle_.lock();
          instance().writer_busy_.lock();
        },
        [] {
          instance().writer_busy_.unlock();
          instance().lifecycle_.unlock();
        },
        [] {
          instance().on_fork_child();
          instance().writer_busy_.unlock();
          instance().lifecycle_.unlock();
        });
    install_signal_handlers();
  }
  state_.store(State::kOn, std::memory_order_release);
  return PM_OK;
}

void Recorder::stop() {
  std::lock_guard lock(lifecycle_);
  stop_locked();
}

void Recorder::stop_locked() {
  if (state_.load(std::memory_order_relaxed) != State::kOn) return;
  state_.store(State::kStopped, std::memory_order_release);
  stop_requested_.store(true, std::memory_order_release);
  wake_writer();
  ::pthread_join(writer_, nullptr);
  log_.reset();
  // wake_fd_ stays open for the life of the process: a thread that saw the recorder on just
  // before this may still wake the writer, and a write nobody reads is harmless, whereas a
  // closed (and reused) descriptor number is not.
}

void Recorder::on_fork_child() {
  // Only this thread survives: the writer is gone and the buffers hold the parent's events,
  // which the parent writes. start_locked() empties them when the child first records.
  if (state_.load(std::memory_order_relaxed) == State::kOn) {
    state_.store(State::kForkPending, std::memory_order_relaxed);
  }
}

void Recorder::reset_slots() {
  for (uint32_t i = 0; i < slot_count_; ++i) {
    Slot& slot = slots_[i];
    slot.state.store(kFree, std::memory_order_relaxed);
    slot.ring.reset();
    slot.dropped.store(0, std::memory_order_relaxed);
    slot.wait_timeouts.store(0, std::memory_order_relaxed);
    slot.wait_gave_up = false;
    slot.announced = false;
    slot.dropped_reported = 0;
    slot.wait_timeouts_reported = 0;
  }
  no_slot_drops_.store(0, std::memory_order_relaxed);
  no_slot_reported_ = 0;
  next_thread_index_.store(1, std::memory_order_relaxed);
}

// ----------------------------------------------------------------------------------------------
// Recording path

Recorder::Slot* Recorder::bind_thread() {
  const uint64_t generation = generation_.load(std::memory_order_relaxed);
  if (t_generation_ == generation) [[likely]] {
    return t_slot_;
  }
  if (!t_exiting_) {
    static thread_local ThreadExit exit_hook;  // constructed once per thread: registers the release
  }
  t_generation_ = generation;
  t_slot_ = claim_slot();
  return t_slot_;
}

Recorder::Slot* Recorder::claim_slot() {
  for (uint32_t i = 0; i < slot_count_; ++i) {
    Slot& slot = slots_[i];
    uint32_t expected = kFree;
    if (slot.state.compare_exchange_strong(expected, kClaiming, std::memory_order_acquire)) {
      slot.index = next_thread_index_.fetch_add(1, std::memory_order_relaxed);
      slot.tid = static_cast<uint32_t>(::syscall(SYS_gettid));
      slot.name[0] = '\0';
      ::pthread_getname_np(::pthread_self(), slot.name, sizeof slot.name);
      slot.state.store(kActive, std::memory_order_release);
      return &slot;
    }
  }
  return nullptr;
}

int Recorder::record(uint32_t kind, const void* event) {
  if (state_.load(std::memory_order_acquire) != State::kOn) [[unlikely]] {
    if (const int status = ensure_running(); status != PM_OK) return PM_INACTIVE;
  }
  const EventKind& event_kind_info = event_kind(kind);
  if (event_kind_info.fields == nullptr || event == nullptr) return PM_BAD_KIND;
  Slot* slot = bind_thread();
  if (slot == nullptr) [[unlikely]] {
    no_slot_drops_.fetch_add(1, std::memory_order_relaxed);
    return PM_DROPPED;
  }
  if (!slot->ring.push(kind, event, event_kind_info.struct_size)) [[unlikely]] {
    return record_when_full(*slot, kind, event, event_kind_info.struct_size);
  }
  if (slot->wait_gave_up) [[unlikely]]
    slot->wait_gave_up = false;  // the writer moves again
  if (slot->ring.used() > slot->ring.capacity() / 2) wake_writer();
  return PM_OK;
}

int Recorder::record_when_full(Slot& slot, uint32_t kind, const void* event, uint32_t size) {
  const auto count = [](std::atomic<uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  };
  wake_writer();
  // The writer itself never records; the check keeps it from waiting on itself should that change.
  if (!t_waits_ || ::pthread_equal(::pthread_self(), writer_)) {
    count(slot.dropped);
    return PM_DROPPED;
  }
  if (!slot.wait_gave_up) {
    for (uint64_t waited_us = 0; waited_us < kWaitForRoomMicros && active(); waited_us += kWaitPollMicros) {
      sleep_us(kWaitPollMicros);
      if (slot.ring.push(kind, event, size)) return PM_OK;
      wake_writer();
    }
    // One long wait, not one per event: until an event fits again this thread drops at once.
    slot.wait_gave_up = true;
  }
  count(slot.wait_timeouts);
  return PM_DROPPED;
}

bool Recorder::set_thread_waits(bool waits) {
  return std::exchange(t_waits_, waits);
}

void Recorder::wake_writer() {
  // One eventfd write per fill-up, not per event.
  if (wake_pending_.load(std::memory_order_relaxed) ||
      wake_pending_.exchange(true, std::memory_order_relaxed)) {
    return;
  }
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

uint64_t Recorder::now() const {
  return log_time(realtime_ns());
}

uint64_t Recorder::log_time(uint64_t realtime) const {
  return realtime > base_realtime_ns_ ? realtime - base_realtime_ns_ : 0;
}

uint32_t Recorder::flush_interval_ms() const {
  return config_.flush_interval_ms;
}

uint32_t Recorder::thread_index() {
  if (ensure_running() != PM_OK) return 0;
  const Slot* slot = bind_thread();
  return slot != nullptr ? slot->index : 0;
}

const char* Recorder::session_dir() const {
  return active() ? config_.session_dir.c_str() : "";
}
const char* Recorder::log_path() const {
  return active() && log_ ? log_->path().c_str() : "";
}

int Recorder::flush(uint32_t timeout_ms) {
  if (!active()) return PM_INACTIVE;
  const uint64_t wanted = flush_requested_.fetch_add(1, std::memory_order_acq_rel) + 1;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
  for (uint64_t waited_us = 0; flush_done_.load(std::memory_order_acquire) < wanted;
       waited_us += kFlushPollMicros) {
    if (waited_us >= uint64_t{timeout_ms} * 1000 || !active()) return PM_INACTIVE;
    sleep_us(kFlushPollMicros);
  }
  return PM_OK;
}

void Recorder::flush_from_signal() {
  // Only async-signal-safe calls from here on: atomics, write, nanosleep.
  if (!active() || ::pthread_equal(::pthread_self(), writer_)) return;
  flush(kSignalFlushTimeoutMs);
}

// ----------------------------------------------------------------------------------------------
// Writer thread

void* Recorder::writer_entry(void* self) {
  ::pthread_setname_np(::pthread_self(), "profilemate-wr");
  auto* recorder = static_cast<Recorder*>(self);
  recorder->writer_running_.store(true, std::memory_order_release);
  recorder->writer_running_.notify_one();
  recorder->writer_main();
  return nullptr;
}

void Recorder::writer_main() {
  // Waking twice per interval keeps every record's wait for the file under the interval.
  const int period_ms = static_cast<int>(config_.flush_interval_ms / 2);
  while (!stop_requested_.load(std::memory_order_acquire)) {
    pollfd wake{wake_fd_.get(), POLLIN, 0};
    ::poll(&wake, 1, period_ms);
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(wake_fd_.get(), &count, sizeof count);
    wake_pending_.store(false, std::memory_order_relaxed);
    const std::lock_guard busy(writer_busy_);
    const uint64_t requested = flush_requested_.load(std::memory_order_acquire);
    drain();
    log_->write_out();
    flush_done_.store(requested, std::memory_order_release);
  }
  drain();
  write_clock_sync();
  log_->write_out();
  flush_done_.store(flush_requested_.load(std::memory_order_acquire), std::memory_order_release);
}

void Recorder::drain() {
  LogFile& log = *log_;
  for (uint32_t i = 0; i < slot_count_; ++i) {
    Slot& slot = slots_[i];
    const uint32_t state = slot.state.load(std::memory_order_acquire);
    if (state != kActive && state != kRetired) continue;
    if (!slot.announced) {
      profilemate_ThreadInfo info = profilemate_ThreadInfo_init_zero;
      info.thread = slot.index;
      info.tid = slot.tid;
      copy_utf8(info.name, sizeof info.name, slot.name);
      log.append(profilemate_Record_thread_info_tag, &info);
      slot.announced = true;
    }
    slot.ring.consume([&log](uint32_t kind, const void* payload, uint32_t) { log.append(kind, payload); });
    report_dropped(slot.index, profilemate_DroppedRecords_Reason_BUFFER_FULL, slot.dropped,
                   slot.dropped_reported);
    report_dropped(slot.index, profilemate_DroppedRecords_Reason_WAIT_TIMEOUT, slot.wait_timeouts,
                   slot.wait_timeouts_reported);
    if (state == kRetired && slot.ring.empty()) {
      slot.announced = false;
      slot.dropped_reported = 0;
      slot.wait_timeouts_reported = 0;
      slot.dropped.store(0, std::memory_order_relaxed);
      slot.wait_timeouts.store(0, std::memory_order_relaxed);
      slot.wait_gave_up = false;
      slot.state.store(kFree, std::memory_order_release);
    }
  }
  report_dropped(0, profilemate_DroppedRecords_Reason_NO_THREAD_BUFFER, no_slot_drops_, no_slot_reported_);
}

void Recorder::report_dropped(uint32_t thread, int reason, const std::atomic<uint64_t>& counter,
                              uint64_t& reported) {
  const uint64_t total = counter.load(std::memory_order_relaxed);
  if (total == reported) return;
  write_dropped(thread, reason, total);
  reported = total;
}

void Recorder::write_dropped(uint32_t thread, int reason, uint64_t total) {
  profilemate_DroppedRecords dropped = profilemate_DroppedRecords_init_zero;
  dropped.t_ns = now();
  dropped.thread = thread;
  dropped.reason = static_cast<profilemate_DroppedRecords_Reason>(reason);
  dropped.dropped = total;
  log_->append(profilemate_Record_dropped_records_tag, &dropped);
}

void Recorder::write_header() {
  // Large (the command line): kept off the stack of whichever thread starts the recorder.
  static profilemate_Header header;
  header = profilemate_Header{};
  header.schema_version = profilemate_Schema_SCHEMA_VERSION;
  copy_utf8(header.tool_version, sizeof header.tool_version, PROFILEMATE_VERSION);
  copy_utf8(header.session_id, sizeof header.session_id, session_id_);
  header.pid = static_cast<uint32_t>(::getpid());
  header.ppid = static_cast<uint32_t>(::getppid());
  copy_utf8(header.host, sizeof header.host, host_name());
  copy_utf8(header.command_line, sizeof header.command_line, command_line());
  header.start_realtime_ns = base_realtime_ns_;
  header.start_monotonic_ns = base_monotonic_ns_;
  header.flush_interval_ms = config_.flush_interval_ms;
  header.buffer_budget_bytes = config_.budget_bytes;
  if (!config_.process_role.empty()) {
    header.has_info = true;
    copy_utf8(header.info.process_role, sizeof header.info.process_role, config_.process_role);
  }
  log_->write_header(header);
}

void Recorder::write_clock_sync() {
  profilemate_ClockSync sync = profilemate_ClockSync_init_zero;
  sync.realtime_ns = realtime_ns();
  sync.monotonic_ns = monotonic_ns();
  sync.t_ns = log_time(sync.realtime_ns);
  log_->append(profilemate_Record_clock_sync_tag, &sync);
}

}  // namespace profilemate::recorder
