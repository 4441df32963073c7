"""Watching a file live: tail -F, replay, the live table and the resumable state."""
