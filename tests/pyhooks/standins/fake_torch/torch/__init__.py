"""A stand-in for torch with just what the hooks' GPU timing touches: torch.cuda's events. The
"GPU" completes work only when a test says so, and everything that would wait for it raises,
so a hook that syncs fails its test."""

from . import cuda  # noqa: F401
