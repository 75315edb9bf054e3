"""Headless subcommands of `main.py` (no Qt imported here)."""
