"""Widgets of the main screen, grouped by the area they live in."""
