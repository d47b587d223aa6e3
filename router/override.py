"""Progressive `@override(label:)`: which labels are on for one request.

A field overridden with a label is resolved by the overriding subgraph while its label
is on and by the overridden one otherwise (`FieldJoin.resolves`). `percent(N)` labels are
on for N % of requests, drawn per request; other labels are on when router.yaml lists
them (`progressive_override.labels`, Apollo Router's `override_labels`). Outside production
a request may fix the decision with `X-Coursegraph-Override-Labels: a, percent(5)`: the
labels it lists are on, every other `percent(N)` off (tests, and trying a migration by
hand). Plans are cached per set of labels on.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from coursegraph.settings import Settings
from router.config import ProgressiveOverrideConfig
from router.supergraph import Supergraph

OVERRIDE_HEADER = "x-coursegraph-override-labels"
_PERCENT = re.compile(r"^percent\((\d{1,2}(?:\.\d{1,8})?|100)\)$")


class OverrideLabels:
    def __init__(
        self,
        supergraph: Supergraph,
        config: ProgressiveOverrideConfig,
        settings: Settings,
        draw: Callable[[], float] = random.random,
    ) -> None:
        labels = supergraph.override_labels
        self.percent: dict[str, float] = {}
        for label in labels:
            match = _PERCENT.match(label)
            if match is not None:
                self.percent[label] = float(match.group(1))
        self.enabled = frozenset(config.labels) & labels
        self.labels = labels
        self.header_allowed = config.request_header and not settings.is_production
        self.draw = draw

    def active(self, header: str | None) -> frozenset[str]:
        """The labels on for a request that sent `header` (X-Coursegraph-Override-Labels)."""
        if not self.labels:
            return frozenset()
        if header is not None and self.header_allowed:
            listed = {part.strip() for part in header.split(",")}
            return self.enabled | (listed & self.labels)
        # draw() is in [0, 1): percent(100) is always on, percent(0) never.
        drawn = {label for label, n in self.percent.items() if self.draw() * 100 < n}
        return self.enabled | drawn
