"""Shared basics with no knowledge of networks: atomic files, locks, shutdown signals."""
