"""Datasets from recorded corrections, trainers, adapter registry and evaluation."""
