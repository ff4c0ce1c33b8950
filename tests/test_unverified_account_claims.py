"""An unverified account belongs to whoever proves the mailbox (issue 12, High #1).

Account pre-hijacking: someone registers the victim's address first with a
password of theirs; the password in force after the real owner verifies must
be the owner's, and nothing from before the verification may survive it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg
import pytest

from config import Settings
from tests.support.app import GraphQLClient, without_throttles
from tests.support.registration import (
    CREATE_ACCOUNT,
    REQUEST_RESET,
    RESEND,
    RESET,
    SIGN_IN,
    VERIFY_EMAIL,
    account_input,
    error_codes,
    latest_code,
    mails_to,
    no_errors,
)

VICTIM = "victim@acme.example"
ATTACKER_PASSWORD = "attacker-chosen-phrase-71"
OWNER_PASSWORD = "owner-chosen-phrase-29"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(without_throttles(settings), argon2_max_queue=16)


async def register(client: GraphQLClient, password: str, first_name: str = "Jane") -> None:
    no_errors(
        await client.execute(
            CREATE_ACCOUNT,
            {"input": account_input(VICTIM, password=password, firstName=first_name)},
        ),
        "createAccount",
    )


async def next_minute(db: asyncpg.Connection) -> None:
    """Past the one-code-a-minute rule."""
    await db.execute("update code_sends set sent_at = sent_at - interval '61 seconds'")


async def signs_in(client: GraphQLClient, password: str) -> list[str]:
    answer = await client.execute(SIGN_IN, {"email": VICTIM, "password": password})
    return error_codes(answer, "signIn")


async def test_the_owners_password_is_in_force_after_verification_not_the_first_registrants(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await register(client, ATTACKER_PASSWORD, first_name="Mallory")
    await next_minute(db)
    await register(client, OWNER_PASSWORD, first_name="Victoria")
    code = await latest_code(db, VICTIM)
    no_errors(await client.execute(VERIFY_EMAIL, {"email": VICTIM, "code": code}), "verifyEmail")
    assert await signs_in(client, ATTACKER_PASSWORD) == ["INVALID_CREDENTIALS"]
    assert await signs_in(client, OWNER_PASSWORD) == []
    assert await db.fetchval("select first_name from users") == "Victoria"


async def test_a_later_registration_does_not_replace_the_one_the_owners_code_carries(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await register(client, OWNER_PASSWORD)
    owners_code = await latest_code(db, VICTIM)
    await next_minute(db)
    await register(client, ATTACKER_PASSWORD)
    attackers_code = await latest_code(db, VICTIM)
    no_errors(
        await client.execute(VERIFY_EMAIL, {"email": VICTIM, "code": owners_code}), "verifyEmail"
    )
    assert await signs_in(client, OWNER_PASSWORD) == []
    assert await signs_in(client, ATTACKER_PASSWORD) == ["INVALID_CREDENTIALS"]
    # Every code from before the verification is void.
    late = await client.execute(VERIFY_EMAIL, {"email": VICTIM, "code": attackers_code})
    assert error_codes(late, "verifyEmail") == ["INVALID_CODE"]


async def test_a_resend_carries_the_owners_registration_made_inside_the_attackers_minute(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await register(client, ATTACKER_PASSWORD)
    # Within a minute of the attacker's: the owner's own code goes out at once.
    await register(client, OWNER_PASSWORD)
    assert await mails_to(db, VICTIM) == ["verification_code", "verification_code"]
    await next_minute(db)
    no_errors(await client.execute(RESEND, {"email": VICTIM}), "resendVerificationCode")
    code = await latest_code(db, VICTIM)
    no_errors(await client.execute(VERIFY_EMAIL, {"email": VICTIM, "code": code}), "verifyEmail")
    assert await signs_in(client, OWNER_PASSWORD) == []
    assert await signs_in(client, ATTACKER_PASSWORD) == ["INVALID_CREDENTIALS"]


async def test_verification_voids_the_reset_codes_and_sessions_from_before(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await register(client, ATTACKER_PASSWORD)
    await next_minute(db)
    no_errors(await client.execute(REQUEST_RESET, {"email": VICTIM}), "requestPasswordReset")
    reset_code = await latest_code(db, VICTIM, "password_reset")
    await next_minute(db)
    await register(client, OWNER_PASSWORD)
    code = await latest_code(db, VICTIM)
    no_errors(await client.execute(VERIFY_EMAIL, {"email": VICTIM, "code": code}), "verifyEmail")
    reset = await client.execute(
        RESET, {"email": VICTIM, "code": reset_code, "password": ATTACKER_PASSWORD}
    )
    assert error_codes(reset, "resetPassword") == ["INVALID_CODE"]
    assert await signs_in(client, OWNER_PASSWORD) == []
    assert await db.fetchval("select count(*) from one_time_codes where consumed_at is null") == 0


async def test_the_code_mail_carries_no_text_the_registrant_wrote(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await register(client, ATTACKER_PASSWORD, first_name="Visit evil.example now")
    body = await db.fetchval("select body from mail_outbox")
    assert "evil.example" not in body and "Visit" not in body


async def test_concurrent_registrations_of_one_address_make_one_account_that_one_code_claims(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    names = [f"Racer{letter}" for letter in "ABCDEFGH"]
    passwords = {name: f"racing-phrase-{name.lower()}-5" for name in names}
    answers = await asyncio.gather(
        *(
            client.execute(
                CREATE_ACCOUNT,
                {"input": account_input(VICTIM, password=passwords[name], firstName=name)},
            )
            for name in names
        )
    )
    assert all(error_codes(answer, "createAccount") == [] for answer in answers)
    assert await db.fetchval("select count(*) from users") == 1
    # Each registration mails its own code, up to the hourly cap per address.
    sent = await mails_to(db, VICTIM)
    assert 1 <= len(sent) <= Settings().code_max_per_hour and set(sent) == {"verification_code"}
    code = await latest_code(db, VICTIM)
    no_errors(await client.execute(VERIFY_EMAIL, {"email": VICTIM, "code": code}), "verifyEmail")
    winner = await db.fetchval("select first_name from users")
    assert await signs_in(client, passwords[winner]) == []
    loser = next(name for name in names if name != winner)
    assert await signs_in(client, passwords[loser]) == ["INVALID_CREDENTIALS"]


async def test_concurrent_verifications_with_two_live_codes_let_exactly_one_claim(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    await register(client, OWNER_PASSWORD, first_name="Owner")
    first = await latest_code(db, VICTIM)
    await next_minute(db)
    await register(client, ATTACKER_PASSWORD, first_name="Other")
    second = await latest_code(db, VICTIM)
    answers = await asyncio.gather(
        client.execute(VERIFY_EMAIL, {"email": VICTIM, "code": first}),
        client.execute(VERIFY_EMAIL, {"email": VICTIM, "code": second}),
    )
    outcomes = sorted((error_codes(a, "verifyEmail") or ["OK"])[0] for a in answers)
    assert outcomes == ["INVALID_CODE", "OK"]
    assert await db.fetchval("select count(*) from sessions") == 1
    winner = await db.fetchval("select first_name from users")
    in_force = OWNER_PASSWORD if winner == "Owner" else ATTACKER_PASSWORD
    other = ATTACKER_PASSWORD if winner == "Owner" else OWNER_PASSWORD
    assert await signs_in(client, in_force) == []
    assert await signs_in(client, other) == ["INVALID_CREDENTIALS"]


async def test_the_owner_registering_within_the_attackers_minute_gets_a_code_of_their_own(
    client: GraphQLClient, db: asyncpg.Connection
) -> None:
    # Fuzz finding F7: within the one-code-a-minute spacing the owner's own
    # createAccount mailed nothing, and the only code in the mailbox, the
    # first registrant's, put that registrant's password in force.
    await register(client, ATTACKER_PASSWORD, first_name="Mallory")
    attackers_code = await latest_code(db, VICTIM)
    await register(client, OWNER_PASSWORD, first_name="Victoria")
    owners_code = await latest_code(db, VICTIM)
    assert owners_code != attackers_code
    assert await mails_to(db, VICTIM) == ["verification_code", "verification_code"]
    no_errors(
        await client.execute(VERIFY_EMAIL, {"email": VICTIM, "code": owners_code}), "verifyEmail"
    )
    assert await signs_in(client, ATTACKER_PASSWORD) == ["INVALID_CREDENTIALS"]
    assert await signs_in(client, OWNER_PASSWORD) == []
