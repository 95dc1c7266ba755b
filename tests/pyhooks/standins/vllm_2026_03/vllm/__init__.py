"""Stand-in vLLM package for ProfileMate's tests: names and signatures only, no vLLM code."""

__version__ = "0.16.0+standin-2026-03"
