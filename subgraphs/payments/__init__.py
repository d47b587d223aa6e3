"""The payments subgraph: payments, provider adapters, webhooks, refunds."""
