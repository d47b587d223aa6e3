"""The notifications subgraph: in-app notifications, email and preferences; it consumes
domain events only (no other subgraph calls it)."""
