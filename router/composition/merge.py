"""Merge validated subgraphs into one supergraph model, with Apollo's merging rules.

Objects and interfaces take the union of their fields; a field's output type is the most
general of the subgraphs' types, arguments and input fields the most restrictive; input
types keep only fields every subgraph defines; enums used only as output take the union of
values, used only as input the intersection, used as both must agree. A field resolved by
several subgraphs must be `@shareable` everywhere (INVALID_FIELD_SHARING). `join__*`
records are emitted exactly where Apollo emits them, so the router reads the same plan facts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from graphql import ConstValueNode, NonNullTypeNode, TypeNode, print_ast

from router.composition import errors, typeref
from router.composition.definitions import ArgDef, FieldDef, Subgraph, TypeDef, named_type
from router.composition.directives import (
    merge_applied,
    merge_directive_definitions,
    repeatable_directives,
    uses,
)
from router.composition.errors import CompositionError
from router.composition.model import (
    Graph,
    JoinField,
    JoinType,
    MergedArg,
    MergedEnumValue,
    MergedField,
    MergedSchema,
    MergedType,
)
from router.composition.override import Override, validate_override
from router.composition.subgraph import COST_DIRECTIVES, SECURITY_DIRECTIVES, parse_context


def graph_enum_names(names: Sequence[str]) -> list[str]:
    """join__Graph values: names made GraphQL-safe and upper-cased, clashes numbered."""
    sanitized = []
    for name in names:
        value = re.sub(r"[^_a-zA-Z0-9]", "_", name)
        if value and value[0].isdigit():
            value = "_" + value
        sanitized.append(value.upper())
    result = []
    for index, value in enumerate(sanitized):
        clashes = [i for i, other in enumerate(sanitized) if other == value]
        result.append(value if len(clashes) == 1 else f"{value}_{clashes.index(index) + 1}")
    return result


def join_version(subgraphs: Sequence[Subgraph]) -> str:
    # The join spec version Apollo picks: the oldest one that supports the newest
    # federation version any subgraph links.
    latest = max((s.version for s in subgraphs), default=(2, 0))
    if latest >= (2, 8):
        return "0.5"
    if latest >= (2, 7):
        return "0.4"
    return "0.3"


class Merger:
    def __init__(self, subgraphs: Sequence[Subgraph]) -> None:
        self.subgraphs = list(subgraphs)
        self.names = [s.name for s in subgraphs]
        self.graphs = graph_enum_names(self.names)
        self.errors: list[CompositionError] = []
        self.implementers: dict[str, set[str]] = {}
        self.enum_usage: dict[str, dict[str, str]] = {}  # enum -> {"input"/"output": example}
        self.repeatable = repeatable_directives(subgraphs)
        for subgraph in subgraphs:
            for tdef in subgraph.types.values():
                for iface in tdef.interfaces:
                    self.implementers.setdefault(iface, set()).add(tdef.name)
                for member in tdef.members:
                    self.implementers.setdefault(tdef.name, set()).add(member)
        self._collect_enum_usage()

    def fail(
        self, code: str, message: str, subgraphs: Iterable[int], coordinate: str | None
    ) -> None:
        names = tuple(self.names[i] for i in sorted(set(subgraphs)))
        self.errors.append(CompositionError(code, message, names, coordinate))

    # ------------------------------------------------------------------ entry
    def merge(self) -> MergedSchema:
        order: list[str] = []
        for subgraph in self.subgraphs:
            order.extend(n for n in subgraph.types if n not in order)
        types: dict[str, MergedType] = {}
        for name in order:
            sources = self._sources(name)
            merged = self._merge_type(name, sources)
            if merged is not None:
                types[name] = merged
        schema = MergedSchema(
            graphs=[
                Graph(e, s.name, s.url) for e, s in zip(self.graphs, self.subgraphs, strict=True)
            ],
            types=types,
            join_version=join_version(self.subgraphs),
            roots={
                op: op.capitalize()
                for op in ("query", "mutation", "subscription")
                if op.capitalize() in types
            },
        )
        schema.description = merge_description(s.description for s in self.subgraphs)
        self._add_interface_object_fields(schema)
        schema.uses_inaccessible = any(uses(s, "inaccessible") for s in self.subgraphs)
        schema.uses_tag = any(uses(s, "tag") for s in self.subgraphs)
        schema.security = tuple(
            name for name in SECURITY_DIRECTIVES if any(uses(s, name) for s in self.subgraphs)
        )
        schema.cost = tuple(
            name for name in COST_DIRECTIVES if any(uses(s, name) for s in self.subgraphs)
        )
        schema.uses_context = any(t.contexts for s in self.subgraphs for t in s.types.values())
        schema.tag_name = self._imported_name("tag")
        schema.inaccessible_name = self._imported_name("inaccessible")
        merge_directive_definitions(self.subgraphs, schema, self.fail)
        return schema

    def _imported_name(self, directive: str) -> str:
        """The name subgraphs import a spec directive under; they must agree."""
        imported = {
            idx: s.directive_names[directive]
            for idx, s in enumerate(self.subgraphs)
            if s.fed2 and "__" not in s.directive_names[directive]
        }
        names = set(imported.values())
        if len(names) > 1:
            shown = ", ".join(f'"@{n}" in "{self.names[i]}"' for i, n in imported.items())
            self.fail(
                errors.LINK_IMPORT_NAME_MISMATCH,
                f'The "@{directive}" directive is imported with mismatched names between '
                f"subgraphs: it is imported as {shown}",
                imported,
                f"@{directive}",
            )
        return names.pop() if len(names) == 1 else directive

    def _sources(self, name: str) -> dict[int, TypeDef]:
        sources: dict[int, TypeDef] = {}
        first: TypeDef | None = None
        for idx, subgraph in enumerate(self.subgraphs):
            tdef = subgraph.types.get(name)
            if tdef is None:
                continue
            if first is None:
                first = tdef
            elif tdef.kind != first.kind:
                kinds = {
                    i: s.types[name].kind for i, s in enumerate(self.subgraphs) if name in s.types
                }
                described = "; ".join(f"{k} in {self.names[i]!r}" for i, k in kinds.items())
                self.fail(
                    errors.TYPE_KIND_MISMATCH,
                    f'Type "{name}" has mismatched kind: it is defined as {described}',
                    kinds,
                    name,
                )
                break
            sources[idx] = tdef
        return sources

    def _merge_type(self, name: str, sources: dict[int, TypeDef]) -> MergedType | None:
        first = next(iter(sources.values()))
        if name != "Query" and not any(
            t.has_definition or t.extends or self.subgraphs[i].fed2 for i, t in sources.items()
        ):
            # Federation 1 only: Federation 2 subgraphs may extend what nobody defines.
            self.fail(
                errors.EXTENSION_WITH_NO_BASE,
                f'Type "{name}" is an extension type, but there is no type definition for "'
                f'{name}" in any subgraph.',
                sources,
                name,
            )
        merged = MergedType(name, first.kind)
        merged.contexts = [f"{self.names[i]}__{c}" for i, t in sources.items() for c in t.contexts]
        merged.description = merge_description(s.description for s in sources.values())
        merged.applied = merge_applied([s.applied for s in sources.values()], self.repeatable)
        for idx, tdef in sources.items():
            graph = self.graphs[idx]
            io = tdef.interface_object
            if not tdef.keys:
                merged.join_types.append(JoinType(graph, interface_object=io))
            for key in tdef.keys:
                merged.join_types.append(
                    JoinType(
                        graph,
                        key=key.fields,
                        # Apollo's upgrade of a Federation 1 subgraph turns `extend type`
                        # into a definition; only @extends marks it an extension there.
                        extension=(key.extension and self.subgraphs[idx].fed2) or tdef.extends,
                        resolvable=key.resolvable,
                        interface_object=io,
                    )
                )
        if first.kind == "interface":
            self._validate_interface(name, sources)
        if first.kind in ("object", "interface"):
            self._merge_composite(merged, sources)
            if not merged.fields:
                return None
        elif first.kind == "union":
            for tdef in sources.values():
                merged.members.extend(m for m in tdef.members if m not in merged.members)
            merged.union_members = [
                (self.graphs[idx], member)
                for member in merged.members
                for idx, tdef in sources.items()
                if member in tdef.members
            ]
        elif first.kind == "enum":
            self._merge_enum(merged, sources)
        elif first.kind == "input":
            self._merge_input(merged, sources)
        return merged

    def _validate_interface(self, name: str, sources: dict[int, TypeDef]) -> None:
        """A resolvable key on an interface needs every implementation in that subgraph; an
        @interfaceObject subgraph must define none of them."""
        objects = sorted(
            t
            for t in self.implementers.get(name, ())
            if any(
                s.types.get(t) is not None and s.types[t].kind == "object" for s in self.subgraphs
            )
        )
        if all(tdef.interface_object for tdef in sources.values()):
            self.fail(
                errors.INTERFACE_OBJECT_USAGE_ERROR,
                f'Type "{name}" is declared with @interfaceObject in all the subgraphs in which '
                "it is defined, but no subgraph defines it as an interface.",
                sources,
                name,
            )
        for idx, tdef in sources.items():
            subgraph = self.subgraphs[idx]
            if tdef.interface_object:
                defined = [t for t in objects if t in subgraph.types]
                if defined:
                    self.fail(
                        errors.INTERFACE_OBJECT_USAGE_ERROR,
                        f'Interface type "{name}" is defined as an @interfaceObject in subgraph '
                        f'"{subgraph.name}" so that subgraph should not define any of the '
                        f'implementation types of "{name}", but it defines '
                        + ", ".join(f'"{t}"' for t in defined),
                        [idx],
                        name,
                    )
                continue
            if not any(key.is_resolvable for key in tdef.keys):
                continue
            missing = [
                t
                for t in objects
                if t not in subgraph.types or name not in subgraph.types[t].interfaces
            ]
            if missing:
                self.fail(
                    errors.INTERFACE_KEY_MISSING_IMPLEMENTATION_TYPE,
                    f'Interface type "{name}" has a resolvable key in subgraph "{subgraph.name}" '
                    "but that subgraph is missing some of the supergraph implementation types of "
                    f'"{name}": it should define '
                    + ", ".join(f'"{t}"' for t in missing)
                    + f' (and have them implement "{name}").',
                    [idx],
                    name,
                )

    # ------------------------------------------------------------------ objects
    def _merge_composite(self, merged: MergedType, sources: dict[int, TypeDef]) -> None:
        for idx, tdef in sources.items():
            for iface in tdef.interfaces:
                merged.implements.append((self.graphs[idx], iface))
                if iface not in merged.interfaces:
                    merged.interfaces.append(iface)
        names: list[str] = []
        for tdef in sources.values():
            names.extend(n for n in tdef.fields if n not in names)
        for fname in names:
            fsources = {idx: tdef.fields.get(fname) for idx, tdef in sources.items()}
            result = self._merge_field(merged, fname, fsources)
            if result is not None:
                merged.fields[fname] = result

    def _merge_field(
        self, parent: MergedType, name: str, fsources: dict[int, FieldDef | None]
    ) -> MergedField | None:
        type_name = parent.name
        coordinate = f"{type_name}.{name}"
        defined = {i: f for i, f in fsources.items() if f is not None}
        override = validate_override(coordinate, defined, self.names, self.fail)
        if all(f.external for f in defined.values()) and not self._abstracted(type_name, name):
            listed = ", ".join(f'"{self.names[i]}"' for i in defined)
            self.fail(
                errors.EXTERNAL_MISSING_ON_BASE,
                f'Field "{coordinate}" is marked @external on all the subgraphs in which it is '
                f"listed ({listed}).",
                defined,
                coordinate,
            )
            return None
        resolving = {i: f for i, f in defined.items() if not f.external}
        for i, f in defined.items():
            if f.external and (f.applied.inaccessible or f.applied.tags):
                self.fail(
                    errors.MERGED_DIRECTIVE_APPLICATION_ON_EXTERNAL,
                    f'Cannot apply merged directive @inaccessible/@tag to external field "'
                    f'{coordinate}"',
                    [i],
                    coordinate,
                )
        basis = resolving or defined
        out_type, all_equal = self._merge_type_ref(
            coordinate, {i: f.type for i, f in basis.items()}, input_position=False
        )
        merged = MergedField(
            name,
            out_type,
            description=merge_description(f.description for f in resolving.values()),
            applied=merge_applied([f.applied for f in resolving.values()], self.repeatable),
        )
        merged.args = self._merge_args(
            coordinate, self._plain_args(coordinate, {i: f.args for i, f in resolving.items()})
        )
        self._validate_externals(coordinate, defined, merged, all_equal)
        if self._needs_join_field(type_name, fsources, all_equal, override):
            merged.joins = self._join_fields(defined, all_equal, override)
        if parent.kind == "object":  # Apollo checks sharing on object fields only
            self._validate_sharing(type_name, coordinate, defined, override)
        return merged

    def _validate_externals(
        self, coordinate: str, defined: dict[int, FieldDef], merged: MergedField, all_equal: bool
    ) -> None:
        """External declarations must agree with the merged field: same type (or a subtype
        when subgraphs already differ), every merged argument with a supertype and the
        same default."""
        externals = {i: f for i, f in defined.items() if f.external}
        for f in externals.values():
            if not (
                typeref.same(merged.type, f.type)
                or (
                    not all_equal
                    and typeref.is_strict_subtype(merged.type, f.type, self.implementers)
                )
            ):
                shown = "; ".join(
                    f'type "{print_ast(g.type)}" in "{self.names[j]}"' for j, g in defined.items()
                )
                self.fail(
                    errors.EXTERNAL_TYPE_MISMATCH,
                    f'Type of field "{coordinate}" is incompatible across subgraphs (where marked '
                    f"@external): it has {shown}",
                    defined,
                    coordinate,
                )
                break
        for arg in merged.args.values():
            where = f"{coordinate}({arg.name}:)"
            missing = [i for i, f in externals.items() if arg.name not in f.args]
            if missing:
                self.fail(
                    errors.EXTERNAL_ARGUMENT_MISSING,
                    f'Field "{coordinate}" is missing argument "{where}" in some subgraphs where '
                    "it is marked @external",
                    missing,
                    where,
                )
            present = {i: f.args[arg.name] for i, f in externals.items() if arg.name in f.args}
            bad_type = [
                i
                for i, a in present.items()
                if not typeref.is_subtype(a.type, arg.type, self.implementers)
            ]
            if bad_type:
                self.fail(
                    errors.EXTERNAL_ARGUMENT_TYPE_MISMATCH,
                    f'Type of argument "{where}" is incompatible across subgraphs (where "'
                    f'{coordinate}" is marked @external)',
                    bad_type,
                    where,
                )
            merged_default = print_ast(arg.default) if arg.default is not None else None
            bad_default = [
                i
                for i, a in present.items()
                if (print_ast(a.default) if a.default is not None else None) != merged_default
            ]
            if bad_default:
                self.fail(
                    errors.EXTERNAL_ARGUMENT_DEFAULT_MISMATCH,
                    f'Argument "{where}" has incompatible defaults across subgraphs (where "'
                    f'{coordinate}" is marked @external)',
                    bad_default,
                    where,
                )

    def _abstracted(self, type_name: str, name: str) -> bool:
        """Whether some subgraph provides the field through an @interfaceObject."""
        return bool(self._interface_object_sources(type_name, name))

    def _interface_object_sources(self, type_name: str, name: str) -> list[tuple[int, FieldDef]]:
        interfaces: set[str] = set()
        for subgraph in self.subgraphs:
            tdef = subgraph.types.get(type_name)
            if tdef is not None:
                interfaces.update(tdef.interfaces)
        found = []
        for idx, subgraph in enumerate(self.subgraphs):
            if type_name in subgraph.types:
                continue
            for iface in interfaces:
                idef = subgraph.types.get(iface)
                if idef is not None and idef.interface_object and name in idef.fields:
                    found.append((idx, idef.fields[name]))
        return found

    def _needs_join_field(
        self,
        type_name: str,
        fsources: dict[int, FieldDef | None],
        all_equal: bool,
        override: Override,
    ) -> bool:
        if not all_equal or override.used or override.labels:
            return True
        if any(a.from_context for f in fsources.values() if f is not None for a in f.args.values()):
            return True
        for idx, f in fsources.items():
            if f is not None and idx not in override.unused:
                if f.external or f.requires or f.provides:
                    return True
            elif type_name in self.subgraphs[idx].types:
                return True
        return False

    def _plain_args(
        self, coordinate: str, arg_sources: dict[int, dict[str, ArgDef]]
    ) -> dict[int, dict[str, ArgDef]]:
        """The arguments without the contextual ones: an argument that takes its value from
        a context in one subgraph is left out of the supergraph (the router supplies it),
        so elsewhere it must be optional."""
        contextual = {n for args in arg_sources.values() for n, a in args.items() if a.from_context}
        if not contextual:
            return arg_sources
        for name in sorted(contextual):
            for idx, args in arg_sources.items():
                arg = args.get(name)
                if arg is not None and not arg.from_context and _required(arg.type, arg.default):
                    self.fail(
                        errors.CONTEXTUAL_ARGUMENT_NOT_CONTEXTUAL_IN_ALL_SUBGRAPHS,
                        f'Argument "{coordinate}({name}:)" is contextual in at least one '
                        f'subgraph but in "{coordinate}({name}:)" it does not have @fromContext, '
                        "is not nullable and has no default value.",
                        [idx],
                        f"{coordinate}({name}:)",
                    )
        return {
            idx: {n: a for n, a in args.items() if n not in contextual}
            for idx, args in arg_sources.items()
        }

    def _join_fields(
        self, defined: dict[int, FieldDef], all_equal: bool, override: Override
    ) -> list[JoinField]:
        joins = []
        for idx, f in defined.items():
            label = override.labels.get(idx)
            if idx in override.unused and label is None:
                continue
            joins.append(
                JoinField(
                    graph=self.graphs[idx],
                    requires=f.requires,
                    provides=f.provides,
                    type=None if all_equal else print_ast(f.type),
                    external=f.external,
                    override=f.override,
                    used_overridden=idx in override.used,
                    override_label=label,
                    context_arguments=self._context_arguments(idx, f),
                )
            )
        return joins

    def _context_arguments(self, idx: int, fdef: FieldDef) -> tuple[tuple[str, str, str, str], ...]:
        found = []
        for arg in fdef.args.values():
            parsed = parse_context(arg.from_context)
            if parsed is not None:
                context, selection = parsed
                found.append(
                    (f"{self.names[idx]}__{context}", arg.name, print_ast(arg.type), selection)
                )
        return tuple(found)

    def _validate_sharing(
        self, type_name: str, coordinate: str, defined: dict[int, FieldDef], override: Override
    ) -> None:
        shareable: list[int] = []
        non_shareable: list[int] = []
        candidates = [
            (i, f)
            for i, f in defined.items()
            if i not in override.used and i not in override.unused
        ] + self._interface_object_sources(type_name, coordinate.split(".", 1)[1])
        for idx, f in candidates:
            if f.external and not f.provided:
                continue
            (shareable if f.shareable else non_shareable).append(idx)
        if non_shareable and (shareable or len(non_shareable) > 1):
            resolving = ", ".join(f'"{self.names[i]}"' for i in shareable + non_shareable)
            culprits = (
                ", ".join(f'"{self.names[i]}"' for i in non_shareable)
                if shareable
                else "all of them"
            )
            self.fail(
                errors.INVALID_FIELD_SHARING,
                f'Non-shareable field "{coordinate}" is resolved from multiple subgraphs: it is '
                f"resolved from subgraphs {resolving} and defined as non-shareable in {culprits}",
                shareable + non_shareable,
                coordinate,
            )

    # ------------------------------------------------------------------ types of fields
    def _merge_type_ref(
        self,
        coordinate: str,
        types: dict[int, TypeNode],
        *,
        input_position: bool,
        code: str = errors.FIELD_TYPE_MISMATCH,
    ) -> tuple[TypeNode, bool]:
        """The merged type and whether every subgraph agreed exactly."""
        dest: TypeNode | None = None
        all_equal = True
        for node in types.values():
            if dest is None or typeref.same(dest, node):
                dest = node
            elif typeref.is_subtype(dest, node, self.implementers):
                all_equal = False
                if input_position:
                    dest = node
            elif typeref.is_subtype(node, dest, self.implementers):
                all_equal = False
                if not input_position:
                    dest = node
            else:
                shown = "; ".join(
                    f'type "{print_ast(t)}" in "{self.names[i]}"' for i, t in types.items()
                )
                what = "argument" if code == errors.FIELD_ARGUMENT_TYPE_MISMATCH else "field"
                self.fail(
                    code,
                    f'Type of {what} "{coordinate}" is incompatible across subgraphs: '
                    f"it has {shown}",
                    types,
                    coordinate,
                )
                return dest, False
        assert dest is not None
        return dest, all_equal

    def _merge_args(
        self, coordinate: str, arg_sources: dict[int, dict[str, ArgDef]]
    ) -> dict[str, MergedArg]:
        names: list[str] = []
        for args in arg_sources.values():
            names.extend(n for n in args if n not in names)
        merged: dict[str, MergedArg] = {}
        for name in names:
            arg_coordinate = f"{coordinate}({name}:)"
            present = {i: args[name] for i, args in arg_sources.items() if name in args}
            if len(present) < len(arg_sources):
                required = [i for i, a in present.items() if _required(a.type, a.default)]
                if required:
                    missing = [i for i in arg_sources if i not in present]
                    self.fail(
                        errors.REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH,
                        f'Argument "{arg_coordinate}" is required in some subgraphs but does not '
                        "appear in all subgraphs: it is required in "
                        + ", ".join(f'"{self.names[i]}"' for i in required)
                        + " but does not appear in "
                        + ", ".join(f'"{self.names[i]}"' for i in missing),
                        required + missing,
                        arg_coordinate,
                    )
                continue
            arg_type, _ = self._merge_type_ref(
                arg_coordinate,
                {i: a.type for i, a in present.items()},
                input_position=True,
                code=errors.FIELD_ARGUMENT_TYPE_MISMATCH,
            )
            merged[name] = MergedArg(
                name,
                arg_type,
                self._merge_default(
                    arg_coordinate,
                    {i: a.default for i, a in present.items()},
                    errors.FIELD_ARGUMENT_DEFAULT_MISMATCH,
                ),
                merge_description(a.description for a in present.values()),
                merge_applied([a.applied for a in present.values()], self.repeatable),
            )
        return merged

    def _merge_default(
        self, coordinate: str, defaults: dict[int, ConstValueNode | None], code: str
    ) -> ConstValueNode | None:
        """A default survives only when every subgraph gives the same one: a subgraph without
        it would otherwise receive no value for what it considers required. Two different
        defaults are an error."""
        printed = {i: print_ast(v) if v is not None else None for i, v in defaults.items()}
        given = {p for p in printed.values() if p is not None}
        if len(given) > 1:
            shown = "; ".join(
                f'{p or "no default"} in "{self.names[i]}"' for i, p in printed.items()
            )
            self.fail(
                code,
                f'"{coordinate}" has incompatible default values across subgraphs: {shown}',
                defaults,
                coordinate,
            )
        if None in printed.values():
            return None
        return next(iter(defaults.values()))

    # ------------------------------------------------------------------ inputs and enums
    def _merge_input(self, merged: MergedType, sources: dict[int, TypeDef]) -> None:
        names: list[str] = []
        for tdef in sources.values():
            names.extend(n for n in tdef.fields if n not in names)
        for name in names:
            coordinate = f"{merged.name}.{name}"
            present = {i: t.fields[name] for i, t in sources.items() if name in t.fields}
            applied = merge_applied([f.applied for f in present.values()], self.repeatable)
            if len(present) < len(sources) and not applied.inaccessible:
                required = [i for i, f in present.items() if _required(f.type, f.default)]
                if required:
                    missing = [i for i in sources if i not in present]
                    self.fail(
                        errors.REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH,
                        f'Input object field "{coordinate}" is required in some subgraphs but '
                        "does not appear in all subgraphs: it is required in "
                        + ", ".join(f'"{self.names[i]}"' for i in required)
                        + " but does not appear in "
                        + ", ".join(f'"{self.names[i]}"' for i in missing),
                        required + missing,
                        coordinate,
                    )
                continue
            field_type, all_equal = self._merge_type_ref(
                coordinate, {i: f.type for i, f in present.items()}, input_position=True
            )
            result = MergedField(
                name,
                field_type,
                description=merge_description(f.description for f in present.values()),
                applied=applied,
                default=self._merge_default(
                    coordinate,
                    {i: f.default for i, f in present.items()},
                    errors.INPUT_FIELD_DEFAULT_MISMATCH,
                ),
            )
            if not all_equal or len(present) < len(sources):
                result.joins = [
                    JoinField(graph=self.graphs[i], type=None if all_equal else print_ast(f.type))
                    for i, f in present.items()
                ]
            merged.fields[name] = result
        if not merged.fields:
            self.fail(
                errors.EMPTY_MERGED_INPUT_TYPE,
                f'None of the fields of input object type "{merged.name}" are consistently '
                "defined in all the subgraphs defining that type. As only fields common to all "
                "subgraphs are merged, this would result in an empty type.",
                sources,
                merged.name,
            )

    def _collect_enum_usage(self) -> None:
        for subgraph in self.subgraphs:
            enums = {n for n, t in subgraph.types.items() if t.kind == "enum"}
            for tdef in subgraph.types.values():
                for fdef in tdef.fields.values():
                    where = f"{tdef.name}.{fdef.name}"
                    position = "input" if tdef.kind == "input" else "output"
                    if fdef.type_name in enums:
                        self.enum_usage.setdefault(fdef.type_name, {}).setdefault(position, where)
                    for arg in fdef.args.values():
                        arg_type = named_type(arg.type)
                        if arg_type in enums:
                            self.enum_usage.setdefault(arg_type, {}).setdefault(
                                "input", f"{where}({arg.name}:)"
                            )

    def _merge_enum(self, merged: MergedType, sources: dict[int, TypeDef]) -> None:
        usage = self.enum_usage.get(merged.name, {})
        for tdef in sources.values():
            for name in tdef.values:
                if name not in merged.values:
                    merged.values[name] = MergedEnumValue(name)
        for name, value in list(merged.values.items()):
            present = {i: t.values[name] for i, t in sources.items() if name in t.values}
            value.description = merge_description(v.description for v in present.values())
            value.applied = merge_applied([v.applied for v in present.values()], self.repeatable)
            value.graphs = [self.graphs[i] for i in present]
            if len(present) == len(sources) or value.applied.inaccessible or "input" not in usage:
                continue
            if "output" in usage:
                missing = [i for i in sources if i not in present]
                self.fail(
                    errors.ENUM_VALUE_MISMATCH,
                    f'Enum type "{merged.name}" is used as both input type (for example, as type '
                    f'of "{usage["input"]}") and output type (for example, as type of "'
                    f'{usage["output"]}"), but value "{name}" is not defined in all the subgraphs '
                    f'defining "{merged.name}": it is defined in '
                    + ", ".join(f'"{self.names[i]}"' for i in present)
                    + " but not in "
                    + ", ".join(f'"{self.names[i]}"' for i in missing),
                    list(sources),
                    f"{merged.name}.{name}",
                )
            else:
                del merged.values[name]
        if not merged.values:
            self.fail(
                errors.EMPTY_MERGED_ENUM_TYPE,
                f'None of the values of enum type "{merged.name}" are defined consistently in all '
                "the subgraphs defining that type.",
                sources,
                merged.name,
            )

    # ------------------------------------------------------------------ after merging
    def _add_interface_object_fields(self, schema: MergedSchema) -> None:
        """Objects get the fields an @interfaceObject adds to their interface, with a bare
        join__field: no subgraph resolves them on the object itself."""
        io_interfaces = {
            name
            for subgraph in self.subgraphs
            for name, tdef in subgraph.types.items()
            if tdef.interface_object
        }
        for merged in schema.types.values():
            if merged.kind != "object":
                continue
            for iface in merged.interfaces:
                if iface not in io_interfaces or iface not in schema.types:
                    continue
                for fname, ifield in schema.types[iface].fields.items():
                    if fname in merged.fields:
                        continue
                    merged.fields[fname] = MergedField(
                        fname,
                        ifield.type,
                        ifield.description,
                        dict(ifield.args),
                        ifield.applied,
                        joins=[JoinField(graph=None)],
                    )
                    # Several @interfaceObjects providing it must all allow sharing.
                    self._validate_sharing(merged.name, f"{merged.name}.{fname}", {}, Override())


def merge_description(descriptions: Iterable[str | None]) -> str | None:
    """The most common description; an empty one only when there is nothing else."""
    counts: dict[str, int] = {}
    for description in descriptions:
        if description is not None:
            counts[description] = counts.get(description, 0) + 1
    non_empty = {d: c for d, c in counts.items() if d != ""}
    if non_empty:
        return max(non_empty, key=lambda d: non_empty[d])  # first of the most common
    return "" if counts else None


def _required(node: TypeNode, default: ConstValueNode | None) -> bool:
    return isinstance(node, NonNullTypeNode) and default is None
