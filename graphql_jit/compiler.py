"""Plans: what the compiled executor knows about one operation, built once.

A plan is built from the same grouped field sets that graphql-core's own
``collect_fields``/``collect_subfields`` produce (the functions are called, not
re-implemented), so response keys, field order and merged field nodes are the
stock ones. What the plan adds is, per field, how it is resolved and completed:

* ``LEAF``: the resolver is a plain attribute read and the type is a scalar or
  an enum; the value is read and coerced in a tight loop.
* ``OBJECT`` / ``OBJECT_LIST``: a plain attribute read of an object type (or a
  list of one) whose type has no ``is_type_of`` check; completed by the child
  plan without building ``info`` or paths unless something goes wrong.
* ``LEAF_LIST``: a plain attribute read of a list of scalars or enums.
* ``TYPENAME``: ``__typename`` of an object type is a constant.
* ``GENERIC``: everything else (fields with resolvers of their own, arguments,
  abstract types, introspection): executed by graphql-core's ``execute_field``,
  exactly as the stock executor does.

A selection set is only planned when its collection cannot depend on the
request: no directive anywhere in it (``@skip``, ``@include``, ``@defer``,
``@stream`` or custom ones) and no fragment arguments. Otherwise the stock
algorithm collects and executes that level; the levels below it are planned
again as soon as they are static.

Leaf coercers are fast paths of the stock ``coerce_output_value`` calls: they
return ``MISS`` for anything they do not recognise, and the caller then
completes the value with graphql-core's ``complete_value`` (which produces the
stock error). They assume that leaf coercion is a pure function of the value,
which holds for graphql-core's and Strawberry's scalars and enums.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from keyword import iskeyword
from math import inf
from operator import attrgetter
from typing import Any, Final

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    SelectionSetNode,
    TypeNameMetaFieldDef,
    is_leaf_type,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
    FragmentDetails,
    GroupedFieldSet,
    collect_subfields,
)
from graphql.execution.values import VariableValues
from graphql.pyutils import Undefined
from graphql.pyutils.is_awaitable import is_awaitable
from graphql.type.scalars import (
    serialize_boolean,
    serialize_float,
    serialize_id,
    serialize_int,
    serialize_string,
)

__all__ = [
    "GENERIC",
    "LEAF",
    "LEAF_LIST",
    "MISS",
    "OBJECT",
    "OBJECT_LIST",
    "TYPENAME",
    "FieldPlan",
    "LeafCoercers",
    "ObjectPlan",
    "OperationPlan",
    "is_static_selection",
]


class _Miss:
    """Marker returned by fast paths that leave a value to the stock algorithm."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISS"


MISS: Final = _Miss()

GENERIC: Final = 0
LEAF: Final = 1
OBJECT: Final = 2
LEAF_LIST: Final = 3
OBJECT_LIST: Final = 4
TYPENAME: Final = 5

Reader = Callable[[Any], Any]
LeafCoercer = Callable[[Any], Any]

_MIN_INT: Final = -2_147_483_648
_MAX_INT: Final = 2_147_483_647

# How the generated code checks that a leaf value passes through the stock
# coercion unchanged (the negation selects the slow path).
_INLINE_CHECKS: Final[dict[Callable[[Any], Any], str]] = {}


def _string(value: Any) -> Any:
    return value if type(value) is str else MISS


def _int(value: Any) -> Any:
    return value if type(value) is int and _MIN_INT <= value <= _MAX_INT else MISS


def _float(value: Any) -> Any:
    return value if type(value) is float and -inf < value < inf else MISS


def _boolean(value: Any) -> Any:
    return value if type(value) is bool else MISS


# For each built-in scalar: the stock coercion function and the fast path that
# gives the same answer for the values it accepts (the exact Python type, which
# the stock function returns unchanged).
_BUILTIN: Final[dict[int, tuple[Callable[[Any], Any], LeafCoercer]]] = {
    id(GraphQLString): (serialize_string, _string),
    id(GraphQLID): (serialize_id, _string),
    id(GraphQLInt): (serialize_int, _int),
    id(GraphQLFloat): (serialize_float, _float),
    id(GraphQLBoolean): (serialize_boolean, _boolean),
}


class LeafCoercers:
    """Fast coercers per leaf type, shared by every plan of one schema."""

    __slots__ = ("_coercers",)

    def __init__(self) -> None:
        self._coercers: dict[int, tuple[GraphQLLeafType, LeafCoercer]] = {}

    def get(self, leaf_type: GraphQLLeafType) -> LeafCoercer:
        entry = self._coercers.get(id(leaf_type))
        if entry is None or entry[0] is not leaf_type:
            entry = (leaf_type, _make_coercer(leaf_type))
            self._coercers[id(leaf_type)] = entry
        return entry[1]


def _make_coercer(leaf_type: GraphQLLeafType) -> LeafCoercer:
    coerce = leaf_type.coerce_output_value
    builtin = _BUILTIN.get(id(leaf_type))
    if builtin is not None and coerce is builtin[0]:
        return builtin[1]
    if isinstance(leaf_type, GraphQLEnumType):
        return _enum_coercer(coerce)
    return _custom_coercer(coerce)


def _custom_coercer(coerce: Callable[[Any], Any]) -> LeafCoercer:
    def coerce_custom(value: Any) -> Any:
        # None, Undefined, exceptions and awaitables are handled before coercion
        # by the stock algorithm; leave them to it.
        if (
            value is None
            or value is Undefined
            or isinstance(value, Exception)
            or is_awaitable(value)
        ):
            return MISS
        try:
            coerced = coerce(value)
        except Exception:
            return MISS
        if coerced is None or coerced is Undefined:
            return MISS
        return coerced

    return coerce_custom


def _enum_coercer(coerce: Callable[[Any], Any]) -> LeafCoercer:
    # Enum members are singletons: memoise their coercion by identity (the memo
    # keeps the member alive, so its id cannot be reused by another object).
    memo: dict[int, tuple[Any, Any]] = {}
    custom = _custom_coercer(coerce)

    def coerce_enum(value: Any) -> Any:
        entry = memo.get(id(value))
        if entry is not None and entry[0] is value:
            return entry[1]
        coerced = custom(value)
        if coerced is not MISS and isinstance(value, Enum):
            memo[id(value)] = (value, coerced)
        return coerced

    return coerce_enum


class FieldPlan:
    """One response key of a selection set and how to produce its value."""

    __slots__ = (
        "args",
        "check_callable",
        "child",
        "coerce",
        "field_def",
        "field_details_list",
        "field_nodes",
        "has_args",
        "item_nullable",
        "item_type",
        "key",
        "kind",
        "nullable",
        "object_child",
        "object_type",
        "parent_type",
        "read",
        "resolve",
        "return_type",
        "type_check",
        "typename",
    )

    def __init__(
        self,
        parent_type: GraphQLObjectType,
        key: str,
        field_details_list: FieldDetailsList,
        field_def: GraphQLField,
    ) -> None:
        self.parent_type = parent_type
        self.key = key
        self.field_details_list = field_details_list
        self.field_nodes: list[FieldNode] = [details.node for details in field_details_list]
        self.field_def = field_def
        self.return_type: GraphQLOutputType = field_def.type
        self.kind = GENERIC
        self.read: Reader | None = None
        self.check_callable = False
        self.nullable = not isinstance(field_def.type, GraphQLNonNull)
        self.coerce: LeafCoercer | None = None
        self.child: ObjectPlan | None = None
        self.item_type: GraphQLOutputType | None = None
        self.item_nullable = True
        self.typename: str | None = None
        # For fields run through their resolver (GENERIC): the resolver, whether
        # arguments must be coerced, the coerced arguments when they are
        # literals of immutable values (filled on first use), and the plan of
        # the object it returns (``child`` for a list of objects).
        self.resolve: Any = field_def.resolve
        self.has_args = bool(field_def.args or field_details_list[0].node.arguments)
        self.args: dict[str, Any] | None = None if self.has_args else {}
        self.object_child: ObjectPlan | None = None
        self.object_type: GraphQLObjectType | None = None
        # The object type's ``is_type_of`` when it is known not to read ``info``
        # (then it is called without building one).
        self.type_check: Callable[[Any, Any], Any] | None = None


PlanFunction = Callable[[Any, Any, Any], Any]


class ObjectPlan:
    """A static selection set on one object type: its fields, in response order.

    ``run(executor, source, path)`` is the selection set compiled to Python
    (see ``generate``); it is generated on first use.
    """

    __slots__ = ("_run", "fields", "grouped_field_set", "type")

    def __init__(self, type_: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> None:
        self.type = type_
        self.grouped_field_set = grouped_field_set
        self.fields: list[FieldPlan] = []
        self._run: PlanFunction | None = None

    @property
    def run(self) -> PlanFunction:
        run = self._run
        if run is None:
            run = self._run = generate(self)
        return run


AttributeReaderFactory = Callable[[str, GraphQLField, Any], tuple[Reader, bool] | None]

# Collection of a static selection set does not read variables; plans are built
# with no variables so that they keep no request data alive.
_NO_VARIABLES: Final = VariableValues({}, {})


class OperationPlan:
    """Every plan of one operation, built on first use and kept with it.

    ``root`` is the root selection set; ``by_field_details`` maps the field
    details lists of this plan (by identity) and ``by_nodes`` the ones that
    the stock algorithm produced (by their field nodes) to the plan of their
    sub-selection on a given object type, or ``None`` when that selection is
    not static.
    """

    __slots__ = (
        "by_field_details",
        "by_nodes",
        "coercers",
        "field_resolver",
        "fragments",
        "hide_suggestions",
        "reader_factory",
        "root",
        "schema",
        "type_check",
    )

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDetails],
        field_resolver: Any,
        reader_factory: AttributeReaderFactory,
        coercers: LeafCoercers,
        type_check: Callable[[Callable[..., Any]], Callable[[Any, Any], Any] | None] = (
            lambda _function: None
        ),
    ) -> None:
        self.type_check = type_check
        self.schema = schema
        self.fragments = fragments
        self.field_resolver = field_resolver
        self.reader_factory = reader_factory
        self.coercers = coercers
        self.hide_suggestions = False
        self.root: ObjectPlan | None = None
        self.by_field_details: dict[
            tuple[int, int], tuple[FieldDetailsList, ObjectPlan | None]
        ] = {}
        self.by_nodes: dict[tuple[int, tuple[int, ...]], ObjectPlan | None] = {}

    def plan_fields(
        self, type_: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> ObjectPlan:
        """Classify every field of a collected, static selection set."""
        plan = ObjectPlan(type_, grouped_field_set)
        schema = self.schema
        for key, details in grouped_field_set.items():
            field_def = schema.get_field(type_, details[0].node.name.value)
            if field_def is None:
                continue  # the stock executor leaves unknown fields out too
            plan.fields.append(self._plan_field(type_, key, details, field_def))
        return plan

    def _plan_field(
        self,
        parent_type: GraphQLObjectType,
        key: str,
        details: FieldDetailsList,
        field_def: GraphQLField,
    ) -> FieldPlan:
        field = FieldPlan(parent_type, key, details, field_def)
        if field.resolve is None:
            field.resolve = self.field_resolver  # what ``execute_field`` calls
        if field_def is TypeNameMetaFieldDef:
            field.kind = TYPENAME
            field.typename = parent_type.name
            return field
        named = _unwrap(field_def.type)
        nullable_type = _nullable(field_def.type)
        inner: GraphQLOutputType | None = None
        if isinstance(nullable_type, GraphQLList):
            field.item_type = nullable_type.of_type
            field.item_nullable = not isinstance(field.item_type, GraphQLNonNull)
            inner = _nullable(field.item_type)
        reader = None
        if not field_def.args and not any(d.node.arguments for d in details):
            reader = self.reader_factory(details[0].node.name.value, field_def, self.field_resolver)
        if reader is None:
            # Run through its resolver; what it returns is completed by a plan
            # when it is an object or a list of objects.
            if isinstance(nullable_type, GraphQLObjectType):
                field.object_child = self.child_plan(nullable_type, details)
                self._set_object_type(field, nullable_type)
            elif isinstance(inner, GraphQLObjectType):
                field.child = self.child_plan(inner, details)
                self._set_object_type(field, inner)
            elif isinstance(named, GraphQLObjectType):
                self.child_plan(named, details)  # nested lists: for the stock path
            return field
        field.read, field.check_callable = reader
        # One value or a list of them; nested lists and abstract types: stock.
        completed = nullable_type if inner is None else inner
        if is_leaf_type(completed):
            field.kind = LEAF if inner is None else LEAF_LIST
            field.coerce = self.coercers.get(completed)
        elif isinstance(completed, GraphQLObjectType):
            child = self.child_plan(completed, details)
            if child is not None:
                field.kind = OBJECT if inner is None else OBJECT_LIST
                field.child = child
                self._set_object_type(field, completed)
        return field

    def _set_object_type(self, field: FieldPlan, object_type: GraphQLObjectType) -> None:
        field.object_type = object_type
        is_type_of = object_type.is_type_of
        if is_type_of is not None:
            field.type_check = self.type_check(is_type_of)

    def child_plan(self, type_: GraphQLObjectType, details: FieldDetailsList) -> ObjectPlan | None:
        """The plan of a sub-selection of this plan's own fields (memoised)."""
        key = (id(details), id(type_))
        entry = self.by_field_details.get(key)
        if entry is not None:
            return entry[1]
        plan = self._build_child(type_, details)
        self.by_field_details[key] = (details, plan)
        return plan

    def foreign_child_plan(
        self, type_: GraphQLObjectType, details: FieldDetailsList
    ) -> ObjectPlan | None:
        """The plan of a sub-selection collected by the stock algorithm."""
        entry = self.by_field_details.get((id(details), id(type_)))
        if entry is not None and entry[0] is details:
            return entry[1]
        for item in details:
            if item.defer_usage is not None or item.fragment_variable_values is not None:
                return None
        node_key = (id(type_), tuple(id(item.node) for item in details))
        if node_key in self.by_nodes:
            return self.by_nodes[node_key]
        plan = self._build_child(type_, details)
        self.by_nodes[node_key] = plan
        return plan

    def _build_child(
        self, type_: GraphQLObjectType, details: FieldDetailsList
    ) -> ObjectPlan | None:
        fragments = self.fragments
        for item in details:
            selection_set = item.node.selection_set
            if selection_set is not None and not is_static_selection(selection_set, fragments):
                return None
        collected = collect_subfields(
            self.schema,
            fragments,
            _NO_VARIABLES,
            _NO_OPERATION,  # type: ignore[arg-type]  # unused by collect_subfields
            type_,
            details,
            self.hide_suggestions,
        )
        if collected.new_defer_usages:
            return None
        return self.plan_fields(type_, collected.grouped_field_set)


_NO_OPERATION: Final = None


def _nullable(type_: GraphQLOutputType) -> GraphQLOutputType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _unwrap(type_: GraphQLOutputType) -> GraphQLOutputType:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


def is_static_selection(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDetails],
    _seen: set[str] | None = None,
) -> bool:
    """Whether collecting this selection set cannot depend on the request.

    True when no selection in it (through inline fragments and fragment spreads,
    but not into sub-selections, which are planned on their own) carries a
    directive or fragment arguments, and no fragment it spreads declares
    variables.
    """
    seen = set() if _seen is None else _seen
    for selection in selection_set.selections:
        if selection.directives:
            return False
        if isinstance(selection, InlineFragmentNode):
            if not is_static_selection(selection.selection_set, fragments, seen):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            if getattr(selection, "arguments", None):
                return False
            name = selection.name.value
            if name in seen:
                continue
            seen.add(name)
            fragment = fragments.get(name)
            if fragment is None:
                continue
            if fragment.variable_signatures or fragment.definition.variable_definitions:
                return False
            if fragment.definition.directives:
                return False
            if not is_static_selection(fragment.definition.selection_set, fragments, seen):
                return False
    return True


_INLINE_CHECKS.update(
    {
        _string: "type(v) is not str",
        _int: "not (type(v) is int and -2147483648 <= v <= 2147483647)",
        _float: "not (type(v) is float and -inf < v < inf)",
        _boolean: "type(v) is not bool",
    }
)


def generate(plan: ObjectPlan) -> PlanFunction:
    """Compile a selection set to a Python function ``run(ex, source, path)``.

    The function is ``execute_fields`` unrolled for these fields: leaves are
    read and checked inline, anything unusual goes to the executor's helpers
    (which call graphql-core's own methods). ``path`` is the parent position,
    either a graphql-core ``Path``, ``None`` or a lazy ``(prev, key, typename)``
    tuple that the executor turns into a ``Path`` only when one is needed.
    """
    namespace: dict[str, Any] = {"MISS": MISS, "Undefined": Undefined, "inf": inf}
    lines = [
        "def run(ex, source, path):",
        "    r = {}",
        "    aw = []",
        "    is_awaitable = ex.is_awaitable",
        "    plain = ex._plain_types",
        "    try:",
        "        pass",
    ]
    emit = lines.append
    for index, field in enumerate(plan.fields):
        f = f"F{index}"
        namespace[f] = field
        key = repr(field.key)
        kind = field.kind
        if kind == TYPENAME:
            emit(f"        r[{key}] = {field.typename!r}")
            continue
        if kind == GENERIC:
            emit(f"        v = ex._execute_generic({f}, source, path)")
            emit("        if v is not Undefined:")
            emit(f"            r[{key}] = v")
            emit("            if is_awaitable(v):")
            emit(f"                aw.append({key})")
            continue
        if kind == OBJECT:
            _emit_object(emit, namespace, index, field)
            continue
        if kind != LEAF:
            emit(f"        v = ex._execute_read_field({f}, source, path)")
            emit(f"        r[{key}] = v")
            emit(
                "        if v is not None and type(v) is not dict and type(v) is not list"
                " and is_awaitable(v):"
            )
            emit(f"            aw.append({key})")
            continue
        _emit_read(emit, namespace, index, field)
        emit("        else:")
        check = _INLINE_CHECKS.get(field.coerce)  # type: ignore[arg-type]
        if check is not None:
            emit(f"            if {check}:")
            emit(f"                v = ex._leaf_miss({f}, source, v, path)")
            emit("                if v is not None and is_awaitable(v):")
            emit(f"                    aw.append({key})")
        else:
            namespace[f"C{index}"] = field.coerce
            emit(f"            c = C{index}(v)")
            emit("            if c is MISS:")
            emit(f"                v = ex._leaf_miss({f}, source, v, path)")
            emit("                if v is not None and is_awaitable(v):")
            emit(f"                    aw.append({key})")
            emit("            else:")
            emit("                v = c")
        emit(f"        r[{key}] = v")
    lines += [
        "    except Exception:",
        "        if aw:",
        "            ex.settle_in_background([r[k] for k in aw])",
        "        raise",
        "    if aw:",
        "        return ex._gather_fields(r, aw)",
        "    return r",
    ]
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<graphql_jit plan {plan.type.name}>", "exec")
    exec(code, namespace)  # noqa: S102  # generated from the plan, no request data
    run: PlanFunction = namespace["run"]
    return run


class _AttributeReader:
    """``getattr(source, name)``, which generated code inlines as ``source.name``."""

    __slots__ = ("__jit_attribute__", "_get")

    def __init__(self, name: str) -> None:
        self.__jit_attribute__ = name
        self._get = attrgetter(name)

    def __call__(self, source: Any) -> Any:
        return self._get(source)


def _emit_object(
    emit: Callable[[str], None], namespace: dict[str, Any], index: int, field: FieldPlan
) -> None:
    """An attribute read of an object completed by its plan, inline.

    The checks are those of ``execute_field`` and ``complete_value`` in their
    order (a callable for the default resolver, ``None``, an exception,
    ``Undefined``, an awaitable); an object of a type already seen to be plain
    (``_plain_types``) skips the ``is_awaitable`` call. Whatever is unusual
    goes to the stock completion.
    """
    f = f"F{index}"
    key = repr(field.key)
    namespace[f"P{index}"] = field.child
    _emit_read(emit, namespace, index, field)
    emit("        else:")
    emit("            if v is None:")
    if field.nullable:
        emit("                pass")
    else:
        emit(f"                v = ex._complete_read_value({f}, v, path)")
        emit("                if is_awaitable(v):")
        emit(f"                    aw.append({key})")
    if field.check_callable:
        emit("            elif callable(v):")
        emit(f"                v = ex._execute_generic({f}, source, path)")
        emit("                if is_awaitable(v):")
        emit(f"                    aw.append({key})")
    emit("            elif type(v) in plain and '__await__' not in v.__dict__:")
    _emit_complete_object(emit, namespace, index, field, "                ")
    emit("            elif isinstance(v, Exception) or v is Undefined or is_awaitable(v):")
    emit(f"                v = ex._complete_read_value({f}, v, path)")
    emit("                if is_awaitable(v):")
    emit(f"                    aw.append({key})")
    emit("            else:")
    emit("                ex._learn_plain(v)")
    _emit_complete_object(emit, namespace, index, field, "                ")
    emit(f"        r[{key}] = v")


def _emit_complete_object(
    emit: Callable[[str], None],
    namespace: dict[str, Any],
    index: int,
    field: FieldPlan,
    indent: str,
) -> None:
    f = f"F{index}"
    key = repr(field.key)
    object_type = field.object_type
    assert object_type is not None
    emit(f"{indent}p = (path, {key}, {field.parent_type.name!r})")
    emit(f"{indent}try:")
    if object_type.is_type_of is None:
        emit(f"{indent}    v = P{index}.run(ex, v, p)")
    elif field.type_check is not None:
        namespace[f"T{index}"] = field.type_check
        emit(f"{indent}    if T{index}(v, None) is True:")
        emit(f"{indent}        v = P{index}.run(ex, v, p)")
        emit(f"{indent}    else:")
        emit(f"{indent}        v = ex._checked_object({f}, v, p)")
    else:
        emit(f"{indent}    v = ex._checked_object({f}, v, p)")
    emit(f"{indent}    if type(v) is not dict:")
    emit(f"{indent}        v = ex._await_completed(v, {f}.return_type, {f}, p)")
    emit(f"{indent}        aw.append({key})")
    emit(f"{indent}except Exception as error:")
    emit(f"{indent}    ex._child_error({f}, error, p)")
    emit(f"{indent}    v = None")


def _emit_read(
    emit: Callable[[str], None], namespace: dict[str, Any], index: int, field: FieldPlan
) -> None:
    """``v = <read the field>``, an error going to the executor's handler."""
    read = field.read
    attribute = getattr(read, "__jit_attribute__", None)
    emit("        try:")
    if attribute is not None and attribute.isidentifier() and not iskeyword(attribute):
        emit(f"            v = source.{attribute}")
    else:
        namespace[f"R{index}"] = read
        emit(f"            v = R{index}(source)")
    emit("        except Exception as error:")
    emit(f"            v = ex._read_error(F{index}, error, path)")


def attribute_reader(name: str) -> Reader:
    """A reader with the semantics of ``getattr(source, name)``."""
    return _AttributeReader(name)


def default_resolver_reader(name: str) -> Reader:
    """A reader with the semantics of graphql-core's ``default_field_resolver``.

    The caller must hand callables back to the stock resolver, which calls them.
    """

    def read(source: Any) -> Any:
        if isinstance(source, Mapping):
            return source.get(name)
        return getattr(source, name, None)

    return read
