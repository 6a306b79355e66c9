"""Scenario ``slow-client``: one reader that never reads, beside 99 that read at 20 events/s.

What it answers: does a frozen client hurt the others (lateness), cost the server memory while
it is stuck, and get dropped? aichatflow's ``[stream] send_timeout`` (set to 5 s here) says how
long one write may block before the stream is ended and the connection closed.

Per stack (one worker pinned to CPU 0; readers and this script on CPU 1), two runs of the same
99 paced readers (``paced/x``: a mock at ``tokens_per_second = 20``; ``uvicorn_raw``:
``?interval_ms=50``), each checked for exact text and measured for lateness exactly as in
``run_paced.py`` (per delta: arrival - (t_first + k x 50 ms), coalesced deltas get their frame's
arrival, negative counts as 0):

1. ``alone``: only the 99 readers;
2. ``stalled``: first ONE more connection (``SO_RCVBUF`` 4 KiB, set before ``connect``) sends
   a request for a long answer at full speed (``fast/x``: a second mock provider with
   ``tokens_per_second = 0``, ``max_tokens`` 100,000; ``uvicorn_raw``: no pacing) and then never
   reads; 0.5 s later the 99 readers start.

Server RSS (``VmRSS``) is sampled every 100 ms: before each run, its peak during it, and 1 s
after it (the stalled connection closed by then). For the stalled stream the script reports when
the server let go of the connection (its server-side socket in ``/proc/net/tcp`` no longer
``ESTABLISHED`` and owned by the server, i.e. orphaned to the kernel or gone), its state when the
readers ended, the send-timeout lines in the server log, and what the stalled client then got
when it finally read (bytes, end: EOF, reset, or still open; terminal frame or not).
``uvicorn_raw`` has no send timeout: its stalled connection is expected to stay open.

Exit status 1 when a paced reader failed its checks or aichatflow did not close the stalled
connection. Run: ``.venv/bin/python benchmarks/run_slow_client.py`` (readers 20 s per run, under
3 minutes) or ``--quick`` (6 s per run, under a minute).
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import (
    CLIENT_CPU,
    HOST,
    SERVER_CPU,
    Server,
    finish,
    machine,
    pin_self,
    run_loadgen,
    save,
    scenario_parser,
    vmrss_kib,
    wait_quiet,
)
from _stacks import aichatflow_server, baseline_server, mock_table
from loadgen import _request, chat_body

READERS = 99
INTERVAL_MS = 50
SEND_TIMEOUT_S = 5
STALL_TOKENS = 100_000
STALL_RCVBUF = 4096
HEAD_START_S = 0.5
"""The stalled request goes this long before the readers (so it is stuck when they run)."""
TCP_STATES = {"01": "ESTABLISHED", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT"}
TCP_STATES |= {"07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0B": "CLOSING"}


def tcp_state(local_port: int, remote_port: int) -> dict[str, Any] | None:
    """The IPv4 socket ``127.0.0.1:local_port <-> :remote_port`` in ``/proc/net/tcp``.

    ``owned`` is False once no process holds it (inode 0: the server closed it and the kernel
    still tries to deliver what is queued); ``unsent`` is its send queue in bytes.
    """
    want_local, want_remote = f":{local_port:04X}", f":{remote_port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1].endswith(want_local) and fields[2].endswith(want_remote):
                return {
                    "state": TCP_STATES.get(fields[3], fields[3]),
                    "owned": fields[9] != "0",
                    "unsent": int(fields[4].split(":")[0], 16),
                }
    return None


class Sampler(threading.Thread):
    """Every 100 ms: the server's RSS and, once ``watch`` is set, the stalled connection."""

    def __init__(self, pid: int, port: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.port = pid, port
        self.samples: list[tuple[float, int]] = []
        self.watch = 0
        self.let_go: float | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.1):
            now = time.monotonic()
            self.samples.append((now, vmrss_kib(self.pid)))
            if self.watch and self.let_go is None:
                side = tcp_state(self.port, self.watch)
                if side is None or side["state"] != "ESTABLISHED" or not side["owned"]:
                    self.let_go = now

    def peak(self, t0: float, t1: float) -> int:
        return max((kib for t, kib in self.samples if t0 <= t <= t1), default=0)


def open_stall(port: int, path: str) -> socket.socket:
    """A connection that asks for a long full-speed answer and will not read it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALL_RCVBUF)  # before connect: window
    sock.connect((HOST, port))
    sock.sendall(_request(path, port, chat_body(STALL_TOKENS, "fast/x")))
    return sock


def drain(sock: socket.socket, limit_s: float = 2.0) -> dict[str, Any]:
    """Read what the stalled client was sent, for at most ``limit_s``; what did it get?"""
    raw = bytearray()
    end = "still open"
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            data = sock.recv(1 << 20)
            if not data:
                end = "EOF"
                break
            raw += data
    except ConnectionResetError:
        end = "reset"
    except TimeoutError:
        pass
    tail = bytes(raw[-4000:])
    terminal = next((e for e in ("done", "error") if f"event: {e}".encode() in tail), "none")
    return {"bytes": len(raw), "end": end, "terminal_frame": terminal}


def paced(server: Server, path: str, events: int) -> dict[str, Any]:
    limit = events * INTERVAL_MS / 1000 + 60
    args = ("--streams", READERS, "--events", events, "--model", "paced/x", "--interval-ms", 50)
    return run_loadgen(server, path, *args, "--timeout", limit, timeout=limit + 60)


def one_run(
    server: Server, sampler: Sampler, names: tuple[str, str], events: int, stall: bool
) -> dict[str, Any]:
    """The readers once (``names``: their path, the stalled one's), with or without a stall."""
    t0 = time.monotonic()
    before = vmrss_kib(server.pid)
    sock, out = None, {}
    if stall:
        sock = open_stall(server.port, names[1])
        sampler.watch = sock.getsockname()[1]
        time.sleep(HEAD_START_S)
    result = paced(server, names[0], events)
    if sock is not None:
        out = {"at_readers_end": tcp_state(server.port, sampler.watch)}
        out["let_go_after_s"] = None if sampler.let_go is None else sampler.let_go - t0
        out.update(drain(sock))
        sock.close()
        sampler.watch = 0
    t1 = time.monotonic()
    time.sleep(1.0)
    after = vmrss_kib(server.pid)
    result.update(run="stalled" if stall else "alone", stalled=out)
    result.update(rss_kib={"before": before, "peak": sampler.peak(t0, t1), "after": after})
    return result


def measure(name: str, server: Server, events: int, quiet: bool) -> list[dict[str, Any]]:
    is_acf = name == "aichatflow"
    names = (
        ("/api/chat", "/api/chat")
        if is_acf
        else (f"/api/chat?interval_ms={INTERVAL_MS}", "/api/chat")
    )
    with server:
        paced(server, names[0], 10)  # warm-up: imports, caches; not recorded
        sampler = Sampler(server.pid, server.port)
        sampler.start()
        try:
            runs = []
            for stall in (False, True):
                busy = wait_quiet(timeout=3.0) if quiet else 0.0
                r = one_run(server, sampler, names, events, stall)
                r.update(stack=name, background_busy_pct=busy)
                runs.append(r)
                print(
                    f"  {name} {r['run']}: p99 {r['lateness_ms_p99'] or 0:.1f} ms", file=sys.stderr
                )
        finally:
            sampler.halt.set()
        assert server.log_path is not None
        log = server.log_path.read_text(errors="replace")
    runs[-1]["stalled"]["log_send_timeouts"] = log.count("send timeout")
    runs[-1]["stalled"]["log_incomplete_responses"] = log.count("without completing response")
    return runs


def stalled_cell(s: dict[str, Any]) -> str:
    if not s:
        return "—"
    let_go = s["let_go_after_s"]
    side = s["at_readers_end"]
    where = "gone"
    if side is not None:
        owner = "held by the server" if side["owned"] else "orphaned"
        where = f"{side['state']}, {owner}, {side['unsent']:,} B unsent"
    held = "never let go" if let_go is None else f"let go after {let_go:.1f} s"
    return (
        f"{held}; at the readers' end: {where}; log: {s.get('log_send_timeouts', 0)} send "
        f"timeout, {s.get('log_incomplete_responses', 0)} 'returned without completing "
        f"response'; the client then read {s['bytes']:,} B, {s['end']}, terminal frame: "
        f"{s['terminal_frame']}"
    )


def mib(kib: float) -> str:
    return f"{kib / 1024:,.1f}"


def table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| stack | run | readers ok | delivered ev/s | readers' lateness p50 / p99 / max ms "
        "| server CPU % | RSS before / peak / after MiB | peak growth MiB | stalled stream |",
        "|---" * 9 + "|",
    ]
    for r in runs:
        rss = r["rss_kib"]
        late = [r[f"lateness_ms_{q}"] or 0.0 for q in ("p50", "p99", "max")]
        cells = [r["stack"], r["run"], f"{r['ok_streams']}/{r['streams']}"]
        cells.append(f"{r['events_per_s']:,.0f}")
        cells.append("{:.1f} / {:.1f} / {:.0f}".format(*late))
        cells.append(f"{r['server_cpu_pct']:.0f}")
        cells.append(" / ".join(mib(rss[k]) for k in ("before", "peak", "after")))
        cells += [mib(rss["peak"] - rss["before"]), stalled_cell(r["stalled"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = scenario_parser(__doc__, "6 s of reading per run instead of 20")
    ap.add_argument("--events", type=int, default=400, help="events per paced reader")
    ap.add_argument("--stacks", default="aichatflow,uvicorn_raw")
    args = ap.parse_args()
    args.events = 120 if args.quick else args.events
    pin_self(CLIENT_CPU)
    notes: list[str] = []
    runs: list[dict[str, Any]] = []
    info = machine()
    extra = mock_table("fast") + f"\n[stream]\nsend_timeout = {SEND_TIMEOUT_S}\n"
    with tempfile.TemporaryDirectory(prefix="acf-slow-") as tmp_name:
        tmp = Path(tmp_name)
        for name in args.stacks.split(","):
            if name == "aichatflow":
                server = aichatflow_server(
                    name, tmp, SERVER_CPU, provider="paced", tokens_per_second=20, extra=extra
                )
            else:
                server = baseline_server(name, tmp, notes, SERVER_CPU)
            if server is not None:
                runs += measure(name, server, args.events, not args.no_quiet_wait)
    path = save("slow-client", {"machine": info, "args": vars(args), "notes": notes, "runs": runs})
    print(
        f"\n### Scenario slow-client: {READERS} readers at 20 events/s ({args.events} events) "
        f"alone, then beside one stalled reader; send_timeout {SEND_TIMEOUT_S} s\n"
    )
    print(table(runs))
    failed = [
        f"{r['stack']} {r['run']}: {r['streams'] - r['ok_streams']} readers failed {r['failures']}"
        for r in runs
        if r["ok_streams"] != r["streams"]
    ]
    failed += [
        f"{r['stack']}: the server still held the stalled connection when the readers ended"
        for r in runs
        if r["stack"] == "aichatflow" and r["stalled"] and r["stalled"]["let_go_after_s"] is None
    ]
    finish(info, path, notes, failed)


if __name__ == "__main__":
    main()
