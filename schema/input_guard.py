"""Text inputs refuse control characters, whichever way they arrive.

PostgreSQL refuses NUL in text, and no other C0 control character (nor DEL)
means anything in this API's input, so a request carrying one is refused with
`BAD_USER_INPUT` before any resolver runs, and the data stays as it was.
TAB, LF and CR are ordinary text: a group's description or a reviewer's note
may span lines. Fields that must be one line refuse them in their own
validation (registration's names and address lines do, as `INVALID`).

A request's text reaches the resolvers as literals of the document or as
variable values (graphql-core's built-in `String` and `ID` scalars cannot be
replaced, so the check cannot live in them). `RefuseControlCharacters` checks
both, so every String and ID argument, input-object field and list item, at
any depth, is covered whichever executor runs the operation:
- literals by a validation rule, whose verdict is cached with the document;
- variable values (names and values, nested) when the operation is
  validated, before execution.
The operation name needs no check: a name holding a control character names
no operation of any document, so it is refused as unknown (`BAD_REQUEST`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule
from strawberry.extensions import AddValidationRules

from resolvers.errors import PublicError

# C0 controls but TAB (09), LF (0A) and CR (0D); and DEL.
CONTROL_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_character_in(text: str) -> str | None:
    """The first refused character of `text` as U+XXXX, or None."""
    found = CONTROL_CHARACTER.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def refused(where: str, character: str) -> PublicError:
    return PublicError(
        f"{where} contains the control character {character}; text may hold no control "
        "characters other than tab, line feed and carriage return.",
        "BAD_USER_INPUT",
    )


class ControlCharactersInLiterals(ValidationRule):
    """Every string literal of the document (block strings included)."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        character = control_character_in(node.value)
        if character is not None:
            error = refused("A string of the document", character)
            self.report_error(GraphQLError(error.message, node, extensions=error.extensions))


def control_character_in_value(value: Any) -> str | None:
    """The first refused character in any string of a JSON value (keys too)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            character = control_character_in(item)
            if character is not None:
                return character
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


class RefuseControlCharacters(AddValidationRules):
    def __init__(self) -> None:
        super().__init__([ControlCharactersInLiterals])

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        # Another check may have refused the request already (document bounds).
        variables = context.variables if context.pre_execution_errors is None else None
        for name, value in (variables or {}).items():
            character = control_character_in_value([name, value])
            if character is not None:
                # Set before validation runs, so that it is the answer (and no
                # validation result, cached or not, replaces it).
                context.pre_execution_errors = [refused(f"Variable ${printable(name)}", character)]
                break
        yield


def printable(text: str) -> str:
    """`text` with refused characters shown as U+XXXX, for messages."""
    return CONTROL_CHARACTER.sub(lambda m: f"U+{ord(m.group()):04X}", text)
