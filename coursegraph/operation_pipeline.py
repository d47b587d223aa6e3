"""A subgraph operation's phases as ONE schema extension: parse and validate once per text.

Strawberry runs every extension's hooks through generic machinery (a context manager
built per extension, per phase, per request: ~40 % of the kernel's floor with eight
extensions). The subgraph's limits and effects are therefore run here, in one extension:

- parse and validation: the document of a query text, parsed under the token limit, and
  its verdict under every validation rule (graphql-core's, Strawberry's, the depth and
  alias limits) are kept together per text, so a repeated operation (router-generated
  subgraph operations repeat) neither parses nor validates;
- execution: the per-request extensions' own `on_execute` hooks, entered in their order
  and left in reverse, as Strawberry would run them;
- the phases themselves: `PipelineRunner` calls the pipeline's hooks directly, where
  Strawberry's runner builds an exit stack and a context manager per phase and request.

A text that does not parse is not kept: it is parsed again, and refused again, each time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext


@dataclass(frozen=True, slots=True)
class Prepared:
    document: DocumentNode
    # The validation verdict: no errors, or the errors every request of this text gets.
    errors: list[GraphQLError]


class PreparedOperations:
    """Parsed and validated documents by query text; bounded, shared by a schema's requests."""

    def __init__(
        self,
        max_tokens: int,
        extra_rules: Sequence[type[ASTValidationRule]],
        size: int = 1000,
    ) -> None:
        self.max_tokens = max_tokens
        self.extra_rules = tuple(extra_rules)
        self._size = size
        self._items: OrderedDict[str, Prepared] = OrderedDict()
        # Touched from the event loop only; the lock keeps that true if Strawberry ever
        # runs a phase in a thread.
        self._lock = threading.Lock()

    def get(
        self,
        schema: GraphQLSchema,
        query: str,
        rules: tuple[type[ASTValidationRule], ...],
    ) -> Prepared:
        """The text's document and verdict; a syntax error (or too many tokens) raises
        GraphQLError, as graphql-core's parser does."""
        with self._lock:
            found = self._items.get(query)
            if found is not None:
                self._items.move_to_end(query)
                return found
        document = parse(query, max_tokens=self.max_tokens)
        prepared = Prepared(
            document, validate_document(schema, document, (*rules, *self.extra_rules))
        )
        with self._lock:
            self._items[query] = prepared
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return prepared


class OperationPipeline(SchemaExtension):
    """The one extension of a subgraph schema (see the module doc). `stages`: the
    per-request extensions whose `on_execute` runs around execution, outermost first."""

    def __init__(
        self, prepared: PreparedOperations, stages: Sequence[Callable[[], SchemaExtension]]
    ) -> None:
        self.prepared = prepared
        self.stages = stages
        self._verdict: list[GraphQLError] | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        assert context.query is not None  # Strawberry refuses a missing query before
        prepared = self.prepared.get(
            context.schema._schema, context.query, context.validation_rules
        )
        context.graphql_document = prepared.document
        self._verdict = prepared.errors
        yield

    def on_validate(self) -> Iterator[None]:
        # Set, Strawberry's own validation is skipped: the verdict is the one kept.
        self.execution_context.pre_execution_errors = self._verdict
        yield

    def on_execute(self) -> Iterator[None]:
        hooks: list[Iterator[None]] = []
        for make in self.stages:
            stage = make()
            stage.execution_context = self.execution_context
            # The stages' hooks are plain generators (none is async).
            hook = cast(Iterator[None], stage.on_execute())
            next(hook, None)
            hooks.append(hook)
        yield
        for hook in reversed(hooks):
            next(hook, None)


class _Phase:
    """One phase around a generator hook, for `async with` and `with`: entered up to the
    hook's `yield`, resumed after the phase. On an exception the hook is not resumed
    and the exception propagates, as with contextlib (no hook here catches one)."""

    __slots__ = ("_hook", "_running")

    def __init__(self, hook: Callable[[], Iterator[None]] | None) -> None:
        self._hook = hook
        self._running: Iterator[None] | None = None

    def __enter__(self) -> None:
        if self._hook is not None:
            self._running = self._hook()
            next(self._running)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._running is not None and exc_type is None:
            next(self._running, None)

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


class PipelineRunner(SchemaExtensionsRunner):
    """Strawberry's extension runner for a schema whose one extension is the pipeline."""

    def __init__(self, execution_context: ExecutionContext, pipeline: OperationPipeline) -> None:
        super().__init__(execution_context, [pipeline])
        self.pipeline = pipeline

    # Strawberry types the phases as its own context-manager classes; these behave alike.
    def operation(self) -> Any:
        return _Phase(None)  # the pipeline has no operation hook

    def parsing(self) -> Any:
        return _Phase(self.pipeline.on_parse)

    def validation(self) -> Any:
        return _Phase(self.pipeline.on_validate)

    def executing(self) -> Any:
        return _Phase(self.pipeline.on_execute)
