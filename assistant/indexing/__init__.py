"""Indexing: versions of the index, built beside the live one and published by one switch."""
