"""Coursegraph's Apollo Federation v2 router: load a supergraph, plan, execute, serve."""

from router import native

# Before any compiled module is imported: use them only when built from the current source.
native.install()
