#include "python_bootstrap.h"

#include <dlfcn.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

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

struct PyObject;  // opaque: only pointers pass through here

// The C API functions used, resolved with dlsym(RTLD_DEFAULT): whichever Python the process runs
// provides them; a process without Python has none of them and is left alone.
struct PythonApi {
  int (*IsInitialized)() = nullptr;
  int (*IsFinalizing)() = nullptr;  // optional: Py_IsFinalizing from 3.13, _Py_IsFinalizing before
  int (*GILStateCheck)() = nullptr;
  int (*GILStateEnsure)() = nullptr;  // PyGILState_STATE is a C enum: an int
  void (*GILStateRelease)(int) = nullptr;
  int (*AddPendingCall)(int (*)(void*), void*) = nullptr;
  PyObject* (*DictNew)() = nullptr;
  PyObject* (*RunStringFlags)(const char*, int, PyObject*, PyObject*, void*) = nullptr;
  PyObject* (*DictGetItemString)(PyObject*, const char*) = nullptr;  // borrowed reference
  const char* (*UnicodeAsUTF8)(PyObject*) = nullptr;
  PyObject* (*ErrOccurred)() = nullptr;
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
      bind(api.IsInitialized, "Py_IsInitialized") && bind(api.GILStateCheck, "PyGILState_Check") &&
      bind(api.GILStateEnsure, "PyGILState_Ensure") && bind(api.GILStateRelease, "PyGILState_Release") &&
      bind(api.AddPendingCall, "Py_AddPendingCall") && bind(api.DictNew, "PyDict_New") &&
      bind(api.RunStringFlags, "PyRun_StringFlags") && bind(api.DictGetItemString, "PyDict_GetItemString") &&
      bind(api.UnicodeAsUTF8, "PyUnicode_AsUTF8") && bind(api.ErrOccurred, "PyErr_Occurred") &&
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
constexpr std::string_view kInstallCode = R"(
import os, sys

def bootstrap(hooks_dir):
    appended = False
    try:
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

// PyGILState_Ensure/Release as a scope.
class GilState {
 public:
  explicit GilState(const PythonApi& api) : api_(api), state_(api.GILStateEnsure()) {}
  ~GilState() { api_.GILStateRelease(state_); }
  GilState(const GilState&) = delete;
  GilState& operator=(const GilState&) = delete;

 private:
  const PythonApi& api_;
  int state_;
};

std::string text_of(const PythonApi& api, PyObject* dict, const char* name) {
  PyObject* value = api.DictGetItemString(dict, name);
  const char* text = value != nullptr ? api.UnicodeAsUTF8(value) : nullptr;
  if (text == nullptr) api.ErrClear();
  return text != nullptr ? text : "";
}

// With the GIL held: runs the install code and says how it went.
void install_hooks(const PythonApi& api, std::string_view when) {
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

  if (status == "already") return;  // sitecustomize or the vLLM plugin was first: nothing to say
  if (status == "installed") {
    notice(profilemate_Notice_Severity_INFO,
           "Python hooks installed by the injection library " + std::string(when) + ", from " + detail,
           kSource);
    return;
  }
  if (status == "inactive") {
    notice(profilemate_Notice_Severity_WARNING,
           "Python hooks not active: profilemate.install() declined in this process (package " + detail + ")",
           kSource);
    return;
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
}

// Py_AddPendingCall's callback: the interpreter runs it on the main thread, GIL held, between
// two bytecodes. It must return 0 with no exception set, whatever happens.
int install_from_pending_call(void* /*unused*/) {
  try {
    const std::optional<PythonApi> api = find_python();
    if (api && (api->IsFinalizing == nullptr || api->IsFinalizing() == 0)) {  // run at exit: too late
      install_hooks(*api, "as a pending call (the thread initialising CUDA did not hold the GIL)");
    }
  } catch (const std::exception& error) {  // nothing may unwind into the interpreter
    std::fprintf(stderr, "[ProfileMate] Python hooks not installed: %s\n", error.what());
  }
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

    if (api->GILStateCheck() == 1) {
      // The thread initialising CUDA runs Python (torch's lazy init does): install now, so vLLM's
      // next line already runs patched. Ensure/Release only count, the GIL being ours; with an
      // exception pending in this thread, Python code must not run: defer like below.
      const GilState gil(*api);
      if (api->ErrOccurred() == nullptr) {
        install_hooks(*api, "at once (the thread initialising CUDA held the GIL)");
        return;
      }
    }
    // Waiting for the GIL here could deadlock cuInit (its holder may be waiting for this very
    // thread), so the interpreter runs the install on its main thread at its next chance.
    if (api->AddPendingCall(&install_from_pending_call, nullptr) != 0) {
      notice(profilemate_Notice_Severity_DEGRADED,
             "Python hooks not installed: the interpreter's queue of pending calls is full", kSource);
    }
  } catch (const std::exception& error) {  // std::bad_alloc: the application goes on without the hooks
    std::fprintf(stderr, "[ProfileMate] Python hooks not installed: %s\n", error.what());
  }
}

}  // namespace profilemate::injection
