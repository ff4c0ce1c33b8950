"""The compiled executor: graphql-core's executor with planned selection sets.

``CompiledExecutionMixin`` goes in front of any subclass of graphql-core's
``Executor`` (``CompiledExecutor`` puts it in front of ``IncrementalExecutor``,
the class that ``graphql.execute`` and Strawberry use) and overrides two hooks:

* ``execute_root_grouped_field_set``: a query's (or subscription event's) root
  fields run from the operation's plan.
* ``collect_and_execute_subfields``: an object completed by the stock
  algorithm (an abstract type once its runtime type is known, a mutation's
  payload, anything below a selection set that is not static) runs from the
  plan of its sub-selection when that selection is static.

A planned selection set is a generated function (``compiler.generate``): the
stock ``execute_fields`` unrolled for its fields. Everything unusual goes to
graphql-core's own code, called with the same arguments: ``complete_value``
for any value a fast path does not recognise, ``complete_list_item_value`` for
list items that are not plain objects, ``handle_field_error`` for every error,
``gather_with_cancel`` for awaitables, in the same order and with the same
nesting as the stock executor (so concurrent resolvers are scheduled alike).

Where it departs from the stock algorithm, and why the result cannot differ:

* No ``GraphQLResolveInfo`` and no ``Path`` is built for a planned field unless
  it is needed (an error, a resolver call, a value handed back to the stock
  completion): positions travel as plain ``(prev, key, typename)`` tuples and
  become ``Path``s (which compare by value) only then.
* A field whose resolver is a plain attribute read (checked when the plan is
  built, ``attribute_reader``) is read directly. With graphql-core's default
  resolver, a value that turns out to be callable is handed back to
  ``execute_field``, which reads the attribute a second time and calls it.
* A field with a resolver of its own is called as ``execute_field`` calls it
  (``info``, coerced arguments, same awaitable handling) but from what the
  plan knows: its definition, its nodes, and its coerced arguments when they
  are literals of immutable values (coercion is a pure function of the
  literal, so it is done once per plan).
* Leaf values of the exact Python type a built-in scalar returns unchanged
  are taken as they are (``compiler`` has the checks); enum members are
  memoised by identity; other values go to ``coerce_output_value``.
* ``is_awaitable`` is asked once per value, as in the stock executor, except
  for objects of a class already seen to be plain (``_learn_plain``), for
  which graphql-core's and Strawberry's predicates can only answer False.
* An ``is_type_of`` that does not read ``info`` (``is_type_of_check``) is
  called without building one; when it does not answer True, the stock
  ``complete_object_value`` logic runs with ``info``.
* Middleware (``MiddlewareManager`` with middlewares) wraps every resolver,
  so no field is a plain read: such executions run entirely stock.

Plans are kept per operation node, for as long as that node lives (in practice
as long as the document cache keeps the document).
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from enum import Enum
from types import CoroutineType, GeneratorType
from typing import TYPE_CHECKING, Any, ClassVar, cast

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    VariableNode,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
    GroupedFieldSet,
    collect_fields,
)
from graphql.execution.executor import (
    Executor,
    default_field_resolver,
    invalid_return_type_error,
)
from graphql.execution.incremental import IncrementalExecutor
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined, gather_with_cancel
from graphql.pyutils.is_awaitable import is_awaitable as default_is_awaitable

from graphql_jit.compiler import (
    LEAF_LIST,
    MISS,
    FieldPlan,
    LeafCoercers,
    ObjectPlan,
    OperationPlan,
    Reader,
    default_resolver_reader,
    is_static_selection,
)

if TYPE_CHECKING:
    from typing import TypeGuard

    from graphql.pyutils import AwaitableOrValue

__all__ = ["CompiledExecutionMixin", "CompiledExecutor", "PlanCache", "compiled_executor_class"]

_NO_TYPES: frozenset[type] = frozenset()
_NEVER_PLAIN = (BaseException, CoroutineType, GeneratorType, type(Undefined), type)
_PLAIN_NAMES = frozenset({"__await__", "__getattr__", "__getattribute__", "__class__", "__call__"})
_MAX_PLAIN_TYPES = 10_000


class PlanCache:
    """Operation plans keyed by the identity of their operation node.

    An entry is dropped when its operation node is garbage collected, so the
    cache is bounded by whatever keeps documents alive (the document cache).
    Plans hold field nodes but never the operation node itself. A plan is
    built with its executor class's hooks (``attribute_reader``,
    ``is_type_of_check``): give each executor class its own cache.
    """

    __slots__ = ("__weakref__", "_plans", "coercers", "plain_types")

    def __init__(self) -> None:
        self._plans: dict[int, OperationPlan] = {}
        self.coercers = LeafCoercers()
        self.plain_types: set[type] = set()

    def __len__(self) -> int:
        return len(self._plans)

    def get(self, operation: OperationDefinitionNode) -> OperationPlan | None:
        return self._plans.get(id(operation))

    def put(self, operation: OperationDefinitionNode, plan: OperationPlan) -> None:
        key = id(operation)
        if key not in self._plans:
            weakref.finalize(operation, self._plans.pop, key, None)
        self._plans[key] = plan

    def clear(self) -> None:
        self._plans.clear()


_DEFAULT_PLANS = PlanCache()


class CompiledExecutionMixin:
    """Overrides of graphql-core's ``Executor`` that run selection sets from plans."""

    plan_cache: ClassVar[PlanCache] = _DEFAULT_PLANS
    # ``is_awaitable`` predicates whose answer for a plain type is known (see
    # ``_learn_plain``); integrations add theirs.
    known_awaitable_predicates: ClassVar[tuple[Any, ...]] = (default_is_awaitable,)
    _plain_types: set[type] | frozenset[type] = _NO_TYPES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.is_awaitable in self.known_awaitable_predicates:
            self._plain_types = self.plan_cache.plain_types

    # The two hooks below are class methods: a plan keeps them, and must not keep
    # an executor (its request, its operation node: the plan would never die).

    @classmethod
    def is_type_of_check(cls, is_type_of: Callable[..., Any]) -> Callable[[Any, Any], Any] | None:
        """A function that answers as ``is_type_of(value, info)`` without ``info``,
        if there is one: then no ``info`` is built to check a planned object.
        Integrations answer for the functions they generate; the base has none."""
        return None

    if TYPE_CHECKING:  # provided by graphql-core's Executor
        schema: Any
        fragments: Any
        operation: OperationDefinitionNode
        variable_values: Any
        field_resolver: Any
        middleware_manager: Any
        hide_suggestions: bool
        abort_signal: Any
        is_awaitable: Callable[[Any], TypeGuard[Awaitable]]

        def execute_field(
            self,
            parent_type: GraphQLObjectType,
            source: Any,
            field_details_list: FieldDetailsList,
            path: Path,
            position_context: Any,
        ) -> Any: ...

        def build_resolve_info(
            self,
            field_def: GraphQLField,
            field_nodes: list[Any],
            parent_type: GraphQLObjectType,
            path: Path,
        ) -> Any: ...

        def handle_field_error(
            self,
            raw_error: Exception,
            return_type: GraphQLOutputType,
            field_details_list: FieldDetailsList,
            path: Path,
        ) -> None: ...

        def complete_value(
            self,
            return_type: GraphQLOutputType,
            field_details_list: FieldDetailsList,
            info: Any,
            path: Path,
            result: Any,
            position_context: Any,
        ) -> Any: ...

        complete_awaitable_value = complete_value  # the same signature

        def complete_list_item_value(
            self,
            item: Any,
            complete_results: list[Any],
            item_type: GraphQLOutputType,
            field_details_list: FieldDetailsList,
            info: Any,
            item_path: Path,
            position_context: Any,
        ) -> bool: ...

        def complete_awaitable_list_item_value(
            self,
            item: Any,
            item_type: GraphQLOutputType,
            field_details_list: FieldDetailsList,
            info: Any,
            item_path: Path,
            position_context: Any,
        ) -> Any: ...

        def settle_in_background(self, awaitables: list[Awaitable[Any]]) -> None: ...

        async def with_abort_signal(self, awaitable: Awaitable[Any]) -> Any: ...

    # -- plan lookup -----------------------------------------------------------

    @classmethod
    def attribute_reader(
        cls, field_name: str, field_def: GraphQLField, field_resolver: Any
    ) -> tuple[Reader, bool] | None:
        """How to read this field's value directly, if its resolver is a plain read.

        Returns a reader and whether a callable value must be handed back to the
        stock resolver; ``None`` when the field must run through its resolver.
        ``field_resolver`` is the executor's resolver for fields without one.
        The base implementation recognises graphql-core's default resolver;
        integrations (see ``graphql_jit.strawberry``) add their own.
        """
        if field_def.resolve is None and field_resolver is default_field_resolver:
            return default_resolver_reader(field_name), True
        return None

    def _jit_plan(self) -> OperationPlan | None:
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:
            return None  # middleware wraps every resolver: no field is a plain read
        cache = self.plan_cache
        operation = self.operation
        plan = cache.get(operation)
        if (
            plan is None
            or plan.schema is not self.schema
            or plan.field_resolver is not self.field_resolver
        ):
            plan = OperationPlan(
                self.schema,
                self.fragments,
                self.field_resolver,
                type(self).attribute_reader,
                cache.coercers,
                type(self).is_type_of_check,
            )
            plan.hide_suggestions = self.hide_suggestions
            cache.put(operation, plan)
        return plan

    # -- overridden hooks --------------------------------------------------------

    def execute_root_grouped_field_set(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: GroupedFieldSet,
        serially: bool,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        if not serially and position_context is None:
            plan = self._jit_plan()
            if plan is not None:
                root = plan.root
                if root is None and is_static_selection(
                    self.operation.selection_set, self.fragments
                ):
                    collected = collect_fields(
                        self.schema,
                        self.fragments,
                        self.variable_values,
                        root_type,
                        self.operation,
                        self.hide_suggestions,
                    )
                    if not collected.new_defer_usages:
                        root = plan.root = plan.plan_fields(root_type, collected.grouped_field_set)
                if root is not None and root.type is root_type:
                    return self.execute_plan(root, root_value, None)
        return super().execute_root_grouped_field_set(  # type: ignore[misc]
            root_type, root_value, grouped_field_set, serially, position_context
        )

    def collect_and_execute_subfields(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        if position_context is None:
            plan = self._jit_plan()
            if plan is not None:
                child = plan.foreign_child_plan(return_type, field_details_list)
                if child is not None:
                    return self.execute_plan(child, result, path)
        return super().collect_and_execute_subfields(  # type: ignore[misc]
            return_type, field_details_list, path, result, position_context
        )

    # -- planned execution ---------------------------------------------------------

    def execute_plan(
        self, plan: ObjectPlan, source: Any, path: Path | None
    ) -> AwaitableOrValue[dict[str, Any]]:
        """Execute a planned selection set (``execute_fields`` of the stock executor)."""
        return plan.run(self, source, path)

    def _gather_fields(
        self, results: dict[str, Any], awaitable_fields: list[str]
    ) -> Awaitable[dict[str, Any]]:
        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                key = awaitable_fields[0]
                results[key] = await results[key]
            else:
                awaited = await gather_with_cancel(*(results[key] for key in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def _read_error(self, field: FieldPlan, raw_error: Exception, path: Any) -> None:
        """The resolver (an attribute read) raised: ``execute_field``'s handler."""
        self.handle_field_error(
            raw_error,
            field.return_type,
            field.field_details_list,
            _field_path(path, field),
        )

    def _leaf_miss(self, field: FieldPlan, source: Any, value: Any, path: Any) -> Any:
        """A leaf value that the inline check did not accept."""
        if value is None and field.nullable:
            return None
        if field.check_callable and callable(value):
            return self.execute_field(
                field.parent_type, source, field.field_details_list, _field_path(path, field), None
            )
        return self._complete_read_value(field, value, path)

    def _child_error(self, field: FieldPlan, raw_error: Exception, field_path: Any) -> None:
        """Completing a planned child object raised: ``execute_field``'s handler."""
        self.handle_field_error(
            raw_error, field.return_type, field.field_details_list, _path(field_path)
        )

    def _execute_generic(self, field: FieldPlan, source: Any, path: Any) -> Any:
        """``execute_field`` for a field with a resolver of its own.

        The same steps as graphql-core's, with what the plan knows already
        (the field definition, its nodes, its arguments when they are
        literals) and a planned completion of the object it returns.
        """
        field_path = Path(_prev(path), field.key, field.parent_type.name)
        return_type = field.return_type
        details = field.field_details_list
        info = self.build_resolve_info(
            field.field_def, field.field_nodes, field.parent_type, field_path
        )
        try:
            args = field.args
            if args is None:
                node = details[0].node
                args = get_argument_values(
                    field.field_def,
                    node,
                    self.variable_values,
                    details[0].fragment_variable_values,
                    self.hide_suggestions,
                )
                if _is_literal(node) and _immutable(args):
                    field.args = args
            result = field.resolve(source, info, **args)
            if self.is_awaitable(result):
                if field.object_type is not None and self.abort_signal is None:
                    return self._complete_awaitable_object(field, info, field_path, result)
                return self.complete_awaitable_value(
                    return_type, details, info, field_path, result, None
                )
            completed = self._complete_object_or_value(field, info, field_path, result)
            if self.is_awaitable(completed):
                return self._await_completed(completed, return_type, field, field_path)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, field_path)
            return None
        return completed

    def _complete_object_or_value(
        self, field: FieldPlan, info: Any, field_path: Path, result: Any
    ) -> Any:
        """``complete_value``, with plans for an object or a list of objects."""
        if result is not None and result is not Undefined and not isinstance(result, Exception):
            child = field.object_child
            if child is not None:
                type_check = field.type_check
                if type_check is not None and type_check(result, None) is True:
                    return child.run(self, result, field_path)
                return self._complete_checked(child, field, info, field_path, result)
            if field.child is not None and (type(result) is list or type(result) is tuple):
                return self._complete_object_list(field, result, field_path, info)
        return self.complete_value(
            field.return_type, field.field_details_list, info, field_path, result, None
        )

    def _complete_checked(
        self, child: ObjectPlan, field: FieldPlan, info: Any, path: Any, result: Any
    ) -> AwaitableOrValue[dict[str, Any]]:
        """``complete_object_value`` with a plan: the ``is_type_of`` check, then the plan."""
        return_type = cast("GraphQLObjectType", field.object_type)
        is_type_of = return_type.is_type_of
        if is_type_of is not None:
            checked = is_type_of(result, info)
            if self.is_awaitable(checked):

                async def execute_subfields_async() -> dict[str, Any]:
                    if not await self.with_abort_signal(checked):
                        raise invalid_return_type_error(
                            return_type, result, field.field_details_list
                        )
                    sub_fields = child.run(self, result, path)
                    if self.is_awaitable(sub_fields):
                        return await sub_fields
                    return sub_fields

                return execute_subfields_async()
            if not checked:
                raise invalid_return_type_error(return_type, result, field.field_details_list)
        return child.run(self, result, path)

    def _checked_object(
        self, field: FieldPlan, value: Any, field_path: Any
    ) -> AwaitableOrValue[dict[str, Any]]:
        """``complete_object_value`` with ``info``, for a type that checks ``is_type_of``."""
        real_path = _path(field_path)
        info = self.build_resolve_info(
            field.field_def, field.field_nodes, field.parent_type, real_path
        )
        return self._complete_checked(
            field.child,  # type: ignore[arg-type]
            field,
            info,
            real_path,
            value,
        )

    def _learn_plain(self, value: Any) -> None:
        """Remember the type of a value found not awaitable, when that answer holds
        for every instance of the type without asking again.

        Only with a known ``is_awaitable`` (graphql-core's or Strawberry's): for a
        type that is not an exception, a coroutine or a generator, and defines
        no ``__await__``, ``__getattr__``, ``__getattribute__``, ``__class__`` or
        ``__call__``, both answer False unless the instance's own ``__dict__``
        holds ``__await__``, which the generated code still checks.
        """
        plain = self._plain_types
        if not isinstance(plain, set):
            return
        type_ = type(value)
        if type_ in plain or issubclass(type_, _NEVER_PLAIN):
            return
        if not getattr(type_, "__dictoffset__", 0):
            return  # no instance __dict__
        for klass in type_.__mro__[:-1]:
            if not _PLAIN_NAMES.isdisjoint(vars(klass)):
                return
        if len(plain) < _MAX_PLAIN_TYPES:
            plain.add(type_)

    def _read_checked_object(self, field: FieldPlan, value: Any, path: Any) -> Any:
        """A planned object read from an attribute, whose type checks ``is_type_of``."""
        field_path = _field_path(path, field)
        info = self.build_resolve_info(
            field.field_def, field.field_nodes, field.parent_type, field_path
        )
        try:
            completed = self._complete_checked(
                field.child,  # type: ignore[arg-type]
                field,
                info,
                field_path,
                value,
            )
            if type(completed) is not dict:
                return self._await_completed(completed, field.return_type, field, field_path)
        except Exception as raw_error:
            self.handle_field_error(
                raw_error, field.return_type, field.field_details_list, field_path
            )
            return None
        return completed

    async def _complete_awaitable_object(
        self, field: FieldPlan, info: Any, field_path: Path, result: Any
    ) -> Any:
        """``complete_awaitable_value`` (without abort signal) for a planned object."""
        try:
            resolved = await result
            completed = self._complete_object_or_value(field, info, field_path, resolved)
            if self.is_awaitable(completed):
                completed = await completed
        except Exception as raw_error:
            self.handle_field_error(
                raw_error, field.return_type, field.field_details_list, field_path
            )
            completed = None
        return completed

    def _execute_read_field(self, field: FieldPlan, source: Any, path: Any) -> Any:
        """An attribute read of a list of leaves or a list of objects."""
        try:
            value = field.read(source)  # type: ignore[misc]
        except Exception as raw_error:
            self._read_error(field, raw_error, path)
            return None
        if value is None:
            if field.nullable:
                return None
            return self._complete_read_value(field, value, path)
        if field.check_callable and callable(value):
            return self._execute_generic(field, source, path)
        kind = field.kind
        if kind == LEAF_LIST:
            if type(value) is list or type(value) is tuple:
                coerce = field.coerce
                completed_items = [coerce(item) for item in value]  # type: ignore[misc]
                for item in completed_items:
                    if item is MISS:
                        break
                else:
                    return completed_items
            return self._complete_read_value(field, value, path)
        if value is Undefined or isinstance(value, Exception) or self.is_awaitable(value):
            return self._complete_read_value(field, value, path)
        field_path = (path, field.key, field.parent_type.name)
        try:
            if type(value) is list or type(value) is tuple:
                completed = self._complete_object_list(field, value, field_path)
            else:
                return self._complete_read_value(field, value, path)
            if type(completed) is not dict and type(completed) is not list:
                return self._await_completed(completed, field.return_type, field, field_path)
        except Exception as raw_error:
            self.handle_field_error(
                raw_error, field.return_type, field.field_details_list, _path(field_path)
            )
            return None
        return completed

    def _complete_object_list(
        self,
        field: FieldPlan,
        items: list[Any] | tuple[Any, ...],
        field_path: Any,
        info: Any = None,
    ) -> AwaitableOrValue[list[Any]]:
        """``complete_iterable_value`` for a list of planned objects."""
        child = cast("ObjectPlan", field.child)
        run = child.run
        checked = cast("GraphQLObjectType", field.object_type).is_type_of is not None
        item_type: Any = field.item_type
        details = field.field_details_list
        is_awaitable = self.is_awaitable
        completed_results: list[Any] = []
        append = completed_results.append
        awaitable_indices: list[int] = []
        plain = self._plain_types
        type_check = field.type_check
        try:
            for index, item in enumerate(items):
                item_path = (field_path, index, None)
                if not (type(item) in plain and "__await__" not in item.__dict__) and (
                    item is None
                    or item is Undefined
                    or isinstance(item, Exception)
                    or is_awaitable(item)
                ):
                    if info is None:
                        info = self.build_resolve_info(
                            field.field_def, field.field_nodes, field.parent_type, _path(field_path)
                        )
                    if is_awaitable(item):
                        append(
                            self.complete_awaitable_list_item_value(
                                item, item_type, details, info, _path(item_path), None
                            )
                        )
                        awaitable_indices.append(index)
                    elif self.complete_list_item_value(
                        item, completed_results, item_type, details, info, _path(item_path), None
                    ):
                        awaitable_indices.append(index)
                    continue
                if type(item) not in plain:
                    self._learn_plain(item)
                try:
                    if not checked or (type_check is not None and type_check(item, None) is True):
                        completed = run(self, item, item_path)
                    else:
                        if info is None:
                            info = self.build_resolve_info(
                                field.field_def,
                                field.field_nodes,
                                field.parent_type,
                                _path(field_path),
                            )
                        completed = self._complete_checked(
                            child, field, info, _path(item_path), item
                        )
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, details, _path(item_path))
                    append(None)
                    continue
                if type(completed) is dict:
                    append(completed)
                else:
                    append(self._await_completed(completed, item_type, field, item_path))
                    awaitable_indices.append(index)
        except Exception:
            if awaitable_indices:
                self.settle_in_background([completed_results[i] for i in awaitable_indices])
            raise

        if not awaitable_indices:
            return completed_results

        async def get_completed_results() -> list[Any]:
            if len(awaitable_indices) == 1:
                index = awaitable_indices[0]
                completed_results[index] = await completed_results[index]
            else:
                awaited = await gather_with_cancel(
                    *(completed_results[i] for i in awaitable_indices)
                )
                for index, sub_result in zip(awaitable_indices, awaited, strict=True):
                    completed_results[index] = sub_result
            return completed_results

        return get_completed_results()

    async def _await_completed(
        self,
        completed: Any,
        return_type: GraphQLOutputType,
        field: FieldPlan,
        path: Any,
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field.field_details_list, _path(path))
            return None

    def _complete_read_value(self, field: FieldPlan, value: Any, path: Any) -> Any:
        """The tail of ``execute_field`` for a value already read: stock completion."""
        field_path = _field_path(path, field)
        return_type = field.return_type
        details = field.field_details_list
        info = self.build_resolve_info(
            field.field_def, field.field_nodes, field.parent_type, field_path
        )
        try:
            if self.is_awaitable(value):
                return self.complete_awaitable_value(
                    return_type, details, info, field_path, value, None
                )
            completed = self.complete_value(return_type, details, info, field_path, value, None)
            if self.is_awaitable(completed):
                return self._await_completed(completed, return_type, field, field_path)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, field_path)
            return None
        return completed


_IMMUTABLE = (str, int, float, bool, type(None), Enum)


def _immutable(args: dict[str, Any]) -> bool:
    return all(isinstance(value, _IMMUTABLE) for value in args.values())


def _is_literal(node: FieldNode) -> bool:
    """Whether a field's arguments are literals (no variable anywhere in them)."""
    stack: list[Any] = [argument.value for argument in node.arguments or ()]
    while stack:
        value = stack.pop()
        if isinstance(value, VariableNode):
            return False
        if isinstance(value, ListValueNode):
            stack.extend(value.values)
        elif isinstance(value, ObjectValueNode):
            stack.extend(item.value for item in value.fields)
    return True


def _prev(path: Any) -> Path | None:
    """Turn a lazy ``(prev, key, typename)`` position into graphql-core's ``Path``.

    Planned execution passes positions as plain tuples (cheap to build, never
    needed unless something goes wrong); ``Path`` compares by value, so a
    position built twice is the same position for ``CollectedErrors``.
    """
    if path is None or type(path) is Path:
        return path
    return Path(_prev(path[0]), path[1], path[2])


def _path(path: Any) -> Path:
    """``_prev`` of a position that is not the root."""
    return cast("Path", _prev(path))


def _field_path(path: Any, field: FieldPlan) -> Path:
    return Path(_prev(path), field.key, field.parent_type.name)


class CompiledExecutor(CompiledExecutionMixin, IncrementalExecutor):
    """graphql-core's default executor with compiled selection sets."""


def compiled_executor_class(
    base: type[Executor] = IncrementalExecutor,
    plan_cache: PlanCache | None = None,
    mixin: type[CompiledExecutionMixin] = CompiledExecutionMixin,
) -> type[Executor]:
    """A compiled executor class over ``base`` with its own plan cache."""
    return type(
        f"Compiled{base.__name__}",
        (mixin, base),
        {"plan_cache": plan_cache if plan_cache is not None else PlanCache()},
    )
