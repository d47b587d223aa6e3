"""How a subgraph call fails, apart from router/http.py: that module is compiled with mypyc
(router/native.py), and these classes stay plain Python classes so that interpreted code
subclasses them (router/traffic.py `CircuitOpen`) and their class attributes stay class
attributes."""

from __future__ import annotations


class SubgraphUnavailable(Exception):
    """The subgraph did not answer with a GraphQL response (down, slow, or broken)."""

    # Whether sending the request again may help (not after a timeout: its budget is spent).
    retryable = True


class SubgraphTimeout(SubgraphUnavailable):
    retryable = False
