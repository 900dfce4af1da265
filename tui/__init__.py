"""slmdeck: a keyboard-driven terminal app for small language models on edge servers."""

__version__ = "0.1.0"
