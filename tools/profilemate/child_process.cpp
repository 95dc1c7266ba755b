#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace profilemate::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::seconds kEscalation{10};
// After the command exits, how long processes it left in its process group are waited for
// (workers finishing their logs), and how long those that left it (setsid: daemons) are.
constexpr std::chrono::seconds kStragglerWait{30};
constexpr std::chrono::seconds kLeftGroupGrace{2};
// While waiting for them: how often the list of them is read again.
constexpr int kRescanMs = 200;
constexpr Clock::time_point kNever = Clock::time_point::max();

// The signals a user or a job controller sends to stop a run; all go to the command instead.
sigset_t forwarded_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  sigaddset(&set, SIGCHLD);
  return set;
}

class SignalFd {
 public:
  explicit SignalFd(const sigset_t& set) : fd_(signalfd(-1, &set, SFD_CLOEXEC)) {}
  ~SignalFd() {
    if (fd_ >= 0) close(fd_);
  }
  SignalFd(const SignalFd&) = delete;
  SignalFd& operator=(const SignalFd&) = delete;
  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_;
};

// This process's living children (orphans come back to it, the subreaper), by whether they are
// still in the command's process group.
struct Children {
  std::vector<pid_t> in_group;
  std::vector<pid_t> left_group;
  [[nodiscard]] bool empty() const { return in_group.empty() && left_group.empty(); }
};

Children living_children(pid_t group) {
  Children children;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return children;
  const pid_t self = getpid();
  while (const dirent* entry = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::ifstream stat_file("/proc/" + std::string(entry->d_name) + "/stat");
    std::string stat;
    std::getline(stat_file, stat);
    // "pid (comm) state ppid pgrp ...": comm may hold anything, so parse after its last ')'.
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 1));
    char state = 0;
    long ppid = 0;
    long pgrp = 0;
    if (!(fields >> state >> ppid >> pgrp) || ppid != self || state == 'Z') continue;
    (pgrp == group ? children.in_group : children.left_group).push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  return children;
}

std::string pid_list(const std::vector<pid_t>& pids) {
  std::string text;
  for (const pid_t pid : pids) text += (text.empty() ? "" : ", ") + std::to_string(pid);
  return text;
}

// Waits for the command and what it leaves behind; passes signals on and stops it when asked.
class Waiter {
 public:
  Waiter(pid_t command, std::optional<std::chrono::seconds> duration, ChildOutcome& outcome)
      : command_(command), outcome_(outcome) {
    if (duration) arm(Clock::now() + *duration, SIGINT);
  }

  // Reaps what has exited; false once nothing is left worth waiting for.
  bool reap();
  // Sleeps until a signal, a child's exit or the next timer.
  void wait_for_event(int signal_fd);

 private:
  void arm(Clock::time_point when, int sig) {
    stop_at_ = when;
    stop_signal_ = sig;
  }
  void on_signal(int sig);
  void on_timer();
  bool keep_waiting_for_others();

  pid_t command_;
  ChildOutcome& outcome_;
  bool command_done_ = false;
  Clock::time_point command_exit_{};
  Clock::time_point stop_at_ = kNever;  // the next step of a stop
  int stop_signal_ = SIGINT;
  int interrupts_ = 0;
  bool said_waiting_ = false;
};

bool Waiter::reap() {
  for (;;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == ECHILD) return false;
    if (pid <= 0) break;
    if (pid != command_) continue;
    command_done_ = true;
    command_exit_ = Clock::now();
    if (outcome_.started) {
      outcome_.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      outcome_.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
  }
  return !command_done_ || keep_waiting_for_others();
}

// Processes the command left behind: those in its group are waited for a while (workers that
// outlive it briefly, finishing their logs), those that left it (daemons) only a short grace.
bool Waiter::keep_waiting_for_others() {
  const Children children = living_children(command_);
  if (children.empty()) return true;  // exited, not reaped yet
  const auto waited = Clock::now() - command_exit_;
  if (!said_waiting_) {
    said_waiting_ = true;
    if (children.in_group.empty()) {
      std::fprintf(
          stderr,
          "profilemate: the command exited; waiting %lld s for pids %s, which left its process group "
          "(daemons)\n",
          static_cast<long long>(kLeftGroupGrace.count()), pid_list(children.left_group).c_str());
    } else {
      std::fprintf(
          stderr,
          "profilemate: the command exited; waiting up to %lld s for the processes it left in its "
          "process group (pids %s). Ctrl-C passes SIGINT on to them, a second Ctrl-C SIGTERM, a third "
          "SIGKILL.\n",
          static_cast<long long>(kStragglerWait.count()), pid_list(children.in_group).c_str());
    }
  }
  if (!children.in_group.empty() && waited < kStragglerWait) return true;
  if (children.in_group.empty() && waited < kLeftGroupGrace) return true;
  std::vector<pid_t> all = children.in_group;
  all.insert(all.end(), children.left_group.begin(), children.left_group.end());
  std::fprintf(stderr,
               "profilemate: not waiting any longer for pids %s (%s): what they record from now on is not in "
               "this export\n",
               pid_list(all).c_str(),
               children.in_group.empty() ? "they left the command's process group, as daemons do"
                                         : "still running after the command's exit");
  return false;
}

void Waiter::wait_for_event(int signal_fd) {
  int timeout_ms = command_done_ ? kRescanMs : -1;
  if (stop_at_ != kNever) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(stop_at_ - Clock::now());
    const int until_stop = static_cast<int>(std::max<int64_t>(left.count(), 0));
    timeout_ms = timeout_ms < 0 ? until_stop : std::min(timeout_ms, until_stop);
  }
  pollfd poll_fd{signal_fd, POLLIN, 0};
  const int ready = poll(&poll_fd, 1, timeout_ms);
  if (ready == 0 && Clock::now() >= stop_at_) on_timer();
  signalfd_siginfo info{};
  if (ready > 0 && read(signal_fd, &info, sizeof info) == sizeof info && info.ssi_signo != SIGCHLD) {
    on_signal(static_cast<int>(info.ssi_signo));
  }
}

// The time limit, or the escalation after a stop: SIGINT, SIGTERM, SIGKILL, kEscalation apart.
void Waiter::on_timer() {
  if (stop_signal_ == SIGINT && !command_done_) outcome_.stopped = true;  // only --duration starts at SIGINT
  kill(-command_, stop_signal_);
  if (stop_signal_ == SIGKILL) {
    stop_at_ = kNever;
  } else {
    arm(Clock::now() + kEscalation, stop_signal_ == SIGINT ? SIGTERM : SIGKILL);
  }
}

// The user's signal goes to the whole command. Ctrl-C leaves the command its own pace (vLLM
// shuts down cleanly); repeated, it escalates. SIGTERM and SIGHUP mean "stop now": the next steps
// (SIGTERM after SIGHUP, then SIGKILL) follow kEscalation apart, whether or not the group is gone.
void Waiter::on_signal(int sig) {
  if (sig == SIGINT && ++interrupts_ > 1) {
    const int next = interrupts_ == 2 ? SIGTERM : SIGKILL;
    std::fprintf(stderr, "profilemate: Ctrl-C again: sending %s to the command's process group%s\n",
                 signal_name(next).c_str(), next == SIGTERM ? " (once more: SIGKILL)" : "");
    kill(-command_, next);
    return;
  }
  kill(-command_, sig);
  if (sig != SIGINT && stop_at_ == kNever)
    arm(Clock::now() + kEscalation, sig == SIGTERM ? SIGKILL : SIGTERM);
}

[[noreturn]] void exec_child(const std::vector<std::string>& argv,
                             const std::map<std::string, std::string>& env, const sigset_t& previous_mask,
                             int error_pipe) {
  setpgid(0, 0);
  sigprocmask(SIG_SETMASK, &previous_mask, nullptr);
  std::vector<std::string> entries;
  entries.reserve(env.size());
  for (const auto& [key, value] : env) entries.emplace_back(key).append("=").append(value);
  std::vector<char*> envp;
  envp.reserve(entries.size() + 1);
  for (std::string& entry : entries) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const auto path = env.find("PATH");
  if (path != env.end()) setenv("PATH", path->second.c_str(), 1);  // execvpe searches the caller's PATH
  execvpe(args[0], args.data(), envp.data());
  const int error = errno;
  (void)!write(error_pipe, &error, sizeof error);
  _exit(127);
}

}  // namespace

std::string signal_name(int sig) {
  const char* abbreviation = sigabbrev_np(sig);
  return abbreviation != nullptr ? "SIG" + std::string(abbreviation) : "signal " + std::to_string(sig);
}

ChildOutcome run_child(const std::vector<std::string>& argv,
                       const std::map<std::string, std::string>& environment,
                       std::optional<std::chrono::seconds> duration) {
  // Orphaned grandchildren (vLLM's engine core and workers) come back to us: we wait for them.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  const sigset_t signals = forwarded_signals();
  sigset_t previous;
  sigprocmask(SIG_BLOCK, &signals, &previous);
  const SignalFd signal_fd(signals);

  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) return {127, 0, false, false, std::strerror(errno)};
  const pid_t child = fork();
  if (child < 0) {
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    return {127, 0, false, false, std::string("fork: ") + std::strerror(errno)};
  }
  if (child == 0) exec_child(argv, environment, previous, error_pipe[1]);
  setpgid(child, child);  // also here: no race with the first forwarded signal
  close(error_pipe[1]);
  int exec_error = 0;
  const bool exec_failed = read(error_pipe[0], &exec_error, sizeof exec_error) == sizeof exec_error;
  close(error_pipe[0]);

  ChildOutcome outcome;
  if (exec_failed) {
    outcome = {127, 0, false, false, std::string("cannot run ") + argv[0] + ": " + std::strerror(exec_error)};
  }
  Waiter waiter(child, duration, outcome);
  while (waiter.reap()) waiter.wait_for_event(signal_fd.fd());
  sigprocmask(SIG_SETMASK, &previous, nullptr);
  return outcome;
}

}  // namespace profilemate::cli
