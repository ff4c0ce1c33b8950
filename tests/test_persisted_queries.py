"""Apollo automatic persisted queries and trusted documents, over real HTTP
requests to the app and a real PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from config import Settings
from tests.support.app import ROOT, running_app

FAMILIES = "query Families { productFamilies { name } }"


def sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def apq(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha(document)}}


@asynccontextmanager
async def http_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as (app, _state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def first_error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["errors"][0]
    return error


async def test_unknown_hash_is_not_found_then_the_text_registers_it_and_get_hits_it(
    settings: Settings, db: asyncpg.Connection
) -> None:
    async with http_client(settings) as http:
        miss = await http.post("/graphql", json={"extensions": apq(FAMILIES)})
        assert miss.status_code == 200
        assert first_error(miss)["message"] == "PersistedQueryNotFound"
        assert first_error(miss)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

        register = await http.post(
            "/graphql", json={"query": FAMILIES, "extensions": apq(FAMILIES)}
        )
        assert register.status_code == 200
        assert {"name": "PowerEdge"} in register.json()["data"]["productFamilies"]
        stored = await db.fetchval(
            "select document from persisted_queries where sha256 = $1", sha(FAMILIES)
        )
        assert stored == FAMILIES

        params = {"operationName": "Families", "extensions": json.dumps(apq(FAMILIES))}
        hit = await http.get("/graphql", params=params)
        assert hit.status_code == 200
        assert hit.json() == register.json()
        assert hit.headers["cache-control"] == "private, no-cache"
        etag = hit.headers["etag"]

        revalidated = await http.get("/graphql", params=params, headers={"If-None-Match": etag})
        assert revalidated.status_code == 304
        assert revalidated.content == b""
        assert revalidated.headers["etag"] == etag

        hit_by_post = await http.post("/graphql", json={"extensions": apq(FAMILIES)})
        assert hit_by_post.json() == register.json()


async def test_a_changed_answer_gets_a_new_etag(settings: Settings, db: asyncpg.Connection) -> None:
    params = {"query": FAMILIES}
    async with http_client(settings) as http:
        before = await http.get("/graphql", params=params)
        await db.execute("insert into product_families (name) values ('Brand New Family')")
        after = await http.get(
            "/graphql", params=params, headers={"If-None-Match": before.headers["etag"]}
        )
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert {"name": "Brand New Family"} in after.json()["data"]["productFamilies"]


async def test_text_whose_hash_does_not_match_is_refused_and_not_stored(
    settings: Settings, db: asyncpg.Connection
) -> None:
    other = "{ productFamilies { id } }"
    async with http_client(settings) as http:
        response = await http.post("/graphql", json={"query": FAMILIES, "extensions": apq(other)})
    assert response.status_code == 400
    assert first_error(response)["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert "data" not in response.json()
    assert await db.fetchval("select count(*) from persisted_queries") == 0


async def test_two_workers_share_one_stored_document(settings: Settings) -> None:
    # Two apps = two workers: separate pools and separate in-process caches.
    async with http_client(settings) as worker_a, http_client(settings) as worker_b:
        registered = await worker_a.post(
            "/graphql", json={"query": FAMILIES, "extensions": apq(FAMILIES)}
        )
        hit = await worker_b.post("/graphql", json={"extensions": apq(FAMILIES)})
    assert hit.status_code == 200
    assert hit.json() == registered.json()


async def test_a_document_over_the_size_limit_is_not_persisted(
    settings: Settings, db: asyncpg.Connection
) -> None:
    big = "{ productFamilies { name } }" + " " * 200
    async with http_client(replace(settings, apq_max_document_bytes=100)) as http:
        response = await http.post("/graphql", json={"query": big, "extensions": apq(big)})
    assert response.status_code == 400
    assert first_error(response)["extensions"]["code"] == "PERSISTED_QUERY_TOO_LARGE"
    assert await db.fetchval("select count(*) from persisted_queries") == 0


async def test_the_cap_evicts_least_recently_used_automatic_documents_never_trusted_ones(
    settings: Settings, db: asyncpg.Connection
) -> None:
    trusted = "{ productFamilies { id } }"
    await db.execute(
        "insert into persisted_queries (sha256, document, trusted) values ($1, $2, true)",
        sha(trusted),
        trusted,
    )
    documents = [f"query Q{n} {{ productFamilies {{ name }} }}" for n in range(3)]
    async with http_client(replace(settings, apq_max_stored=2)) as http:
        for n, document in enumerate(documents):
            await http.post("/graphql", json={"query": document, "extensions": apq(document)})
            # Make the order of use unambiguous for the eviction.
            await db.execute(
                "update persisted_queries set last_used_at = now() - make_interval(mins => $2) "
                "where sha256 = $1",
                sha(document),
                10 - n,
            )
    kept = {row["sha256"] for row in await db.fetch("select sha256 from persisted_queries")}
    assert kept == {sha(trusted), sha(documents[1]), sha(documents[2])}


def persist_queries(database_url: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "server.py", "persist-queries", str(path)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_trusted_documents_mode_runs_only_registered_documents(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text(json.dumps({sha(FAMILIES): FAMILIES}))
    registered = persist_queries(database_url, manifest)
    assert registered.returncode == 0, registered.stderr
    assert "1 newly registered" in registered.stdout

    ad_hoc = "{ productFamilies { id name } }"
    async with http_client(replace(settings, persisted_queries="only")) as http:
        by_hash = await http.post("/graphql", json={"extensions": apq(FAMILIES)})
        with_text = await http.post(
            "/graphql", json={"query": FAMILIES, "extensions": apq(FAMILIES)}
        )
        plain = await http.post("/graphql", json={"query": ad_hoc})
        unregistered = await http.post(
            "/graphql", json={"query": ad_hoc, "extensions": apq(ad_hoc)}
        )
        unknown_hash = await http.post("/graphql", json={"extensions": apq(ad_hoc)})

    assert {"name": "PowerEdge"} in by_hash.json()["data"]["productFamilies"]
    assert with_text.json() == by_hash.json()
    assert plain.status_code == 400
    assert first_error(plain)["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
    assert "registered" in first_error(plain)["message"]
    assert unregistered.status_code == 400
    assert first_error(unregistered)["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
    assert first_error(unknown_hash)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_trusted_documents_mode_does_not_run_automatically_persisted_ones(
    settings: Settings, db: asyncpg.Connection
) -> None:
    async with http_client(settings) as http:
        await http.post("/graphql", json={"query": FAMILIES, "extensions": apq(FAMILIES)})
    assert await db.fetchval("select count(*) from persisted_queries") == 1
    async with http_client(replace(settings, persisted_queries="only")) as http:
        response = await http.post("/graphql", json={"extensions": apq(FAMILIES)})
    assert first_error(response)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_persist_queries_refuses_a_map_with_a_wrong_hash_and_registers_nothing(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text(
        json.dumps({sha(FAMILIES): FAMILIES, "0" * 64: "{ productFamilies { id } }"})
    )
    result = persist_queries(database_url, manifest)
    assert result.returncode == 1
    assert "is not the SHA-256 of its document" in result.stderr
    assert await db.fetchval("select count(*) from persisted_queries") == 0


async def test_persisted_queries_off_tells_clients_it_is_not_supported(
    settings: Settings, db: asyncpg.Connection
) -> None:
    async with http_client(replace(settings, persisted_queries="off")) as http:
        hash_only = await http.post("/graphql", json={"extensions": apq(FAMILIES)})
        with_text = await http.post(
            "/graphql", json={"query": FAMILIES, "extensions": apq(FAMILIES)}
        )
    assert hash_only.status_code == 400
    assert first_error(hash_only)["message"] == "PersistedQueryNotSupported"
    assert first_error(hash_only)["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
    assert {"name": "PowerEdge"} in with_text.json()["data"]["productFamilies"]
    assert await db.fetchval("select count(*) from persisted_queries") == 0


async def test_only_documents_that_parse_and_validate_are_stored(
    settings: Settings, db: asyncpg.Connection
) -> None:
    refused = [
        "x" * 40_000,  # not GraphQL: the filler
        "{ productFamilies { name }",  # does not parse
        "{ productFamilies { nope } }",  # does not validate
        "{" + " viewer { id }" * 100 + "}",  # over the bounds checked before validation
    ]
    async with http_client(settings) as http:
        for document in refused:
            response = await http.post(
                "/graphql", json={"query": document, "extensions": apq(document)}
            )
            assert response.json().get("data") is None, document[:40]
            again = await http.post("/graphql", json={"extensions": apq(document)})
            assert first_error(again)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        valid = await http.post("/graphql", json={"query": FAMILIES, "extensions": apq(FAMILIES)})
        assert valid.json()["data"]["productFamilies"]
    stored = await db.fetch("select sha256, registered_by from persisted_queries")
    assert [(row["sha256"], row["registered_by"]) for row in stored] == [
        (sha(FAMILIES), "127.0.0.1")
    ]


async def test_each_client_address_has_a_quota_of_automatic_documents(
    settings: Settings, db: asyncpg.Connection
) -> None:
    limited = replace(settings, apq_max_per_client=3, apq_max_stored=100)
    documents = [f"query Q{n} {{ productFamilies {{ name }} }}" for n in range(5)]
    other = "query Other { productFamilies { id } }"
    async with running_app(limited) as (app, _state):
        clients = {
            address: httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=(address, 50000)),
                base_url="http://testserver",
            )
            for address in ("198.51.100.7", "198.51.100.8")
        }
        flooder, neighbour = clients.values()
        for document in documents:
            response = await flooder.post(
                "/graphql", json={"query": document, "extensions": apq(document)}
            )
            # Over its quota a client's documents still run, unkept.
            assert response.json()["data"]["productFamilies"], document
        kept = await neighbour.post("/graphql", json={"query": other, "extensions": apq(other)})
        assert kept.json()["data"]["productFamilies"]
        over = await flooder.post("/graphql", json={"extensions": apq(documents[4])})
        assert first_error(over)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        hit = await flooder.post("/graphql", json={"extensions": apq(other)})
        assert hit.json()["data"]["productFamilies"]
        for http in clients.values():
            await http.aclose()
    rows = await db.fetch(
        "select registered_by, count(*) as n from persisted_queries group by 1 order by 1"
    )
    assert [(row["registered_by"], row["n"]) for row in rows] == [
        ("198.51.100.7", 3),
        ("198.51.100.8", 1),
    ]
