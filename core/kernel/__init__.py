"""The Jupyter kernel that runs approved code: its runner, set-up, output capture and replay."""
