"""Threadline: a session-first observability backend for LLM applications and agents."""

__version__ = "0.1.0"
