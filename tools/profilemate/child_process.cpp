#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace profilemate::cli {
namespace {

constexpr std::chrono::seconds kEscalation{10};

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
  if (pipe2(error_pipe, O_CLOEXEC) != 0) return {127, false, false, std::strerror(errno)};
  const pid_t child = fork();
  if (child < 0) {
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    return {127, false, false, std::string("fork: ") + std::strerror(errno)};
  }
  if (child == 0) exec_child(argv, environment, previous, error_pipe[1]);
  setpgid(child, child);  // also here: no race with the first forwarded signal
  close(error_pipe[1]);
  int exec_error = 0;
  const bool exec_failed = read(error_pipe[0], &exec_error, sizeof exec_error) == sizeof exec_error;
  close(error_pipe[0]);

  ChildOutcome outcome;
  if (exec_failed) {
    outcome = {127, false, false, std::string("cannot run ") + argv[0] + ": " + std::strerror(exec_error)};
  }
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> next_stop;
  if (duration) next_stop = Clock::now() + *duration;
  int stop_signal = SIGINT;
  bool child_done = false;
  for (;;) {
    // Reap whatever has exited: the command itself, or an orphan of it.
    for (;;) {
      int status = 0;
      const pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) {
        if (pid < 0 && errno == ECHILD) {
          sigprocmask(SIG_SETMASK, &previous, nullptr);
          return outcome;
        }
        break;
      }
      if (pid == child) {
        child_done = true;
        if (outcome.started) {
          outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
      }
    }
    int timeout_ms = -1;
    if (next_stop) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*next_stop - Clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(left.count(), 0));
    }
    pollfd poll_fd{signal_fd.fd(), POLLIN, 0};
    const int ready = poll(&poll_fd, 1, timeout_ms);
    if (ready == 0 && next_stop) {  // the time limit, then its escalation
      kill(-child, stop_signal);
      if (!child_done) outcome.stopped = true;
      if (stop_signal == SIGKILL) {
        next_stop.reset();
      } else {
        stop_signal = stop_signal == SIGINT ? SIGTERM : SIGKILL;
        next_stop = Clock::now() + kEscalation;
      }
      continue;
    }
    signalfd_siginfo info{};
    if (ready > 0 && read(signal_fd.fd(), &info, sizeof info) == sizeof info && info.ssi_signo != SIGCHLD) {
      kill(-child, static_cast<int>(info.ssi_signo));  // the user's signal goes to the whole command
    }
  }
}

}  // namespace profilemate::cli
