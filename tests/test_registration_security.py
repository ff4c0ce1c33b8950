"""Security rules of registration (DESIGN §5): codes, enumeration, throttling, input policy."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from config import Settings
from tests.support.app import GraphQLClient, without_throttles
from tests.support.registration import (
    CREATE_ACCOUNT,
    ERRORS,
    REQUEST_RESET,
    RESEND,
    SIGN_IN,
    VERIFY_EMAIL,
    account_input,
    error_codes,
    latest_code,
    mails_to,
    no_errors,
    payload,
    signed_up,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return without_throttles(settings)


async def created(client: GraphQLClient, email: str) -> None:
    no_errors(
        await client.execute(CREATE_ACCOUNT, {"input": account_input(email)}), "createAccount"
    )


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def verify(client: GraphQLClient, email: str, code: str) -> dict[str, Any]:
    return await client.execute(VERIFY_EMAIL, {"email": email, "code": code})


# ------------------------------------------------------------ one-time codes


async def test_the_code_is_six_digits_and_stored_only_as_a_keyed_hash(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await created(client, "hash@codes.example")
    code = await latest_code(db, "hash@codes.example")
    assert len(code) == 6 and code.isdigit()
    row = await db.fetchrow("select code_hash, expires_at - created_at as ttl from one_time_codes")
    assert row is not None
    assert len(row["code_hash"]) == 32 and code.encode() not in row["code_hash"]
    assert row["ttl"].total_seconds() == 600


async def test_five_wrong_tries_spend_the_code(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await created(client, "five@codes.example")
    code = await latest_code(db, "five@codes.example")
    answers = [
        error_codes(await verify(client, "five@codes.example", wrong(code)), "verifyEmail")
        for _ in range(5)
    ]
    # The fifth spends the code, and says only what any wrong code says.
    assert answers == [["INVALID_CODE"]] * 5
    spent = await verify(client, "five@codes.example", code)
    assert error_codes(spent, "verifyEmail") == ["TOO_MANY_ATTEMPTS"]
    assert payload(spent, "verifyEmail")["session"] is None
    assert await db.fetchval("select step from users") == "VERIFY_EMAIL"


async def test_twenty_aliased_wrong_codes_in_one_request_are_refused_before_any_try(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await created(client, "alias@codes.example")
    code = await latest_code(db, "alias@codes.example")
    fields = " ".join(
        f'a{i}: verifyEmail(email: "alias@codes.example", code: "{wrong(code)}") {{ {ERRORS} }}'
        for i in range(20)
    )
    body = await client.execute(f"mutation {{ {fields} }}")
    assert body["errors"][0]["extensions"]["code"] == "TOO_MANY_CREDENTIAL_MUTATIONS"
    assert await db.fetchval("select attempts from one_time_codes") == 0
    no_errors(await verify(client, "alias@codes.example", code), "verifyEmail")


async def test_twenty_concurrent_wrong_codes_spend_the_code(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await created(client, "crowd@codes.example")
    code = await latest_code(db, "crowd@codes.example")
    answers = await asyncio.gather(
        *(verify(client, "crowd@codes.example", wrong(code)) for _ in range(20))
    )
    codes = sorted(error_codes(answer, "verifyEmail")[0] for answer in answers)
    assert codes == ["INVALID_CODE"] * 20
    assert await db.fetchval("select attempts from one_time_codes") == 5
    right = await verify(client, "crowd@codes.example", code)
    assert error_codes(right, "verifyEmail") == ["TOO_MANY_ATTEMPTS"]


async def test_an_expired_code_no_longer_verifies(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await created(client, "late@codes.example")
    code = await latest_code(db, "late@codes.example")
    await db.execute("update one_time_codes set expires_at = now() - interval '1 second'")
    answer = await verify(client, "late@codes.example", code)
    assert error_codes(answer, "verifyEmail") == ["CODE_EXPIRED"]
    assert await db.fetchval("select verified_at from users") is None


async def test_a_new_code_waits_sixty_seconds_and_the_old_one_stays_valid_beside_it(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await created(client, "again@codes.example")
    first = await latest_code(db, "again@codes.example")
    too_soon = await client.execute(RESEND, {"email": "again@codes.example"})
    assert error_codes(too_soon, "resendVerificationCode") == ["RATE_LIMITED"]
    message = payload(too_soon, "resendVerificationCode")["userErrors"][0]["message"]
    assert "seconds" in message and any(ch.isdigit() for ch in message)
    assert await mails_to(db, "again@codes.example") == ["verification_code"]

    await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")
    no_errors(
        await client.execute(RESEND, {"email": "again@codes.example"}), "resendVerificationCode"
    )
    # Anyone may ask for a code: the one the owner holds is not cancelled by it.
    assert await db.fetchval("select count(*) from one_time_codes where consumed_at is null") == 2
    no_errors(await verify(client, "again@codes.example", first), "verifyEmail")


async def test_at_most_five_codes_an_hour_go_to_one_address(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await created(client, "hourly@codes.example")
    for _ in range(4):
        await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")
        no_errors(
            await client.execute(RESEND, {"email": "hourly@codes.example"}),
            "resendVerificationCode",
        )
    await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")
    sixth = await client.execute(RESEND, {"email": "hourly@codes.example"})
    assert error_codes(sixth, "resendVerificationCode") == ["RATE_LIMITED"]
    assert (await mails_to(db, "hourly@codes.example")).count("verification_code") == 5
    # An hour after the first send, one more is allowed.
    await db.execute("update code_sends set sent_at = sent_at - interval '55 minutes'")
    no_errors(
        await client.execute(RESEND, {"email": "hourly@codes.example"}), "resendVerificationCode"
    )


async def test_concurrent_resends_send_one_code(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await created(client, "burst@codes.example")
    await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")
    answers = await asyncio.gather(
        *(client.execute(RESEND, {"email": "burst@codes.example"}) for _ in range(10))
    )
    outcomes = sorted(
        (error_codes(answer, "resendVerificationCode") or ["OK"])[0] for answer in answers
    )
    assert outcomes == ["OK"] + ["RATE_LIMITED"] * 9
    assert (await mails_to(db, "burst@codes.example")).count("verification_code") == 2


# -------------------------------------------------------------- enumeration


async def test_create_account_answers_alike_for_a_taken_address_and_mails_its_owner(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await signed_up(client, db, "owner@taken.example")
    before = await db.fetchrow("select password_hash, first_name from users")
    await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")
    taken = await client.execute(
        CREATE_ACCOUNT,
        {
            "input": account_input(
                "owner@taken.example", firstName="Mallory", password="another-fine-passphrase"
            )
        },
    )
    fresh = await client.execute(
        CREATE_ACCOUNT,
        {"input": account_input("new@taken.example", password="another-fine-passphrase")},
    )
    assert taken == fresh
    no_errors(fresh, "createAccount")
    assert await db.fetchrow("select password_hash, first_name from users order by id") == before
    assert await mails_to(db, "owner@taken.example") == ["verification_code", "account_exists"]


async def test_resend_and_reset_answer_alike_for_known_and_unknown_addresses(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await created(client, "known@enum.example")
    await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")
    for query, name in (
        (RESEND, "resendVerificationCode"),
        (REQUEST_RESET, "requestPasswordReset"),
    ):
        known = [await client.execute(query, {"email": "known@enum.example"}) for _ in range(2)]
        unknown = [await client.execute(query, {"email": "ghost@enum.example"}) for _ in range(2)]
        assert known == unknown, name
        assert error_codes(known[1], name) == ["RATE_LIMITED"]
        await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")
    assert await mails_to(db, "ghost@enum.example") == []


async def test_sign_in_says_only_invalid_credentials_for_unknown_and_wrong(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await signed_up(client, db, "real@signin.example")
    wrong_password = await client.execute(
        SIGN_IN, {"email": "real@signin.example", "password": "not-the-password-9"}
    )
    unknown = await client.execute(
        SIGN_IN, {"email": "nobody@signin.example", "password": "not-the-password-9"}
    )
    assert wrong_password == unknown
    assert error_codes(unknown, "signIn") == ["INVALID_CREDENTIALS"]
    assert payload(unknown, "signIn")["userErrors"][0]["field"] is None


# ------------------------------------------------------------- input policy


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"email": "jane@gmail.com"}, "email", "PERSONAL_EMAIL_DOMAIN"),
        ({"email": "jane@hotmail.fr"}, "email", "PERSONAL_EMAIL_DOMAIN"),
        ({"email": "jane@mailinator.com"}, "email", "DISPOSABLE_EMAIL_DOMAIN"),
        ({"email": "jane@x.mailinator.com"}, "email", "DISPOSABLE_EMAIL_DOMAIN"),
        ({"email": "not an email"}, "email", "INVALID"),
        ({"email": ""}, "email", "REQUIRED"),
        ({"email": "j" * 250 + "@acme.example"}, "email", "TOO_LONG"),
        ({"password": "short-pw-1"}, "password", "WEAK_PASSWORD"),
        ({"password": "password1234"}, "password", "WEAK_PASSWORD"),
        ({"password": "aaaaaaaaaaaaaaaa"}, "password", "WEAK_PASSWORD"),
        ({"password": "Long-enough-but-" + "x" * 120}, "password", "TOO_LONG"),
        ({"firstName": "  "}, "firstName", "REQUIRED"),
        ({"lastName": "D" * 101}, "lastName", "TOO_LONG"),
        ({"country": "France"}, "country", "INVALID"),
        ({"preferredLanguage": "de"}, "preferredLanguage", "INVALID"),
    ],
)
async def test_create_account_refuses_bad_input_with_the_field_and_changes_nothing(
    client: GraphQLClient,
    db: asyncpg.Connection,
    overrides: dict[str, str],
    field: str,
    code: str,
) -> None:
    answer = await client.execute(
        CREATE_ACCOUNT, {"input": {**account_input("jane@acme.example"), **overrides}}
    )
    result = payload(answer, "createAccount")
    assert result["registration"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [(["input", field], code)]
    assert await db.fetchval("select count(*) from users") == 0
    assert await db.fetchval("select count(*) from mail_outbox") == 0


async def test_every_bad_field_is_reported_at_once(client: GraphQLClient) -> None:
    answer = await client.execute(
        CREATE_ACCOUNT,
        {"input": account_input("a@gmail.com", password="short", firstName="", lastName="")},
    )
    fields = sorted(e["field"][1] for e in payload(answer, "createAccount")["userErrors"])
    assert fields == ["email", "firstName", "lastName", "password"]


async def test_messages_follow_accept_language_and_mails_the_preferred_language(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    answer = await client.execute(
        CREATE_ACCOUNT,
        {"input": account_input("jean@gmail.com")},
        headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"},
    )
    message = payload(answer, "createAccount")["userErrors"][0]["message"]
    assert "professionnelle" in message
    await client.execute(
        CREATE_ACCOUNT, {"input": account_input("jean@acme.example", preferredLanguage="fr")}
    )
    row = await db.fetchrow("select subject, body, language from mail_outbox")
    assert row is not None
    assert row["language"] == "fr" and "Votre code de vérification" in row["subject"]
    assert await db.fetchval("select preferred_language from users") == "fr"


# --------------------------------------------------------------- throttling


async def test_verifying_an_already_verified_address_answers_like_a_wrong_code(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await signed_up(client, db, "done@codes.example")
    code = await latest_code(db, "done@codes.example")
    again = await verify(client, "done@codes.example", code)
    assert error_codes(again, "verifyEmail") == ["INVALID_CODE"]
    assert payload(again, "verifyEmail")["session"] is None
    unknown = await verify(client, "nobody@codes.example", code)
    assert error_codes(unknown, "verifyEmail") == ["INVALID_CODE"]
