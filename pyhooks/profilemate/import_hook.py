"""Patches vLLM modules as they are imported, and the ones imported before we were installed.

A meta path finder that only watches the registry's modules: it asks the other finders for the
real spec and wraps the loader's exec_module, so patches apply right after the module's code ran.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, after_exec: Callable[[str], None]) -> None:
        self._loader = loader
        self._after_exec = after_exec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._after_exec(module.__name__)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class PatchingFinder(importlib.abc.MetaPathFinder):
    def __init__(self, watched: set[str], after_exec: Callable[[str], None]) -> None:
        self._watched = watched
        self._after_exec = after_exec

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self._watched:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, self._after_exec)
                return spec
        return None


def install(watched: set[str], after_exec: Callable[[str], None]) -> PatchingFinder:
    finder = PatchingFinder(watched, after_exec)
    sys.meta_path.insert(0, finder)
    return finder


def uninstall(finder: PatchingFinder) -> None:
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
