"""Adapters to the outside services orderbot talks to over HTTP (WeCom)."""
