"""Put this directory on PYTHONPATH: every Python process (vLLM's spawned engine core and workers
included, which inherit the environment) installs ProfileMate's hooks at start-up when
activation says so, at no cost otherwise. A sitecustomize that ours shadows (Debian's, a
virtual environment's) still runs, after ours.

Several copies of this file may be on the path (`profilemate profile` prepends the build tree's
to a PYTHONPATH that already names an installed one): the first installs the hooks and runs the
first foreign sitecustomize after all of them; the other copies are never executed."""

import os
import sys

# Present in every version of this file, so that any copy recognises the others without running them.
_MARKER = "def _run_shadowed_sitecustomize"
_GUARD = "_profilemate_sitecustomize_ran"


def _install_profilemate() -> None:
    try:
        import profilemate

        profilemate.install()
    except Exception as error:  # noqa: BLE001 - the application must start whatever happens here
        print(f"[ProfileMate] hooks not installed: {type(error).__name__}: {error}", file=sys.stderr)


def _is_profilemate_copy(origin: str) -> bool:
    try:
        with open(origin, encoding="utf-8", errors="replace") as source:
            return _MARKER in source.read()
    except OSError:
        return False


def _run_shadowed_sitecustomize() -> None:
    import importlib.machinery
    import importlib.util

    for entry in sys.path:
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", [entry or os.curdir])
        if spec is None or spec.loader is None or spec.origin is None:
            continue
        if spec.origin.endswith(".py") and _is_profilemate_copy(spec.origin):
            continue  # this one, or another copy of it
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return


# A foreign sitecustomize that chains to the ones it shadows may run one of our copies again.
if not getattr(sys, _GUARD, False):
    setattr(sys, _GUARD, True)
    _install_profilemate()
    _run_shadowed_sitecustomize()
