"""Users, one-time codes, sessions, organizations and onboarding requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from db.types import Conn, Executor


def _one(row: asyncpg.Record | None) -> asyncpg.Record:
    # For UPDATE ... RETURNING on a row the caller holds locked.
    assert row is not None
    return row


USER_COLUMNS = """
    u.id, u.email, u.first_name, u.last_name, u.job_title, u.business_phone, u.company_name,
    u.country, u.preferred_language, u.step, u.access_type, u.organization_id, u.role,
    u.site_scope, u.is_staff, u.created_at, u.verified_at
"""

ORGANIZATION_COLUMNS = (
    "o.id, o.name, o.division, o.kind, o.city, o.country, o.status, o.default_site_scope"
)

REQUEST_COLUMNS = """
    r.id, r.user_id, r.legal_name, r.domain, r.website, r.country, r.employee_count, r.status,
    r.submitted_at, r.decided_at, r.decision_note, r.organization_id
"""

# ------------------------------------------------------------------- users


async def fetch_user_for_sign_in(conn: Executor, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"select {USER_COLUMNS}, u.password_hash from users u where u.email = $1", email
    )


async def fetch_password_context(conn: Executor, email: str) -> list[str | None]:
    """What an attacker may know of the account at `email`: its names, company
    and organization (nothing for an unknown address)."""
    row = await conn.fetchrow(
        """
        select u.first_name, u.last_name, u.company_name, o.name as organization
          from users u left join organizations o on o.id = u.organization_id
         where u.email = $1
        """,
        email,
    )
    return list(row.values()) if row is not None else []


async def lock_user_by_email(conn: Conn, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"select {USER_COLUMNS} from users u where u.email = $1 for update", email
    )


async def lock_user(conn: Conn, user_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"select {USER_COLUMNS} from users u where u.id = $1 for update", user_id
    )


async def fetch_users_by_ids(conn: Executor, ids: Sequence[int]) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"select {USER_COLUMNS} from users u where u.id = any($1::bigint[])", list(ids)
    )


async def insert_user(
    conn: Conn,
    *,
    email: str,
    password_hash: str,
    first_name: str,
    last_name: str,
    country: str | None,
    preferred_language: str,
) -> asyncpg.Record | None:
    """The new user, or None when the address already has an account."""
    return await conn.fetchrow(
        f"""
        insert into users as u (email, password_hash, first_name, last_name, country,
                                preferred_language, step)
        values ($1, $2, $3, $4, $5, $6, 'VERIFY_EMAIL')
        on conflict (email) do nothing
        returning {USER_COLUMNS}
        """,
        email,
        password_hash,
        first_name,
        last_name,
        country,
        preferred_language,
    )


async def replace_unverified_registration(
    conn: Conn,
    user_id: int,
    *,
    password_hash: str,
    first_name: str,
    last_name: str,
    country: str | None,
    preferred_language: str,
) -> asyncpg.Record | None:
    """The latest registration of a still unverified account replaces the
    earlier one (None when the account is verified meanwhile)."""
    return await conn.fetchrow(
        f"""
        update users u
           set password_hash = $2, first_name = $3, last_name = $4, country = $5,
               preferred_language = $6, updated_at = now()
         where u.id = $1 and u.step = 'VERIFY_EMAIL'
        returning {USER_COLUMNS}
        """,
        user_id,
        password_hash,
        first_name,
        last_name,
        country,
        preferred_language,
    )


async def fetch_registration_json(conn: Conn, user_id: int) -> str:
    """The registration an unverified account holds now, as a code carries it."""
    registration: str = await conn.fetchval(
        """
        select jsonb_build_object(
                   'password_hash', password_hash, 'first_name', first_name,
                   'last_name', last_name, 'country', country,
                   'preferred_language', preferred_language)::text
          from users where id = $1
        """,
        user_id,
    )
    return registration


async def verify_with_registration(
    conn: Conn, user_id: int, registration_json: str
) -> asyncpg.Record:
    """The email is verified: the registration the code carried becomes the account's."""
    return _one(
        await conn.fetchrow(
            f"""
        update users u
           set step = 'CHOOSE_ACCESS_TYPE', verified_at = now(), updated_at = now(),
               password_hash = r.password_hash, first_name = r.first_name,
               last_name = r.last_name, country = r.country,
               preferred_language = r.preferred_language
          from jsonb_to_record($2::jsonb) as r (password_hash text, first_name text,
                                               last_name text, country text,
                                               preferred_language text)
         where u.id = $1
        returning {USER_COLUMNS}
        """,
            user_id,
            registration_json,
        )
    )


async def update_user_step(conn: Conn, user_id: int, step: str, **changes: Any) -> asyncpg.Record:
    """Move a user to `step`, setting the given columns (names from our code only)."""
    allowed = {
        "access_type",
        "job_title",
        "business_phone",
        "company_name",
        "country",
        "organization_id",
        "role",
        "site_scope",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not a user column to change: {sorted(unknown)}")
    assignments = ["step = $2", "updated_at = now()"]
    values: list[Any] = [user_id, step]
    for name, value in changes.items():
        values.append(value)
        assignments.append(f"{name} = ${len(values)}")
    return _one(
        await conn.fetchrow(
            f"update users u set {', '.join(assignments)} where u.id = $1 returning {USER_COLUMNS}",
            *values,
        )
    )


async def mark_email_verified(conn: Conn, user_id: int) -> asyncpg.Record:
    return _one(
        await conn.fetchrow(
            f"""
        update users u set step = 'CHOOSE_ACCESS_TYPE', verified_at = now(), updated_at = now()
         where u.id = $1
        returning {USER_COLUMNS}
        """,
            user_id,
        )
    )


async def save_profile(
    conn: Conn,
    user_id: int,
    *,
    company_name: str,
    job_title: str,
    business_phone: str,
    address_json: str,
    country: str,
) -> None:
    await conn.execute(
        """
        update users set company_name = $2, job_title = $3, business_phone = $4,
                         address = $5::jsonb, country = coalesce(country, $6), updated_at = now()
         where id = $1
        """,
        user_id,
        company_name,
        job_title,
        business_phone,
        address_json,
        country,
    )


async def set_password(conn: Conn, user_id: int, password_hash: str) -> None:
    await conn.execute(
        "update users set password_hash = $2, updated_at = now() where id = $1",
        user_id,
        password_hash,
    )


# -------------------------------------------------------- one-time codes


async def insert_code(
    conn: Conn,
    user_id: int,
    purpose: str,
    code_hash: bytes,
    ttl_seconds: int,
    registration_json: str | None = None,
) -> None:
    """A new code for `purpose`. Older live codes stay valid: a request by
    someone else must not cancel the code the owner holds."""
    await conn.execute(
        """
        insert into one_time_codes (user_id, purpose, code_hash, expires_at, registration)
        values ($1, $2, $3, now() + make_interval(secs => $4), $5::jsonb)
        """,
        user_id,
        purpose,
        code_hash,
        ttl_seconds,
        registration_json,
    )


async def lock_live_codes(conn: Conn, user_id: int, purpose: str) -> list[asyncpg.Record]:
    """The user's unconsumed codes for `purpose`, locked in id order, with
    whether each has expired."""
    return await conn.fetch(
        """
        select id, code_hash, attempts, registration, expires_at <= now() as expired
          from one_time_codes
         where user_id = $1 and purpose = $2 and consumed_at is null
         order by id
           for update
        """,
        user_id,
        purpose,
    )


async def count_wrong_attempt(conn: Conn, code_ids: Sequence[int]) -> list[int]:
    """One more wrong try on each code; their attempts now."""
    rows = await conn.fetch(
        """
        update one_time_codes set attempts = attempts + 1
         where id = any($1::bigint[])
        returning attempts
        """,
        list(code_ids),
    )
    return [int(row["attempts"]) for row in rows]


async def wrong_codes_today(conn: Conn, user_id: int) -> int:
    """Wrong codes the user took in their current day (call with the user locked)."""
    count: int = await conn.fetchval(
        """
        select case when wrong_codes_since > now() - interval '1 day' then wrong_codes else 0 end
          from users where id = $1
        """,
        user_id,
    )
    return count


async def count_wrong_code(conn: Conn, user_id: int) -> None:
    """One more wrong code today; a day after the first one, the count starts again."""
    await conn.execute(
        """
        update users
           set wrong_codes = case when wrong_codes_since > now() - interval '1 day'
                                  then wrong_codes + 1 else 1 end,
               wrong_codes_since = case when wrong_codes_since > now() - interval '1 day'
                                        then wrong_codes_since else now() end
         where id = $1
        """,
        user_id,
    )


async def consume_code(conn: Conn, code_id: int) -> None:
    await conn.execute(
        "update one_time_codes set consumed_at = now(), registration = null where id = $1",
        code_id,
    )


async def spend_user_codes(conn: Conn, user_id: int) -> None:
    """Every live code of the user, whatever its purpose, stops working."""
    await conn.execute(
        """
        update one_time_codes set consumed_at = now(), registration = null
         where user_id = $1 and consumed_at is null
        """,
        user_id,
    )


# ---------------------------------------------------------------- sessions


async def insert_session(
    conn: Conn, token_hash: bytes, user_id: int, ttl_hours: int, idle_minutes: int
) -> datetime:
    """A new session; answers its absolute expiry (the idle one slides with use)."""
    absolute_expires_at: datetime = await conn.fetchval(
        """
        insert into sessions (token_hash, user_id, absolute_expires_at, expires_at)
        values ($1, $2, now() + make_interval(hours => $3),
                least(now() + make_interval(hours => $3), now() + make_interval(mins => $4)))
        returning absolute_expires_at
        """,
        token_hash,
        user_id,
        ttl_hours,
        idle_minutes,
    )
    return absolute_expires_at


async def revoke_session(conn: asyncpg.Pool | Conn, token_hash: bytes) -> None:
    await conn.execute(
        "update sessions set revoked_at = now() where token_hash = $1 and revoked_at is null",
        token_hash,
    )


async def revoke_user_sessions(conn: Conn, user_id: int) -> None:
    await conn.execute(
        "update sessions set revoked_at = now() where user_id = $1 and revoked_at is null",
        user_id,
    )


# ----------------------------------------------------------- organizations


async def fetch_organizations_for_domains(
    conn: Executor, candidate_domains: Sequence[str]
) -> list[asyncpg.Record]:
    """Active organizations owning the most specific of `candidate_domains`.

    `candidate_domains` is the email's domain and its parents; only the
    longest one that any active organization registered counts.
    """
    return await conn.fetch(
        f"""
        with best as (
            select d.domain
              from organization_domains d
              join organizations o on o.id = d.organization_id and o.status = 'ACTIVE'
             where d.domain = any($1::citext[])
             order by length(d.domain) desc
             limit 1
        )
        select {ORGANIZATION_COLUMNS}
          from organization_domains d
          join best on best.domain = d.domain
          join organizations o on o.id = d.organization_id and o.status = 'ACTIVE'
         order by o.name, o.division nulls first, o.id
         limit 100
        """,
        list(candidate_domains),
    )


async def fetch_organizations_by_ids(conn: Executor, ids: Sequence[int]) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"select {ORGANIZATION_COLUMNS} from organizations o where o.id = any($1::bigint[])",
        list(ids),
    )


async def fetch_default_site_scope(conn: Executor, organization_id: int) -> str:
    """The site scope a person attached to the organization now starts with."""
    scope: str = await conn.fetchval(
        "select default_site_scope from organizations where id = $1", organization_id
    )
    return scope


async def fetch_domains_by_organization_ids(
    conn: Executor, ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        select organization_id, domain::text as domain
          from organization_domains
         where organization_id = any($1::bigint[])
         order by organization_id, domain
        """,
        list(ids),
    )


async def insert_organization(
    conn: Conn, *, name: str, city: str | None, country: str, domain: str
) -> int:
    organization_id: int = await conn.fetchval(
        """
        with organization as (
            insert into organizations (name, kind, city, country)
            values ($1, 'COMPANY', $2, $3)
            returning id
        ), owned as (
            insert into organization_domains (domain, organization_id)
            select $4, id from organization
        )
        select id from organization
        """,
        name,
        city,
        country,
        domain,
    )
    return organization_id


# --------------------------------------------------------------- onboarding


async def insert_onboarding_request(
    conn: Conn,
    *,
    user_id: int,
    legal_name: str,
    domain: str,
    website: str | None,
    address_json: str,
    country: str,
    employee_count: int | None,
) -> int:
    request_id: int = await conn.fetchval(
        """
        insert into onboarding_requests (user_id, legal_name, domain, website, address, country,
                                         employee_count)
        values ($1, $2, $3, $4, $5::jsonb, $6, $7)
        returning id
        """,
        user_id,
        legal_name,
        domain,
        website,
        address_json,
        country,
        employee_count,
    )
    return request_id


# Lock order, the same on every path (two paths that take the same locks in
# opposite orders deadlock; PostgreSQL then aborts one of them):
#   1. the address (`db.throttle.lock_address`, code sends to one address);
#   2. the domains (`lock_domains`: a domain and its parents, in sorted order);
#   3. the onboarding request (`lock_onboarding_request`);
#   4. users: the one the mutation acts for first (the requester, the viewer),
#      then others in id order (`lock_colleagues_waiting_for`,
#      `db.members.lock_organization_admins`);
#   5. one-time codes (`lock_live_codes`).
# A path that needs a request's domain before locking it reads it unlocked
# (`fetch_onboarding_request_domain`, a request's domain never changes) and
# re-checks the request's state once it holds the lock.


async def fetch_onboarding_request_domain(conn: Executor, request_id: int) -> str | None:
    """The request's domain, unlocked: what `lock_domains` needs before the request."""
    domain: str | None = await conn.fetchval(
        "select domain::text from onboarding_requests where id = $1", request_id
    )
    return domain


async def lock_onboarding_request(conn: Conn, request_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"select {REQUEST_COLUMNS}, r.address from onboarding_requests r"
        " where r.id = $1 for update",
        request_id,
    )


async def save_onboarding_decision(
    conn: Conn,
    request_id: int,
    *,
    status: str,
    decided_by: int,
    note: str | None,
    organization_id: int | None,
) -> asyncpg.Record:
    return _one(
        await conn.fetchrow(
            f"""
        update onboarding_requests r
           set status = $2, decided_by = $3, decided_at = now(), decision_note = $4,
               organization_id = $5
         where r.id = $1
        returning {REQUEST_COLUMNS}
        """,
            request_id,
            status,
            decided_by,
            note,
            organization_id,
        )
    )


async def lock_domains(conn: Conn, domains: Sequence[str]) -> None:
    """Serialise decisions about these domains until the transaction ends.

    Callers pass a domain with its parents, so that deciding about
    `paris.newco.example` waits for deciding about `newco.example` (whose
    approval settles the subdomain's people too). Sorted: any two callers
    take the locks they share in the same order.
    """
    for domain in sorted({d.lower() for d in domains}):
        await conn.execute(
            "select pg_advisory_xact_lock(hashtextextended('domain:' || $1, 0))", domain
        )


async def lock_colleagues_waiting_for(conn: Conn, domain: str) -> list[asyncpg.Record]:
    """Customer employees of `domain` (or a subdomain) still describing their
    organization or awaiting approval, locked in id order."""
    return await conn.fetch(
        f"""
        select {USER_COLUMNS}
          from users u
         where u.step in ('DESCRIBE_ORGANIZATION', 'AWAITING_APPROVAL')
           and u.organization_id is null
           and (split_part(u.email, '@', 2) = $1::citext
                or split_part(u.email, '@', 2) like '%.' || lower($1))
         order by u.id
           for update
        """,
        domain,
    )


async def close_pending_requests(
    conn: Conn, user_ids: Sequence[int], *, decided_by: int, organization_id: int, note: str
) -> None:
    """Their organization now exists: their own requests are settled by it."""
    await conn.execute(
        """
        update onboarding_requests
           set status = 'APPROVED', decided_by = $2, decided_at = now(), decision_note = $4,
               organization_id = $3
         where user_id = any($1::bigint[]) and status = 'PENDING'
        """,
        list(user_ids),
        decided_by,
        organization_id,
        note,
    )


async def fetch_onboarding_requests_by_ids(
    conn: Executor, ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"select {REQUEST_COLUMNS} from onboarding_requests r where r.id = any($1::bigint[])",
        list(ids),
    )


async def fetch_latest_onboarding_requests(
    conn: Executor, user_ids: Sequence[int]
) -> list[asyncpg.Record]:
    """Each user's most recent onboarding request (if any)."""
    return await conn.fetch(
        f"""
        select distinct on (r.user_id) {REQUEST_COLUMNS}
          from onboarding_requests r
         where r.user_id = any($1::bigint[])
         order by r.user_id, r.id desc
        """,
        list(user_ids),
    )


async def fetch_onboarding_request_page(
    conn: Executor, *, status: str | None, after_id: int | None, limit: int
) -> list[asyncpg.Record]:
    """Requests by id (oldest first), keyset after `after_id`, at most `limit`."""
    return await conn.fetch(
        f"""
        select {REQUEST_COLUMNS}
          from onboarding_requests r
         where ($1::text is null or r.status = $1) and ($2::bigint is null or r.id > $2)
         order by r.id
         limit $3
        """,
        status,
        after_id,
        limit,
    )


async def count_onboarding_requests(conn: Executor, *, status: str | None) -> int:
    count: int = await conn.fetchval(
        "select count(*) from onboarding_requests where ($1::text is null or status = $1)", status
    )
    return count
