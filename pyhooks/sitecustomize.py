"""Put this directory on PYTHONPATH: every Python process (vLLM's spawned engine core and workers
included, which inherit the environment) installs ProfileMate's hooks at start-up when
activation says so, at no cost otherwise. A sitecustomize that ours shadows (Debian's, a
virtual environment's) still runs, after ours."""

import os
import sys


def _install_profilemate() -> None:
    try:
        import profilemate

        profilemate.install()
    except Exception as error:  # noqa: BLE001 - the application must start whatever happens here
        print(f"[ProfileMate] hooks not installed: {type(error).__name__}: {error}", file=sys.stderr)


def _run_shadowed_sitecustomize() -> None:
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    later = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", later)
    if spec is None or spec.loader is None or spec.origin == os.path.abspath(__file__):
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


_install_profilemate()
_run_shadowed_sitecustomize()
