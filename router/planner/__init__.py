"""Query planning: an operation and the supergraph in, a plan of subgraph fetches out."""
