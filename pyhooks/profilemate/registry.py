"""The declarative patch registry: what to wrap, where it lived in older vLLM, and how to check it.

A target names a method by module and qualified name, lists older locations to try in order,
and the parameters its signature must have. A target that is missing or whose signature does not
match is skipped with a reason, never fatal.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Wrapper = Callable[[Callable[..., Any]], Callable[..., Any]]
_ORIGINAL = "__profilemate_original__"


@dataclass(frozen=True)
class PatchTarget:
    component: str  # as the predecessor named it: "Scheduler", "KVCacheManager", ...
    module: str
    qualname: str  # "Class.method"
    wrap: Wrapper
    alternates: tuple[tuple[str, str], ...] = ()  # (module, qualname) of older vLLM, tried in order
    required_params: tuple[str, ...] = ()  # the signature probe
    fallback: str = ""  # what covers for this target where it is missing, said with the reason

    def locations(self) -> tuple[tuple[str, str], ...]:
        return ((self.module, self.qualname), *self.alternates)

    def modules(self) -> set[str]:
        return {module for module, _ in self.locations()}


@dataclass
class PatchResult:
    target: PatchTarget
    applied: bool
    location: str = ""  # module:qualname that matched
    reason: str = ""


@dataclass
class _Applied:
    owner: Any
    name: str
    original: Any


@dataclass
class Registry:
    targets: list[PatchTarget] = field(default_factory=list)
    _applied: dict[str, _Applied] = field(default_factory=dict)  # by component+qualname

    def watched_modules(self) -> set[str]:
        return set().union(*(t.modules() for t in self.targets)) if self.targets else set()

    def apply_ready(self, import_missing: bool = False, executed: str = "") -> list[PatchResult]:
        """Patches every target whose module is imported (or importable, if asked). `executed`
        names a module whose code has just run to its end, though importlib still marks it as
        initialising."""
        results = []
        for target in self.targets:
            key = f"{target.component}:{target.qualname}"
            if key in self._applied:
                continue
            result = self._apply(target, import_missing, executed)
            if result is not None:
                results.append(result)
        return results

    def unpatch(self) -> None:
        """Restores every original (for tests)."""
        for applied in self._applied.values():
            setattr(applied.owner, applied.name, applied.original)
        self._applied.clear()

    def _apply(self, target: PatchTarget, import_missing: bool, executed: str) -> PatchResult | None:
        found = resolve(target, import_missing, executed)
        if not isinstance(found, _Found):
            return found
        if getattr(found.current, _ORIGINAL, None) is not None:
            return None  # already wrapped (e.g. by an earlier install): never twice
        wrapper = target.wrap(found.current)
        functools.update_wrapper(wrapper, found.current)
        setattr(wrapper, _ORIGINAL, found.current)
        setattr(found.owner, found.name, wrapper)
        self._applied[f"{target.component}:{target.qualname}"] = _Applied(found.owner, found.name, found.current)
        return PatchResult(target, True, found.location)


@dataclass
class _Found:
    owner: Any
    name: str
    current: Any
    location: str


def resolve(target: PatchTarget, import_missing: bool, executed: str = "") -> _Found | PatchResult | None:
    """Where the target is in this vLLM (the first location that has it, with a matching signature);
    a PatchResult saying why not; or None when none of its modules is imported yet."""
    reasons = []
    any_module = False
    for module_name, qualname in target.locations():
        module = sys.modules.get(module_name)
        if module is None and import_missing:
            try:
                module = importlib.import_module(module_name)
            except Exception as error:  # noqa: BLE001 - any import failure means "not here"
                reasons.append(f"{module_name}: {type(error).__name__}: {error}")
        if module is None or (module_name != executed and _initializing(module)):
            continue  # not imported, or still executing (vLLM's circular imports): come back later
        any_module = True
        owner_path, _, name = qualname.rpartition(".")
        owner: Any = module
        for part in filter(None, owner_path.split(".")):
            owner = getattr(owner, part, None)
        current = getattr(owner, name, None) if owner is not None else None
        if current is None:
            reasons.append(f"{module_name} has no {qualname}")
            continue
        original = getattr(current, _ORIGINAL, current)
        missing = _missing_params(original, target.required_params)
        if missing:
            reasons.append(f"{module_name}:{qualname} has no parameter(s) {', '.join(missing)}")
            continue
        return _Found(owner, name, current, f"{module_name}:{qualname}")
    if not any_module and not import_missing:
        return None  # not imported yet: the import hook will come back
    reason = "; ".join(reasons) or "module not found"
    return PatchResult(target, False, reason=f"{reason} ({target.fallback})" if target.fallback else reason)


def _initializing(module: Any) -> bool:
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def _missing_params(function: Callable[..., Any], required: tuple[str, ...]) -> list[str]:
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return []
    return [name for name in required if name not in params]
