"""Put this directory on PYTHONPATH: every Python process (vLLM's spawned engine core and workers
included, which inherit the environment) installs ProfileMate's hooks at start-up when
activation says so, at no cost otherwise."""

try:
    import profilemate

    profilemate.install()
except Exception as error:  # noqa: BLE001 - the application must start whatever happens here
    import sys

    print(f"[ProfileMate] hooks not installed: {type(error).__name__}: {error}", file=sys.stderr)
