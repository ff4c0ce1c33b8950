"""One mechanism turns raised user errors into every mutation's `userErrors`."""

from __future__ import annotations

import pytest
import strawberry
from strawberry.types.base import get_object_definition

from config import Settings
from resolvers.errors import ErrorCode, UserError, UserErrors
from schema import Mutation, build_schema
from schema.mutations import MutationPayload, UserErrorsAsPayload, mutation


@strawberry.type
class EchoPayload(MutationPayload):
    echo: str | None = None


def _refuse(text: str) -> None:
    if not text:
        raise UserError(ErrorCode.REQUIRED, "Say something.", ["text"])
    if len(text) > 3:
        raise UserErrors(
            [
                UserError(ErrorCode.TOO_LONG, "At most 3.", ["text"]),
                UserError(ErrorCode.INVALID, "Not a word.", ["text"]),
            ]
        )


@strawberry.type
class EchoMutation:
    @mutation(description="Synchronous.")
    def echo(self, text: str) -> EchoPayload:
        _refuse(text)
        return EchoPayload(echo=text)

    @mutation(description="Asynchronous.")
    async def echo_later(self, text: str) -> EchoPayload:
        _refuse(text)
        return EchoPayload(echo=text)

    @mutation(description="Fails unexpectedly.")
    async def crash(self) -> EchoPayload:
        raise RuntimeError("boom")


@strawberry.type
class Query:
    ok: bool = True


ECHO_SCHEMA = strawberry.Schema(query=Query, mutation=EchoMutation)


@pytest.mark.parametrize("field", ["echo", "echoLater"])
async def test_raised_user_errors_become_the_payload_of_sync_and_async_mutations(
    field: str,
) -> None:
    query = (
        f"mutation($t: String!) {{ {field}(text: $t) "
        "{ echo userErrors { field message code } } }"
    )
    ok = await ECHO_SCHEMA.execute(query, {"t": "hi"})
    assert ok.errors is None and ok.data == {field: {"echo": "hi", "userErrors": []}}

    one = await ECHO_SCHEMA.execute(query, {"t": ""})
    assert one.errors is None
    assert one.data == {
        field: {
            "echo": None,
            "userErrors": [{"field": ["text"], "message": "Say something.", "code": "REQUIRED"}],
        }
    }

    several = await ECHO_SCHEMA.execute(query, {"t": "long"})
    assert several.errors is None
    assert several.data is not None
    assert [e["code"] for e in several.data[field]["userErrors"]] == ["TOO_LONG", "INVALID"]


async def test_an_unexpected_failure_is_not_turned_into_user_errors() -> None:
    result = await ECHO_SCHEMA.execute("mutation { crash { userErrors { code } } }")
    assert result.data is None
    assert result.errors is not None and "boom" in result.errors[0].message


def test_a_mutation_that_does_not_answer_a_payload_is_refused_when_the_schema_is_built() -> None:
    @strawberry.type
    class BadMutation:
        @mutation(description="Answers a bare string.")
        def bad(self) -> str:
            return "no payload"

    with pytest.raises(TypeError, match="must return a MutationPayload"):
        strawberry.Schema(query=Query, mutation=BadMutation)


def test_every_mutation_of_the_schema_reports_user_errors_through_the_payload() -> None:
    fields = get_object_definition(Mutation, strict=True).fields
    assert len(fields) >= 16
    for field in fields:
        assert any(isinstance(e, UserErrorsAsPayload) for e in field.extensions), field.name
        assert issubclass(field.type, MutationPayload), field.name  # type: ignore[arg-type]


def test_the_graphql_error_code_enum_is_the_domain_enum() -> None:
    schema = build_schema(Settings(env="test"))
    enum = schema._schema.type_map["UserErrorCode"]
    assert list(enum.values) == [code.value for code in ErrorCode]  # type: ignore[attr-defined]
