"""Tracking providers: subscribing waybills and reading the scans they push back."""
