"""No "Did you mean ...?" in errors: fields, arguments, types and enum values.

Suggestions name parts of the schema, which is what turning introspection
off in production hides. graphql-core omits them from validation and from
variable coercion when asked (`hide_suggestions`); Strawberry does not ask,
so the validator and the executor class here do.
"""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, validate
from graphql.validation import ASTValidationRule
from strawberry.schema.schema import validate_document
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule


def validate_without_suggestions(
    schema: GraphQLSchema,
    document: DocumentNode,
    validation_rules: tuple[type[ASTValidationRule], ...],
) -> list[GraphQLError]:
    """Strawberry's `validate_document` (its two rules added), without suggestions."""
    rules = (*validation_rules, MaybeNullValidationRule, OneOfInputValidationRule)
    return validate(schema, document, rules, hide_suggestions=True)


def validator(suggestions: bool) -> Any:
    return validate_document if suggestions else validate_without_suggestions


def executor_without_suggestions(executor_class: type[Any]) -> type[Any]:
    """`executor_class` whose variable coercion errors carry no suggestions."""

    class QuietExecutor(executor_class):
        @classmethod
        def build(cls, *args: Any, **kwargs: Any) -> Any:
            kwargs["hide_suggestions"] = True
            return super().build(*args, **kwargs)

    QuietExecutor.__name__ = executor_class.__name__
    return QuietExecutor
