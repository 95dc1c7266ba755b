"""Stand-in vLLM package for ProfileMate's tests: names and signatures only, no vLLM code."""

__version__ = "9.9.9+standin-moved"
