"""Where does an aichatflow worker spend its time in scenario ``fast``? py-spy on the server.

Starts ``aichatflow serve`` (mock, ``--burst``) pinned to CPU 0, keeps the ``fast`` load on it
from CPU 1 for ``--seconds``, and samples the server with ``py-spy record --format raw``
(collapsed stacks). Prints the top functions by self time (the leaf frame of each sample) and by
total time (every frame that appears in a sample, counted once per sample); the collapsed
stacks stay in ``benchmarks/results/`` (any flamegraph tool reads them). Idle samples (the loop
waiting in epoll) are left out by py-spy, so percentages are of busy samples. py-spy samples
wall-clock time: the kernel's loopback write shows as the leaf ``write`` (``send`` without
``--native``), so the second column gives each function's share of what is *not* that write.

py-spy is not a dependency: ``.venv/bin/pip install py-spy``. It needs ptrace rights (root, or
``kernel.yama.ptrace_scope = 0``).

Run: ``.venv/bin/python benchmarks/profile_fast.py --burst 1 --seconds 15`` (``--stack uvicorn_raw``
profiles the baseline the same way; ``--native`` adds C frames: uvloop, the kernel write).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import CLIENT_CPU, HERE, RESULTS, SERVER_CPU, Server, free_port, pinned
from _stacks import aichatflow_server

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    """``func (path/to/module.py)`` → ``func (package/module.py)``: readable, still unique."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


_WRITE = ("write (libc", "RequestResponseCycle.send (")


def top(raw: Path, n: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int, int]:
    """(top self, top total, busy samples, samples in the socket write) from py-spy's raw output.

    The write to the socket (kernel loopback TCP, the same for every stack) dominates wall-clock
    samples; the samples outside it are where aichatflow's own per-event cost shows.
    """
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = writes = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        k = int(count)
        frames = [short(f) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        samples += k
        if frames[-1].startswith(_WRITE):
            writes += k
        own[frames[-1]] += k
        for f in set(frames):
            total[f] += k
    return own.most_common(n), total.most_common(n), samples, writes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--stack", choices=["aichatflow", "uvicorn_raw"], default="aichatflow")
    ap.add_argument("--burst", type=int, default=1, help="aichatflow: the mock's burst")
    ap.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    ap.add_argument(
        "--nonblocking", action="store_true", help="py-spy --nonblocking (never pauses the server)"
    )
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(pyspy).exists():
        sys.exit("py-spy not found: .venv/bin/pip install py-spy")

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    label = f"{args.stack}-burst{args.burst}" if args.stack == "aichatflow" else args.stack
    raw = RESULTS / f"profile-{label}-{stamp}.txt"
    with tempfile.TemporaryDirectory(prefix="acf-prof-") as tmp_name:
        tmp = Path(tmp_name)
        if args.stack == "aichatflow":  # the fast scenario's server (direct path, mock)
            server = aichatflow_server("aichatflow", tmp, SERVER_CPU, burst=args.burst)
            port = server.port
        else:
            port = free_port()
            cmd = [sys.executable, str(HERE / "baselines" / "uvicorn_raw.py"), "--port", str(port)]
            server = Server("uvicorn_raw", cmd, port, cpu=SERVER_CPU)
        spy: subprocess.Popen[bytes] | None = None
        try:
            server.start()
            cmd = [pyspy, "record", "--pid", str(server.pid), "--rate", str(args.rate)]
            cmd += ["--duration", str(int(args.seconds)), "--format", "raw", "-o", str(raw)]
            cmd += ["--native"] if args.native else []
            cmd += ["--nonblocking"] if args.nonblocking else []
            spy = subprocess.Popen(pinned(cmd, CLIENT_CPU), stdout=subprocess.DEVNULL)
            time.sleep(1.0)
            deadline = time.monotonic() + args.seconds - 1.5
            load = [sys.executable, str(HERE / "loadgen.py"), "--port", str(port)]
            load += ["--streams", str(args.streams), "--events", str(args.events)]
            load += ["--cpu", str(CLIENT_CPU), "--json"]
            runs = 0
            while time.monotonic() < deadline:
                subprocess.run(load, check=True, capture_output=True, timeout=120)
                runs += 1
            spy.wait(timeout=args.seconds + 30)
        finally:
            if spy is not None and spy.poll() is None:
                spy.kill()
                spy.wait()
            server.stop()

    own, total, samples, writes = top(raw, args.top)
    rest = max(samples - writes, 1)
    print(f"### py-spy, {label}: {samples} busy samples, {runs} load runs")
    print(f"(raw collapsed stacks: {raw})\n")
    print(
        f"Socket write (leaf `write`/`send`): {100 * writes / max(samples, 1):.1f} % of samples.\n"
    )
    print("| self % | self % outside the write | function |\n|---|---|---|")
    for name, k in own:
        outside = "" if name.startswith(_WRITE) else f"{100 * k / rest:.1f}"
        print(f"| {100 * k / max(samples, 1):.1f} | {outside} | `{name}` |")
    print("\n| total % | function |\n|---|---|")
    for name, k in total:
        print(f"| {100 * k / max(samples, 1):.1f} | `{name}` |")


if __name__ == "__main__":
    main()
