"""Coursegraph's Apollo Federation v2 router: load a supergraph, plan, execute, serve."""
