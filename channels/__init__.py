"""Adapters that turn each order source's native records into one normalised shape."""
