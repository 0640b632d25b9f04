"""Retrieve: hybrid dense + keyword search over one index snapshot, with article lookup."""
