"""Operation and result limits of every subgraph, and the object counter the router's
response cap shares.

The subgraph limits apply to every subgraph and every caller (defence in depth behind the
router's demand control). The router admits client operations up to depth 15, 30 aliases
and 2,000 tokens (router.yaml `limits`); its subgraph queries add one level (`_entities`),
one alias per entity fetch merged into a batch and its own aliases for conflicting fields.
Measured for every operation in clients/operations/ and the benchmark's TestQuery
(tests/security/test_subgraph_limits.py plans them all): at most depth 8, 3 aliases and
105 tokens. These limits leave that a wide margin and still refuse what no legitimate
caller sends.
"""

from __future__ import annotations

from typing import Any, Final

# The static cost (coursegraph/cost.py) a subgraph accepts before executing, as the router's
# default limits.max_cost; lists without @listSize are assumed to hold DEFAULT_LIST_SIZE.
MAX_COST: Final = 50_000
DEFAULT_LIST_SIZE: Final = 10
MAX_DEPTH: Final = 20
MAX_ALIASES: Final = 100
MAX_TOKENS: Final = 10_000
# Objects (JSON objects, at any depth) in one subgraph result. The router's cap on a whole
# response is its limits.max_response_objects (the same 50,000 by default).
MAX_RESULT_OBJECTS: Final = 50_000


def count_objects(value: Any, limit: int | None = None) -> int:
    """JSON objects in `value` (a list or object, at any depth, `value` itself included
    when it is one); counting stops once past `limit`."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            count += 1
            if limit is not None and count > limit:
                break
            children: Any = item.values()
        else:
            children = item
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append(child)
    return count
