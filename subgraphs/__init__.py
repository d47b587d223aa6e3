"""The four subgraphs. None imports another: they talk only over HTTP."""
