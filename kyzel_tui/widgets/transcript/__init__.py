"""The transcript: one widget per event on the path, and the turn being generated."""
