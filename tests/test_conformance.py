"""graphql-http's GraphQL over HTTP audit (auditServer, pinned in
tools/conformance) against a live server: no MUST failure, no SHOULD warning.

`make conformance` runs this test and shows the audit's line per check."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.live_server import ROOT, live_server

NODE = shutil.which("node") or "/usr/bin/node"
TOOL = ROOT / "tools" / "conformance"


def install_audit_tool() -> None:
    """npm ci from the lock file when the pinned graphql-http is not installed."""
    npm = shutil.which("npm")
    assert npm is not None and shutil.which("node"), "the audit needs node and npm"
    installed = TOOL / "node_modules" / ".package-lock.json"
    lock = TOOL / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=TOOL, check=True)


def test_graphql_over_http_audit_has_no_must_failure_and_no_should_warning(
    database_url: str, tmp_path: Path
) -> None:
    install_audit_tool()
    with live_server(database_url, tmp_path / "server.log") as server:
        audit = subprocess.run(
            [NODE, "audit.mjs", server.url + "/graphql"],
            cwd=TOOL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    print(audit.stdout, end="")
    summary = audit.stdout.strip().splitlines()[-1]
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert " 0 MUST failures, 0 SHOULD warnings" in summary, audit.stdout
    assert not [line for line in audit.stdout.splitlines() if line.startswith(("FAIL", "WARN"))]
