"""The core of kyzel-tui: events, the session tree, the store, file formats, models and kernels.

Nothing here imports Textual: the UI is one client of the core, a test or a script is another.
"""
