"""GraphiQL in a real browser (Debian's Chromium driven by playwright-core):
the page loads from the server's own assets under its strict CSP, runs a
query typed into the editor and shows the answer, and no request leaves
loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live_server import ROOT, live_server

NODE = shutil.which("node") or "/usr/bin/node"
TOOL = ROOT / "tools" / "graphiql"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def install_playwright_core() -> None:
    npm = shutil.which("npm")
    assert npm is not None and shutil.which("node"), "the browser test needs node and npm"
    installed = TOOL / "node_modules" / ".package-lock.json"
    lock = TOOL / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=TOOL, check=True)


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="no Chromium on this machine (apt-get install chromium; .ci/run does)",
)
def test_graphiql_runs_a_query_typed_in_the_editor_with_no_request_leaving_loopback(
    database_url: str, tmp_path: Path
) -> None:
    install_playwright_core()
    with live_server(database_url, tmp_path / "server.log") as server:
        run = subprocess.run(
            [
                NODE,
                "browser_check.mjs",
                server.url + "/graphql",
                "{ productFamilies { name } }",
                '"name": "PowerEdge"',
                str(tmp_path / "graphiql.png"),
            ],
            cwd=TOOL,
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "CHROMIUM_PATH": CHROMIUM},
        )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["found"], report
    assert report["offLoopback"] == []
    assert report["cspViolations"] == []
    assert report["pageErrors"] == []
    # Everything the page loaded came from the server itself.
    assert all(entry.split(" ", 1)[1].startswith(server.url) for entry in report["requests"])
    assert any(entry.endswith("/static/graphiql/graphiql.min.js") for entry in report["requests"])
    assert "POST " + server.url + "/graphql" in report["requests"]
