"""Stand-in vLLM package for ProfileMate's tests: names and signatures only, no vLLM code."""

__version__ = "0.10.1+standin-2025-08"
