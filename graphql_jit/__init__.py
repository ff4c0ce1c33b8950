"""graphql_jit: a compiled executor and a document cache for graphql-core.

* ``CompiledExecutor`` (or ``CompiledExecutionMixin`` in front of any
  graphql-core ``Executor`` subclass): pass it as ``executor_class`` to
  ``graphql.execute`` (``execution_context_class`` in Strawberry). Each
  operation is planned once; plain attribute reads of scalars, enums, objects
  and lists are completed by the plan, everything else by graphql-core's own
  algorithm. Answers and errors are the stock ones.
* ``DocumentCache``: parsed and validated documents by the hash of their text.

Strawberry: ``graphql_jit.strawberry`` (``execution_context_class("compiled")``
and the ``CachedDocuments`` extension). Differential testing:
``graphql_jit.testing`` (a query generator and result comparison).
"""

from graphql_jit.compiler import OperationPlan
from graphql_jit.document_cache import CachedDocument, DocumentCache
from graphql_jit.executor import (
    CompiledExecutionMixin,
    CompiledExecutor,
    PlanCache,
    compiled_executor_class,
)

__all__ = [
    "CachedDocument",
    "CompiledExecutionMixin",
    "CompiledExecutor",
    "DocumentCache",
    "OperationPlan",
    "PlanCache",
    "compiled_executor_class",
]
