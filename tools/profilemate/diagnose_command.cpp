// `profilemate diagnose`: what would work in this environment, and what to do about what would not.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "cli.h"
#include "install_paths.h"

namespace profilemate::cli {
namespace {

constexpr const char* kDiagnoseHelp = R"(Usage: profilemate diagnose [--python PYTHON] [-o DIR]

Checks, without running anything under the profiler:
  - the injection library: found next to this program, loads, exports InitializeInjection;
  - which CUPTI it would use (PROFILEMATE_CUPTI_LIBRARY, else libcupti.so.13, else .12) and the
    CUDA driver;
  - whether another tool holds the injection slot (CUDA_INJECTION64_PATH, e.g. inside nsys);
  - the Python hooks, run with PYTHON (default: python3 on PATH): whether they import, the vLLM
    version, and every patch target found or missing, and why;
  - whether DIR (default: $VLLM_PROFILING_DIR or /tmp/vllm_profiling) is writable.
Each problem line says what to do. Exit code 0 when nothing is wrong, 4 when something is.

Options:
  --python PYTHON   the interpreter that runs vLLM (e.g. .venv/bin/python)
  -o, --output DIR  the directory sessions will go to
  -h, --help        show this help

Examples:
  profilemate diagnose
  profilemate diagnose --python ~/venvs/vllm/bin/python -o /data/profiles
)";

class Checks {
 public:
  void ok(const std::string& what) { line("ok      ", what); }
  void info(const std::string& what) { line("note    ", what); }
  void problem(const std::string& what, const std::string& remedy) {
    ++problems_;
    line("PROBLEM ", what);
    std::printf("           -> %s\n", remedy.c_str());
  }
  [[nodiscard]] int problems() const { return problems_; }
  [[nodiscard]] int checked() const { return checked_; }

 private:
  void line(const char* verdict, const std::string& what) {
    ++checked_;
    std::printf("  %s %s\n", verdict, what.c_str());
  }
  int problems_ = 0;
  int checked_ = 0;
};

// dlopen's verdict on `name`: "" when it loads (the handle is kept: nothing is unloaded here).
std::string load_error(const std::string& name) {
  if (dlopen(name.c_str(), RTLD_LAZY | RTLD_LOCAL) != nullptr) return {};
  const char* error = dlerror();
  return error != nullptr ? error : "unknown error";
}

void check_injection(Checks& checks, const InstallPaths& paths) {
  std::printf("CUDA side\n");
  if (paths.injection_library.empty()) {
    checks.problem("the injection library is not next to this program (looked in:" + paths.searched + ")",
                   "run the profilemate of a build tree or of an installed tree (cmake --install)");
  } else if (const std::string error = load_error(paths.injection_library); !error.empty()) {
    checks.problem("the injection library does not load: " + error, "check its dependencies with ldd");
  } else if (void* handle = dlopen(paths.injection_library.c_str(), RTLD_LAZY | RTLD_NOLOAD);
             handle == nullptr || dlsym(handle, "InitializeInjection") == nullptr) {
    checks.problem("the injection library does not export InitializeInjection", "rebuild it");
  } else {
    checks.ok("injection library " + paths.injection_library);
  }

  const char* chosen = std::getenv("PROFILEMATE_CUPTI_LIBRARY");
  if (chosen != nullptr && *chosen != '\0') {
    const std::string error = load_error(chosen);
    if (error.empty()) {
      checks.ok(std::string("CUPTI ") + chosen + " (PROFILEMATE_CUPTI_LIBRARY)");
    } else {
      checks.problem("PROFILEMATE_CUPTI_LIBRARY=" + std::string(chosen) + " does not load: " + error,
                     "point it at libcupti.so of the CUDA toolkit, or unset it");
    }
  } else {
    std::string found;
    for (const char* name : {"libcupti.so.13", "libcupti.so.12"}) {
      if (load_error(name).empty()) {
        found = name;
        break;
      }
    }
    if (found.empty()) {
      checks.problem(
          "no CUPTI loads (libcupti.so.13 or .12): graphs are counted without GPU time",
          "add the CUDA toolkit's CUPTI directory (extras/CUPTI/lib64 or lib64) to LD_LIBRARY_PATH, or "
          "set PROFILEMATE_CUPTI_LIBRARY");
    } else {
      checks.ok("CUPTI " + found +
                (found.ends_with("12") ? " (CUDA 12: supported, with fewer graph callbacks)" : ""));
    }
  }

  if (void* cuda = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL); cuda == nullptr) {
    checks.info(
        "no CUDA driver (libcuda.so.1) here: fine for exporting and reading sessions, not for recording "
        "GPUs");
  } else {
    using GetVersion = int (*)(int*);
    int version = 0;
    const auto get = reinterpret_cast<GetVersion>(dlsym(cuda, "cuDriverGetVersion"));
    if (get != nullptr && get(&version) == 0) {
      checks.ok("CUDA driver " + std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10));
    } else {
      checks.ok("CUDA driver libcuda.so.1");
    }
  }

  const char* holder = std::getenv("CUDA_INJECTION64_PATH");
  if (holder != nullptr && *holder != '\0' && holder != paths.injection_library) {
    checks.problem(
        std::string("CUDA_INJECTION64_PATH is taken by ") + holder +
            ": CUPTI allows one subscriber, so ProfileMate's graph GPU times are off in this environment",
        "fine inside nsys (the Python hooks and NVTX still work); otherwise unset it");
  } else {
    checks.ok("the CUDA injection slot (CUDA_INJECTION64_PATH) is free");
  }
}

void check_python(Checks& checks, const InstallPaths& paths, const std::string& python) {
  std::printf("Python side (%s)\n", python.c_str());
  if (paths.python_hooks.empty()) {
    checks.problem("the Python hooks are not next to this program (looked in:" + paths.searched + ")",
                   "run the profilemate of a build tree or of an installed tree (cmake --install)");
    return;
  }
  const char* old_path = std::getenv("PYTHONPATH");
  const std::string pythonpath =
      paths.python_hooks + (old_path != nullptr && *old_path ? ":" + std::string(old_path) : "");
  // The hooks' own diagnose knows the registry: it prints each target, found or missing.
  const std::string command =
      "PYTHONPATH='" + pythonpath + "' VLLM_ENABLE_PROFILING=0 '" + python + "' -m profilemate.diagnose 2>&1";
  std::FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  size_t got = 0;
  while (pipe != nullptr && (got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    output.append(buffer, got);
  const int status = pipe != nullptr ? pclose(pipe) : -1;
  if (status != 0) {
    checks.problem("the Python hooks do not run with " + python + ":\n" + output,
                   "pass the interpreter that runs vLLM with --python");
    return;
  }
  const bool has_vllm = output.find("vLLM: not importable") == std::string::npos;
  std::size_t start = 0;
  while (start < output.size()) {
    const std::size_t end = output.find('\n', start);
    const std::string line = output.substr(start, end - start);
    start = end == std::string::npos ? output.size() : end + 1;
    if (line.starts_with("vLLM: not importable")) {
      checks.problem(line, "pass the interpreter of the environment that has vLLM with --python");
    } else if (line.starts_with("native bridge: does not load")) {
      checks.problem(line, "rebuild the hooks for this Python (3.10 or later)");
    } else if (line.starts_with("vLLM:") || line.starts_with("native bridge")) {
      checks.ok(line);
    } else if (!has_vllm) {
      continue;  // every target is missing when vLLM is: said once above
    } else if (line.find("MISSING") != std::string::npos) {
      checks.info(line.substr(line.find_first_not_of(' ')));
    } else if (line.find(" of ") != std::string::npos && line.ends_with("patch targets found")) {
      if (line.starts_with("0 of")) {
        checks.problem(line,
                       "this vLLM is unlike any the hooks know: report it with the output of this command");
      } else {
        checks.ok(line);
      }
    }
  }
}

void check_output(Checks& checks, const std::string& dir) {
  std::printf("Output\n");
  namespace fs = std::filesystem;
  std::error_code error;
  fs::create_directories(dir, error);
  const std::string probe = dir + "/.profilemate-diagnose-" + std::to_string(getpid());
  std::FILE* file = error ? nullptr : std::fopen(probe.c_str(), "wb");
  if (file == nullptr) {
    checks.problem(dir + " is not writable" + (error ? ": " + error.message() : std::string()),
                   "choose another directory: profilemate profile -o DIR, or VLLM_PROFILING_DIR");
    return;
  }
  std::fclose(file);
  fs::remove(probe, error);
  checks.ok(dir + " is writable");
}

}  // namespace

int run_diagnose(const Args& args) {
  std::string python = "python3";
  const char* profiling_dir = std::getenv("VLLM_PROFILING_DIR");
  std::string output = profiling_dir != nullptr && *profiling_dir ? profiling_dir : "/tmp/vllm_profiling";
  for (size_t i = 0; i < args.size(); ++i) {
    if (is_help(args[i])) {
      std::fputs(kDiagnoseHelp, stdout);
      return kExitOk;
    }
    if (args[i] == "--python" || args[i] == "-o" || args[i] == "--output") {
      if (i + 1 >= args.size()) return usage_error(std::string(args[i]) + " needs a value", "diagnose");
      std::string& target = args[i] == "--python" ? python : output;
      target = args[++i];
    } else {
      return usage_error("unknown argument " + std::string(args[i]), "diagnose");
    }
  }
  std::printf("profilemate %s\n", PROFILEMATE_VERSION);
  Checks checks;
  const InstallPaths paths = find_install_paths();
  check_injection(checks, paths);
  check_python(checks, paths, python);
  check_output(checks, output);
  if (checks.problems() == 0) {
    std::printf("Nothing wrong found (%d checks).\n", checks.checked());
    return kExitOk;
  }
  std::printf("%d problem%s found.\n", checks.problems(), checks.problems() == 1 ? "" : "s");
  return kExitProblem;
}

}  // namespace profilemate::cli
