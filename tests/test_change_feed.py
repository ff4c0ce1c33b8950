"""The change feed (db/changes.py, migration 0050): every write that changes what a
fleet viewer sees notifies its tenant's versions on commit, never on rollback;
the listener reconnects by itself and then treats everything as changed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import pytest

from background import Supervisor
from db.changes import ChangeFeed, TenantChange, fetch_versions
from tests.fleet_data import Tenant, create_tenant, create_user


@dataclass
class Recorder:
    changes: list[TenantChange] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)
    resets: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def tenant_changed(self, change: TenantChange) -> None:
        self.changes.append(change)
        self.arrived.set()

    def sessions_changed(self, user_id: int) -> None:
        self.sessions.append(user_id)
        self.arrived.set()

    def everything_changed(self) -> None:
        self.resets += 1
        self.arrived.set()

    async def next(self, seconds: float = 5.0) -> None:
        await asyncio.wait_for(self.arrived.wait(), seconds)
        self.arrived.clear()

    def of(self, organization_id: int) -> list[TenantChange]:
        return [c for c in self.changes if c.organization_id == organization_id]


@pytest.fixture
async def feed(database_url: str) -> AsyncIterator[tuple[ChangeFeed, Recorder]]:
    recorder = Recorder()
    changes = ChangeFeed(database_url, ping_seconds=0.5, min_backoff=0.05, max_backoff=0.2)
    changes.subscribe(recorder)
    async with Supervisor() as background:
        background.start("change-feed", changes.run)
        assert await changes.wait_current()
        await recorder.next()  # the first connection: everything changed
        yield changes, recorder


async def settle(recorder: Recorder, seconds: float = 0.3) -> None:
    """Give notifications that would come time to arrive."""
    await asyncio.sleep(seconds)


async def heard(recorder: Recorder, organization_id: int, data_version: int) -> bool:
    """Whether the tenant's notification of `data_version` arrives within 5 s."""
    for _ in range(100):
        if any(c.data_version == data_version for c in recorder.of(organization_id)):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_committed_product_change_notifies_the_new_versions_once_committed(
    feed: tuple[ChangeFeed, Recorder], db: asyncpg.Connection
) -> None:
    _, recorder = feed
    tenant = await create_tenant(db, sites=2, products=5)
    await settle(recorder)
    recorder.changes.clear()
    async with db.transaction():
        await db.execute(
            "update products set health = 'CRITICAL' where id = $1 and health <> 'CRITICAL'",
            tenant.product_ids[0],
        )
        await db.execute(
            "update products set name = name || ' (renamed)' where id = $1", tenant.product_ids[1]
        )
        await settle(recorder)
        assert recorder.of(tenant.organization_id) == []  # nothing before the commit
    (current,) = await fetch_versions(db, [tenant.organization_id])
    assert await heard(recorder, tenant.organization_id, current.data_version)
    assert recorder.of(tenant.organization_id)[-1] == TenantChange(
        tenant.organization_id, current.data_version, current.version
    )


async def test_a_rolled_back_write_notifies_nothing(
    feed: tuple[ChangeFeed, Recorder], db: asyncpg.Connection
) -> None:
    _, recorder = feed
    tenant = await create_tenant(db, sites=2, products=5)
    await settle(recorder)
    recorder.changes.clear()
    before = await fetch_versions(db, [tenant.organization_id])
    tx = db.transaction()
    await tx.start()
    await db.execute("delete from products where id = $1", tenant.product_ids[0])
    await db.execute("update sites set name = 'Elsewhere' where id = $1", tenant.site_ids[0])
    await tx.rollback()
    await settle(recorder, 0.5)
    assert recorder.of(tenant.organization_id) == []
    assert await fetch_versions(db, [tenant.organization_id]) == before


async def test_a_rename_moves_the_data_version_but_not_the_summary_version(
    feed: tuple[ChangeFeed, Recorder], db: asyncpg.Connection
) -> None:
    _, recorder = feed
    tenant = await create_tenant(db, sites=2, products=5)
    (before,) = await fetch_versions(db, [tenant.organization_id])
    await db.execute("update products set name = 'Renamed' where id = $1", tenant.product_ids[0])
    (after,) = await fetch_versions(db, [tenant.organization_id])
    assert after.version == before.version  # summaries do not show names
    assert after.data_version > before.data_version  # product lists do
    assert await heard(recorder, tenant.organization_id, after.data_version)


async def groups_and_scope_writes(db: asyncpg.Connection, tenant: Tenant) -> None:
    user = await create_user(db, tenant, site_scope="ALL_SITES")
    group = await db.fetchval(
        "insert into custom_groups (organization_id, owner_id, name) values ($1, $2, 'G') "
        "returning id",
        tenant.organization_id,
        user.pk,
    )
    await db.execute("update custom_groups set name = 'G2' where id = $1", group)
    await db.execute(
        "insert into user_sites (user_id, site_id, organization_id) values ($1, $2, $3)",
        user.pk,
        tenant.site_ids[0],
        tenant.organization_id,
    )
    await db.execute("update users set site_scope = 'SELECTED_SITES' where id = $1", user.pk)


async def test_group_and_member_scope_writes_each_notify(
    feed: tuple[ChangeFeed, Recorder], db: asyncpg.Connection
) -> None:
    _, recorder = feed
    tenant = await create_tenant(db, sites=2, products=5)
    await settle(recorder)
    recorder.changes.clear()
    await groups_and_scope_writes(db, tenant)
    await settle(recorder, 0.5)
    versions = [c.data_version for c in recorder.of(tenant.organization_id)]
    # A group created, renamed, a site granted, a scope narrowed: four commits.
    assert len(versions) >= 4 and versions == sorted(versions)


async def test_a_revoked_session_is_notified_with_its_user(
    feed: tuple[ChangeFeed, Recorder], db: asyncpg.Connection
) -> None:
    _, recorder = feed
    tenant = await create_tenant(db, sites=1, products=1)
    user = await create_user(db, tenant)
    await db.execute("update sessions set revoked_at = now() where user_id = $1", user.pk)
    for _ in range(100):
        if recorder.sessions:
            break
        await asyncio.sleep(0.05)
    await settle(recorder)
    assert recorder.sessions == [user.pk]


async def test_the_listener_reconnects_after_its_connection_is_terminated_and_resets_everything(
    feed: tuple[ChangeFeed, Recorder], db: asyncpg.Connection
) -> None:
    changes, recorder = feed
    tenant = await create_tenant(db, sites=2, products=5)
    resets, connections = recorder.resets, changes.connections
    killed = await db.fetchval(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity "
        "where application_name = 'service360-changes' and datname = current_database()"
    )
    assert killed == 1
    # A write while the listener is away: its notification is lost, so the
    # reconnection must say that everything may have changed.
    await db.execute("update products set health = 'UNKNOWN' where id = $1", tenant.product_ids[0])
    for _ in range(50):
        if recorder.resets > resets:
            break
        await asyncio.sleep(0.1)
    assert recorder.resets == resets + 1
    assert changes.connections == connections + 1 and changes.current
    # And it hears again.
    recorder.changes.clear()
    await db.execute("update products set name = 'After' where id = $1", tenant.product_ids[1])
    for _ in range(50):
        if recorder.of(tenant.organization_id):
            break
        await asyncio.sleep(0.1)
    assert recorder.of(tenant.organization_id)
