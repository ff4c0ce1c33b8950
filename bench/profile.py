"""Where the server's time goes: py-spy sampling the workers during a scenario.

`BENCH_PROFILE=1` samples every server process (py-spy `--subprocesses`,
100 Hz, `--nonblocking` so the workers are never paused) while the primary
executor's dashboard, group and mobile list run, keeps the collapsed stacks in
`.data/bench-profiles/<scale>-<scenario>.stacks` (flamegraph.pl or speedscope read
them) and puts the heaviest frames in the results: self time (the frame was
on top of the stack) and, for the project's own code, inclusive time, as shares of the
samples.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
# py-spy names frames by path relative to sys.path: project code is what
# lives in the project's own packages and top-level modules.
_PROJECT = tuple(
    sorted(
        f"{p.name}/" if p.is_dir() else p.name
        for p in _ROOT.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"
    )
)
_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    executable = py_spy()
    if executable is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(  # noqa: S603 - py-spy from our own environment
        [
            executable,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--rate",
            "100",
            "--duration",
            str(max(1, int(seconds))),
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", f"{_ROOT}/", "lib/python3.11/", "lib/python3.12/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['func']} ({path})"


def _is_project(short: str) -> bool:
    start = short.rfind(" (")
    return start >= 0 and short[start + 2 :].startswith(_PROJECT)


def summarize(path: Path, top: int = 15) -> dict[str, Any]:
    """Top frames by self and inclusive share of the samples."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        count = int(match["count"])
        # py-spy puts "process NNN:..." first with --subprocesses; skip it.
        raw = [f for f in match["stack"].split(";") if f and not f.startswith("process ")]
        if not raw:
            continue
        total += count
        self_time[_short(raw[-1])] += count
        # Inclusive time only for the project's own frames: the event loop
        # and the server's outer frames are on every stack and say nothing.
        for frame in {short for short in map(_short, raw) if _is_project(short)}:
            inclusive[frame] += count
    if not total:
        return {"samples": 0, "self": [], "inclusive": []}

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": frame, "share": round(count / total, 3)}
            for frame, count in counter.most_common(top)
        ]

    return {"samples": total, "self": share(self_time), "inclusive": share(inclusive)}
