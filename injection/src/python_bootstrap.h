// The Python hooks installed from the injection library, through the Python C API: when CUDA is
// initialised in a Python process that did not get the hooks at start (no sitecustomize on
// PYTHONPATH, no vLLM plugin), CUDA_INJECTION64_PATH alone is enough. The only file that knows
// Python's C API; its symbols are looked up at run time, so the library links no libpython.
#pragma once

namespace profilemate::injection {

// Makes the profilemate package importable and calls profilemate.install(), which patches the
// vLLM modules already imported and hooks the rest. Does nothing when PROFILEMATE_PYTHON_BOOTSTRAP
// is "0" or no initialised Python runs in this process. Runs no Python code itself (it is called
// inside cuInit, maybe inside torch's lazy CUDA initialisation) and never waits for the GIL: the
// work is handed to the interpreter as a pending call, postponed while torch.cuda's
// initialisation lock is held. Python errors are reported (one "[ProfileMate]" line and a notice)
// and cleared; the application goes on unchanged.
void bootstrap_python_hooks();

}  // namespace profilemate::injection
