#include "python_bootstrap.h"

#include <dlfcn.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "notices.h"

namespace profilemate::injection {
namespace {

namespace fs = std::filesystem;

// Where the profilemate package may lie, relative to this library's directory, first match wins:
// the build tree (build/injection -> build/pyhooks), `cmake --install` (lib -> lib/python), a
// layout with the library outside lib/, and the library inside the package directory itself.
constexpr std::array<std::string_view, 4> kHooksDirsBesideLibrary = {"../pyhooks", "python", "../lib/python",
                                                                     ".."};

constexpr const char* kSource = "pyhooks";  // Notice.source: at most 15 characters
constexpr int kPyFileInput = 257;           // Py_file_input: a module's worth of statements
// While torch's CUDA initialisation goes on, the install is asked for again this often, for at
// most this long (an initialisation that never ends leaves the process without hooks).
constexpr std::chrono::milliseconds kRetryInterval{2};
constexpr std::chrono::seconds kRetryLimit{60};

struct PyObject;  // opaque: only pointers pass through here

// The C API functions used, resolved with dlsym(RTLD_DEFAULT): whichever Python the process runs
// provides them; a process without Python has none of them and is left alone.
struct PythonApi {
  int (*IsInitialized)() = nullptr;
  int (*IsFinalizing)() = nullptr;  // optional: Py_IsFinalizing from 3.13, _Py_IsFinalizing before
  int (*AddPendingCall)(int (*)(void*), void*) = nullptr;
  PyObject* (*DictNew)() = nullptr;
  PyObject* (*RunStringFlags)(const char*, int, PyObject*, PyObject*, void*) = nullptr;
  PyObject* (*DictGetItemString)(PyObject*, const char*) = nullptr;  // borrowed reference
  const char* (*UnicodeAsUTF8)(PyObject*) = nullptr;
  void (*ErrClear)() = nullptr;
  void (*DecRef)(PyObject*) = nullptr;
};

template <typename Fn>
bool bind(Fn& fn, const char* name) {
  fn = reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, name));
  return fn != nullptr;
}

std::optional<PythonApi> find_python() {
  PythonApi api;
  const bool complete =
      bind(api.IsInitialized, "Py_IsInitialized") && bind(api.AddPendingCall, "Py_AddPendingCall") &&
      bind(api.DictNew, "PyDict_New") && bind(api.RunStringFlags, "PyRun_StringFlags") &&
      bind(api.DictGetItemString, "PyDict_GetItemString") && bind(api.UnicodeAsUTF8, "PyUnicode_AsUTF8") &&
      bind(api.ErrClear, "PyErr_Clear") && bind(api.DecRef, "Py_DecRef");
  if (!complete) return std::nullopt;
  if (!bind(api.IsFinalizing, "Py_IsFinalizing")) bind(api.IsFinalizing, "_Py_IsFinalizing");
  return api;
}

// PROFILEMATE_PYHOOKS_DIR, else the first directory beside this library that holds the package;
// "" when none does (the package may still be importable, e.g. pip-installed).
std::string hooks_dir() {
  const char* chosen = std::getenv("PROFILEMATE_PYHOOKS_DIR");
  if (chosen != nullptr && *chosen != '\0') return chosen;
  Dl_info info{};
  if (::dladdr(reinterpret_cast<const void*>(&bootstrap_python_hooks), &info) == 0 ||
      info.dli_fname == nullptr) {
    return {};
  }
  std::error_code error;
  fs::path library = fs::canonical(info.dli_fname, error);  // the real file, not a symlink to it
  if (error) library = fs::absolute(info.dli_fname, error);
  for (const std::string_view candidate : kHooksDirsBesideLibrary) {
    const fs::path dir = (library.parent_path() / candidate).lexically_normal();
    if (fs::is_regular_file(dir / "profilemate" / "__init__.py", error)) return dir.string();
  }
  return {};
}

// Run in a fresh dictionary, so that nothing of ours lands in __main__. Every exception stays in
// here; `status` and `detail` tell the C side how it went. The package directory goes on sys.path
// (last, and only when profilemate is not importable already) and comes off again on failure.
// "busy": torch.cuda._lazy_init holds its non-reentrant lock (around cuInit and the calls it
// queued), so hooks that touch torch.cuda now would wait for it on the thread that holds it.
constexpr std::string_view kInstallCode = R"(
import os, sys

def torch_cuda_initialising():
    lock = getattr(sys.modules.get("torch.cuda"), "_initialization_lock", None)
    locked = getattr(lock, "locked", None)
    return callable(locked) and bool(locked())

def bootstrap(hooks_dir):
    appended = False
    try:
        if torch_cuda_initialising():
            return "busy", ""
        import importlib.util
        imported_before = "profilemate" in sys.modules
        if importlib.util.find_spec("profilemate") is None:
            if not hooks_dir:
                return "missing", ""
            sys.path.append(hooks_dir)
            appended = True
        import profilemate
        where = os.path.dirname(os.path.dirname(profilemate.__file__))
        if not profilemate.install():
            return "inactive", where
        return ("already" if imported_before else "installed"), where
    except BaseException as error:
        if appended and hooks_dir in sys.path:
            sys.path.remove(hooks_dir)
        return "failed", f"{type(error).__name__}: {error}"

status, detail = bootstrap(os.fsdecode(bytes.fromhex("{HOOKS_DIR_HEX}")))
)";

// The directory as hex digits of its bytes: no quoting, and any byte a path may hold survives.
std::string install_code(const std::string& dir) {
  static constexpr std::string_view kDigits = "0123456789abcdef";
  std::string hex;
  for (const char c : dir) {
    const auto byte = static_cast<unsigned char>(c);
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 0xf];
  }
  std::string code(kInstallCode);
  constexpr std::string_view kPlaceholder = "{HOOKS_DIR_HEX}";
  code.replace(code.find(kPlaceholder), kPlaceholder.size(), hex);
  return code;
}

std::string text_of(const PythonApi& api, PyObject* dict, const char* name) {
  PyObject* value = api.DictGetItemString(dict, name);
  const char* text = value != nullptr ? api.UnicodeAsUTF8(value) : nullptr;
  if (text == nullptr) api.ErrClear();
  return text != nullptr ? text : "";
}

// With the GIL held: runs the install code and says how it went. False when it must be tried
// again later (torch is initialising CUDA); nothing is said then.
bool install_hooks(const PythonApi& api, std::string_view when) {
  const std::unique_ptr<PyObject, void (*)(PyObject*)> globals(api.DictNew(), api.DecRef);
  std::string status;
  std::string detail;
  if (globals != nullptr) {
    const std::unique_ptr<PyObject, void (*)(PyObject*)> result(
        api.RunStringFlags(install_code(hooks_dir()).c_str(), kPyFileInput, globals.get(), globals.get(),
                           nullptr),
        api.DecRef);
    if (result != nullptr) {
      status = text_of(api, globals.get(), "status");
      detail = text_of(api, globals.get(), "detail");
    }
  }
  api.ErrClear();  // whatever went wrong, the application must not see it

  if (status == "busy") return false;
  if (status == "already") return true;  // sitecustomize or the vLLM plugin was first: nothing to say
  if (status == "installed") {
    notice(profilemate_Notice_Severity_INFO,
           "Python hooks installed by the injection library " + std::string(when) + ", from " + detail,
           kSource);
    return true;
  }
  if (status == "inactive") {
    notice(profilemate_Notice_Severity_WARNING,
           "Python hooks not active: profilemate.install() declined in this process (package " + detail + ")",
           kSource);
    return true;
  }
  std::string why = "the bootstrap code could not run in the interpreter";
  if (status == "missing") {
    why =
        "the profilemate package is neither importable nor beside the injection library; set "
        "PROFILEMATE_PYHOOKS_DIR to the directory that holds it";
  } else if (status == "failed") {
    why = detail;
  }
  notice(profilemate_Notice_Severity_DEGRADED,
         "Python hooks not installed: " + why + ". CUDA graph records are not affected.", kSource);
  return true;
}

bool interpreter_running(const PythonApi& api) {
  return api.IsInitialized() != 0 && (api.IsFinalizing == nullptr || api.IsFinalizing() == 0);
}

int install_from_pending_call(void* /*unused*/);

std::atomic<bool> g_install_queued{false};  // a pending call is in the interpreter's queue
std::atomic<bool> g_install_done{false};
std::atomic<bool> g_retrying{false};

// Queues the install (Py_AddPendingCall needs neither the GIL nor a thread state). False when the
// interpreter's queue is full.
bool queue_install(const PythonApi& api) {
  if (g_install_queued.exchange(true)) return true;
  if (api.AddPendingCall(&install_from_pending_call, nullptr) == 0) return true;
  g_install_queued.store(false);
  return false;
}

// While torch initialises CUDA: queues the install again every few milliseconds until it ran,
// from a thread of its own that never touches the interpreter otherwise (a pending call that
// queued itself would run again before the main thread moved on).
void retry_while_torch_initialises(const PythonApi& api) {
  const auto deadline = std::chrono::steady_clock::now() + kRetryLimit;
  for (;;) {
    std::this_thread::sleep_for(kRetryInterval);
    if (g_install_done.load()) return;
    if (!interpreter_running(api)) return;  // exiting: nothing left to hook
    if (std::chrono::steady_clock::now() > deadline) {
      notice(profilemate_Notice_Severity_DEGRADED,
             "Python hooks not installed: torch's CUDA initialisation (torch.cuda._lazy_init) did not end "
             "within " +
                 std::to_string(kRetryLimit.count()) + " s. CUDA graph records are not affected.",
             kSource);
      return;
    }
    queue_install(api);
  }
}

// Py_AddPendingCall's callback: the interpreter runs it on the main thread, GIL held, between
// two bytecodes. It must return 0 with no exception set, whatever happens.
int install_from_pending_call(void* /*unused*/) {
  try {
    const std::optional<PythonApi> api = find_python();
    if (api && interpreter_running(*api)) {  // not at exit: too late then
      if (install_hooks(*api, "as a pending call after cuInit")) {
        g_install_done.store(true);
      } else if (!g_retrying.exchange(true)) {
        std::thread(retry_while_torch_initialises, *api).detach();
      }
    }
  } catch (const std::exception& error) {  // nothing may unwind into the interpreter
    std::fprintf(stderr, "[ProfileMate] Python hooks not installed: %s\n", error.what());
  }
  g_install_queued.store(false);  // last: no second install is queued while this one runs
  return 0;
}

}  // namespace

void bootstrap_python_hooks() {
  const char* enabled = std::getenv("PROFILEMATE_PYTHON_BOOTSTRAP");
  if (enabled != nullptr && std::string_view(enabled) == "0") return;
  try {
    const std::optional<PythonApi> api = find_python();
    if (!api || api->IsInitialized() == 0) return;  // not a Python process, or not one yet
    if (api->IsFinalizing != nullptr && api->IsFinalizing() != 0) return;

    // Never Python code here, even with the GIL held: cuInit may run inside torch's lazy CUDA
    // initialisation, which holds a non-reentrant lock, with the runtime half initialised. The
    // interpreter runs the install on its main thread at its next chance; while torch's lock is
    // held, that chance is taken again later.
    if (!queue_install(*api)) {
      notice(profilemate_Notice_Severity_DEGRADED,
             "Python hooks not installed: the interpreter's queue of pending calls is full", kSource);
    }
  } catch (const std::exception& error) {  // std::bad_alloc: the application goes on without the hooks
    std::fprintf(stderr, "[ProfileMate] Python hooks not installed: %s\n", error.what());
  }
}

}  // namespace profilemate::injection
