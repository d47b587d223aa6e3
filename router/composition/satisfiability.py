"""A small satisfiability check: fields no query plan can reach.

Apollo's composition explores every query path; this checks the common, simple failure:
a subgraph returns an object type but lacks one of its fields, and no subgraph that has
the field can be reached from there through a resolvable `@key` whose fields the first
subgraph can supply. (A `@shareable` value type defined with fewer fields in one subgraph
is the classic case.) Interfaces and `@requires` chains are not explored.
"""

from __future__ import annotations

from collections.abc import Sequence

from router.composition import errors
from router.composition.definitions import Subgraph, TypeDef, named_type
from router.composition.errors import CompositionError
from router.composition.fieldset import FieldSetSyntaxError, parse_field_set
from router.composition.model import MergedField, MergedSchema, MergedType


def check_satisfiability(
    schema: MergedSchema, subgraphs: Sequence[Subgraph]
) -> list[CompositionError]:
    by_enum = {g.enum: s for g, s in zip(schema.graphs, subgraphs, strict=True)}
    found: list[CompositionError] = []
    reported: set[tuple[str, str]] = set()
    for parent in schema.types.values():
        if parent.kind != "object" or parent.applied.inaccessible:
            continue
        for position in parent.fields.values():
            target = schema.types.get(named_type(position.type))
            if (
                target is None
                or target.kind not in ("object", "interface")
                or position.applied.inaccessible
            ):
                continue
            graphs = [
                g for g in _resolving_graphs(parent, position) if target.name in by_enum[g].types
            ]
            for fname, fdef in target.fields.items():
                if fdef.applied.inaccessible or (target.name, fname) in reported:
                    continue
                if _through_interface_object(schema, target, fname):
                    continue  # an @interfaceObject may provide it: not explored here
                # A planner may take the position from any subgraph resolving it (a
                # shared root field, for one), so one good subgraph is enough.
                if not graphs or any(
                    _satisfiable(schema, parent, position, target, fname, g, by_enum)
                    for g in graphs
                ):
                    continue
                reported.add((target.name, fname))
                names = tuple(by_enum[g].name for g in graphs)
                found.append(
                    CompositionError(
                        errors.SATISFIABILITY_ERROR,
                        f'The following supergraph API query cannot be satisfied: "'
                        f'{parent.name}.{position.name}" returns "{target.name}" from '
                        + ", ".join(f'"{n}"' for n in names)
                        + f', which cannot resolve field "{target.name}.{fname}", and no '
                        "subgraph resolving it can be reached from there through a @key.",
                        names,
                        f"{target.name}.{fname}",
                    )
                )
    return found


def check_contexts_reachable(schema: MergedSchema) -> list[CompositionError]:
    """A field with a contextual argument must be reachable only below a type setting that
    context: a query path from a root to it that passes no such type leaves the argument
    without a value (Apollo: "could not find a match for required context")."""
    found: list[CompositionError] = []
    setters: dict[str, set[str]] = {}
    for merged in schema.types.values():
        for context in merged.contexts:
            names = setters.setdefault(context, set())
            names.add(merged.name)
            # A context on an interface or union is set on each of its object types too.
            names.update(
                t.name
                for t in schema.types.values()
                if merged.name in t.interfaces or t.name in merged.members
            )
    for parent in schema.types.values():
        for fdef in parent.fields.values():
            contexts = {c for j in fdef.joins or () for c, _, _, _ in j.context_arguments}
            for context in sorted(contexts):
                path = _path_avoiding(schema, parent.name, setters.get(context, set()))
                if path is None:
                    continue
                found.append(
                    CompositionError(
                        errors.SATISFIABILITY_ERROR,
                        f'The following supergraph API query cannot be satisfied: "{path}" '
                        f'reaches "{parent.name}.{fdef.name}" without passing a type that sets '
                        f'context "{context}": could not find a match for required context for '
                        f'field "{parent.name}.{fdef.name}".',
                        tuple(g.name for g in schema.graphs if g.enum in parent.graphs),
                        f"{parent.name}.{fdef.name}",
                    )
                )
    return found


def _path_avoiding(schema: MergedSchema, target: str, setters: set[str]) -> str | None:
    """A field path from a root type to `target` that enters no type of `setters`."""
    queue: list[tuple[str, str]] = [(root, "") for root in schema.roots.values()]
    seen = {root for root, _ in queue}
    while queue:
        name, path = queue.pop(0)
        if name in setters:
            continue
        if name == target:
            return path or name
        merged = schema.types[name]
        steps = [
            (named_type(f.type), f"{path}.{f.name}" if path else f"{name}.{f.name}")
            for f in merged.fields.values()
            if not f.applied.inaccessible
        ]
        steps += [(m, path) for m in merged.members]
        steps += [(t.name, path) for t in schema.types.values() if name in t.interfaces]
        for child, where in steps:
            if child in schema.types and child not in seen:
                seen.add(child)
                queue.append((child, where))
    return None


def _through_interface_object(schema: MergedSchema, target: MergedType, fname: str) -> bool:
    fdef = target.fields[fname]
    if fdef.joins is not None and any(j.graph is None for j in fdef.joins):
        return True
    for iface in target.interfaces:
        idef = schema.types.get(iface)
        if (
            idef is not None
            and fname in idef.fields
            and any(j.interface_object for j in idef.join_types)
        ):
            return True
    return False


def check_runtime_types(
    schema: MergedSchema, subgraphs: Sequence[Subgraph]
) -> list[CompositionError]:
    """A field shared by several subgraphs that returns an interface or union must have at
    least one possible runtime type in common across them (Apollo's
    SHAREABLE_HAS_MISMATCHED_RUNTIME_TYPES), or the subgraphs cannot agree on an answer."""
    by_enum = {g.enum: s for g, s in zip(schema.graphs, subgraphs, strict=True)}
    found: list[CompositionError] = []
    for parent in schema.types.values():
        if parent.kind != "object":
            continue
        for fdef in parent.fields.values():
            target = schema.types.get(named_type(fdef.type))
            if target is None or target.kind not in ("interface", "union"):
                continue
            graphs = _resolving_graphs(parent, fdef)
            if len(graphs) < 2:
                continue
            known = {g: _runtime_types(by_enum[g], parent.name, fdef.name) for g in graphs}
            runtime = {g: types for g, types in known.items() if types is not None}
            if len(runtime) < len(known) or set.intersection(*runtime.values()):
                continue
            shown = "; ".join(
                f'in "{by_enum[g].name}": ' + (", ".join(sorted(types)) or "none")
                for g, types in runtime.items()
            )
            found.append(
                CompositionError(
                    errors.SHAREABLE_HAS_MISMATCHED_RUNTIME_TYPES,
                    f'Shared field "{parent.name}.{fdef.name}" return type "{target.name}" has a '
                    f"non-intersecting set of possible runtime types across subgraphs ({shown}).",
                    tuple(by_enum[g].name for g in graphs),
                    f"{parent.name}.{fdef.name}",
                )
            )
    return found


def _runtime_types(subgraph: Subgraph, parent: str, fname: str) -> set[str] | None:
    """Object types the subgraph's own version of the field may return; None when that
    cannot be told here (the field or its type is missing, or is an @interfaceObject)."""
    owner = subgraph.types.get(parent)
    fdef = owner.fields.get(fname) if owner else None
    tdef = subgraph.types.get(fdef.type_name) if fdef else None
    if tdef is None or tdef.interface_object:
        return None
    if tdef.kind == "object":
        return {tdef.name}
    if tdef.kind == "union":
        return set(tdef.members)
    return {
        name
        for name, other in subgraph.types.items()
        if other.kind == "object" and tdef.name in other.interfaces
    }


def _satisfiable(
    schema: MergedSchema,
    parent: MergedType,
    position: MergedField,
    target: MergedType,
    fname: str,
    graph: str,
    by_enum: dict[str, Subgraph],
) -> bool:
    subgraph = by_enum[graph]
    local = subgraph.types[target.name]
    provided = _top_level(_provides(subgraph, parent.name, position.name))
    if _available(local, fname, provided, graph, target.fields[fname]):
        return True
    if _reachable(target, fname, graph, by_enum):
        return True
    if target.kind != "interface" or local.interface_object:
        return False
    # An interface field this subgraph lacks can still be had per implementation: the
    # planner asks for each concrete type the subgraph may return and jumps from there.
    for name, impl in subgraph.types.items():
        if impl.kind != "object" or target.name not in impl.interfaces:
            continue
        merged = schema.types.get(name)
        if merged is None or fname not in merged.fields:
            return False
        if not (
            _available(impl, fname, provided, graph, merged.fields[fname])
            or _reachable(merged, fname, graph, by_enum)
        ):
            return False
    return True


def _resolving_graphs(parent: MergedType, fdef: MergedField) -> list[str]:
    if fdef.joins is None:
        return parent.graphs
    return [
        j.graph
        for j in fdef.joins
        if j.graph is not None and not j.external and not j.used_overridden
    ]


def _provides(subgraph: Subgraph, type_name: str, fname: str) -> str | None:
    tdef = subgraph.types.get(type_name)
    fdef = tdef.fields.get(fname) if tdef else None
    return fdef.provides if fdef else None


def _top_level(fields: str | None) -> set[str]:
    if not fields:
        return set()
    try:
        selection = parse_field_set(fields)
    except FieldSetSyntaxError:
        return set()
    return {s.name.value for s in selection.selections if hasattr(s, "name")}


def _available(
    local: TypeDef, fname: str, provided: set[str], graph: str, merged: MergedField
) -> bool:
    fdef = local.fields.get(fname)
    if fdef is None:
        return False
    if fdef.external:
        return fname in provided
    # Not resolved here when the field was overridden away from this subgraph.
    return merged.joins is None or any(
        j.graph == graph and not j.used_overridden for j in merged.joins
    )


def _reachable(target: MergedType, fname: str, start: str, by_enum: dict[str, Subgraph]) -> bool:
    """Whether a subgraph resolving the field can be entered from `start` through keys.

    Key fields may be gathered from every subgraph reached so far (a planner can fetch them
    from several), so the fields known grow until no further key can be satisfied.
    """
    resolvers = set(_resolving_graphs(target, target.fields[fname]))
    reached = {start}
    known = _local_fields(by_enum[start].types.get(target.name))
    grew = True
    while grew:
        if reached & resolvers:
            return True
        grew = False
        for join in target.join_types:
            if join.graph in reached or join.key is None or not join.is_resolvable:
                continue
            if _top_level(join.key) <= known:
                reached.add(join.graph)
                known |= _local_fields(by_enum[join.graph].types.get(target.name))
                grew = True
    return bool(reached & resolvers)


def _local_fields(local: TypeDef | None) -> set[str]:
    if local is None:
        return set()
    return {name for name, fdef in local.fields.items() if not fdef.external}
