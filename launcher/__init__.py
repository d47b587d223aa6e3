"""The composition root above the kernel, the router and the subgraphs: the `coursegraph`
command, the dev stack, demo data and the registry that finds subgraphs by name."""
