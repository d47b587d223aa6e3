"""Federated subscriptions (docs/realtime.md).

A subscription is planned like a query (router/planner): its one root field is the root
fetch, sent to the subgraph that owns it over `graphql-transport-ws` (upstream.py); every
event that fetch yields is the root data of the rest of the plan, executed like a query
(entity fetches, `@requires`, authorization) and sent to the client (stream.py, where
`Streams` also caps them per client and ends them on token expiry, reload and shutdown).
Clients subscribe over WebSocket (websocket.py), SSE or Apollo's multipart HTTP (http.py).
"""
