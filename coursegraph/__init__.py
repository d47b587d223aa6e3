"""Coursegraph's shared kernel: settings, data, service auth, identity, federation helpers."""
