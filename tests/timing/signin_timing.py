#!/usr/bin/env python3
"""Sign-in timing (OWASP ASVS: a failed sign-in takes the same time whatever
the cause): how long `POST /api/v1/auth/login` takes to answer 401 for a
wrong password, an unknown account name, an account locked account-wide and
a disabled account, measured against one real `cryptobot serve`.

Everything runs on this machine's loopback, in a work directory of its own:
a home made by `cryptobot secure-config` (SQLite, the release default
argon2id parameters of OWASP: m = 19456 KiB, t = 2, p = 1, with the home's
pepper), accounts made with `cryptobot user add`, one `serve`.

Categories (40 attempts each by default):
  wrong_password  accounts w0..w39, one wrong password each (40 wrong
                  passwords on one account would lock it: 5 per /24 or 20
                  in all within an hour)
  unknown_user    a new, never-existing name each time
  locked          account `locked`, locked account-wide beforehand by 20
                  wrong passwords, each from a /24 of its own
                  (127.0.(100+i).1); it never signs in, so no /24 is spared
                  by the lock; the measured attempts use its real password
  disabled        account `disabled` (`cryptobot user disable`), its real
                  password

Attempts are interleaved (round-robin over the categories, the order within
a round shuffled with a fixed seed) so drift affects all alike. Each comes
from a source address in a /24 used for nothing else (127.1.X.1), on a
connection opened first with `GET /healthz`: only the POST is timed, from
sending it to having read the whole answer. Every answer must be 401
`urn:cryptobot:problem:invalid-credentials`; afterwards the audit log must
show each attempt refused for the intended reason (`wrong_password`,
`unknown_user`, `locked`, `disabled`).

Meanwhile a thread sends `GET /api/v1/sessions` at --rate requests a second
(100 by default) from 127.0.0.1 with one signed-in session (account `ops`),
counting the answers; every one must be 200.

For this run only the sign-in and API rate limits are raised (attempts per
minute and burst, free failures before per-address delays, API calls per
minute and burst) so that no attempt meets a 429; the lockout budgets
(20 failures an hour per account, 5 per /24) are the defaults.

A JSON report goes to stdout (and --out); a table to stderr. Exit status 0
when every attempt was answered as expected; the medians are reported, not
judged (--max-spread makes a spread above that fraction a failure).
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import sqlite3
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "pylib"))
from harness import Client, Serve, body_json, cli, free_port, strong_password  # noqa: E402

INVALID = "urn:cryptobot:problem:invalid-credentials"
CATEGORIES = ("wrong_password", "unknown_user", "locked", "disabled")
# The reason each category's refusal carries in its `login_failed` audit row.
REASON = {c: c for c in CATEGORIES}

# Raised for this run only, so that no attempt (measured or not) and no
# background request meets a 429: the GCRA limits per address and per
# account name, and the progressive per-address delay after free failures.
# The configuration allows at most 60 sign-in attempts a minute and a burst
# of 100: every attempt comes from an address of its own, and the busiest
# account name (`locked`: 20 + --attempts) stays within the burst.
# The lockout budgets (security.rate_limiting.account_failures_per_hour,
# address_group_failures_per_hour, lock_minutes) are left at their defaults.
RUN_SETTINGS = {
    "CRYPTOBOT_SECURITY__RATE_LIMITING__LOGIN_ATTEMPTS_PER_MINUTE": "60",  # the most allowed
    "CRYPTOBOT_SECURITY__RATE_LIMITING__LOGIN_BURST": "100",
    "CRYPTOBOT_SECURITY__RATE_LIMITING__LOGIN_FREE_FAILURES": "20",
    "CRYPTOBOT_SECURITY__RATE_LIMITING__API_REQUESTS_PER_MINUTE": "1000000",
    "CRYPTOBOT_SECURITY__RATE_LIMITING__BURST": "10000",
}

LOCK_FAILURES = 20  # security.rate_limiting.account_failures_per_hour (default)
LOCK_SECONDS = 5 * 60  # the first lock: lock_minutes[0] (default)


class Failure(Exception):
    """The run did not go as it must; the message says what happened."""


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def summary(samples: list[float]) -> dict:
    s = sorted(samples)
    deciles = statistics.quantiles(s, n=10, method="inclusive") if len(s) > 1 else [s[0]] * 9
    return {
        "n": len(s),
        "median_ms": ms(statistics.median(s)),
        "p10_ms": ms(deciles[0]),
        "p90_ms": ms(deciles[8]),
        "min_ms": ms(s[0]),
        "max_ms": ms(s[-1]),
        "mean_ms": ms(statistics.fmean(s)),
    }


class Background(threading.Thread):
    """`GET /api/v1/sessions` at `rate` a second from 127.0.0.1 with one
    access token, one keep-alive connection, on a fixed schedule (a late
    request is sent at once; at most one second is caught up)."""

    def __init__(self, port: int, ca: Path, token: str, rate: float):
        super().__init__(daemon=True, name="background")
        self.client = Client(port, ca, timeout=15, source="127.0.0.1")
        self.token, self.period = token, 1.0 / rate
        self.statuses: collections.Counter = collections.Counter()
        self.stop = threading.Event()
        self.times: list[float] = []
        self.started = self.ended = 0.0

    def run(self) -> None:
        self.started = nxt = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            nxt = max(nxt + self.period, now - 1.0)
            if nxt > now:
                time.sleep(nxt - now)
            try:
                st, _, _ = self.client.request("GET", "/api/v1/sessions", token=self.token)
                key = str(st)
            except (OSError, http.client.HTTPException, ssl.SSLError) as e:
                key = f"transport:{type(e).__name__}"
            self.statuses[key] += 1
            self.times.append(time.monotonic())
        self.ended = time.monotonic()
        self.client.close()

    def between(self, t0: float, t1: float) -> int:
        return sum(1 for t in self.times if t0 <= t <= t1)


class PidServe(Serve):
    """`Serve` that writes its pid to WORK/serve.pid as soon as it started,
    so run.sh can end exactly that process if this script is killed."""

    def wait_ready(self, wait: float) -> None:
        (self.log.parent / "serve.pid").write_text(f"{self.pid}\n")
        super().wait_ready(wait)


def attempt(port: int, ca: Path, source: str, username: str, password: str) -> float:
    """One sign-in attempt from `source` on a connection opened (TLS done,
    one request answered) before; returns the seconds from sending the POST
    to having read its whole answer. Raises Failure unless it is 401
    invalid-credentials."""
    c = Client(port, ca, timeout=30, source=source)
    try:
        st, _, _ = c.request("GET", "/healthz")
        if st != 200:
            raise Failure(f"GET /healthz from {source} answered {st}")
        t0 = time.perf_counter()
        st, _, payload = c.request("POST", "/api/v1/auth/login", {"username": username, "password": password})
        took = time.perf_counter() - t0
        if c.reconnects:
            raise Failure(f"the connection from {source} was closed before the POST; the timing is void")
        kind = body_json(payload).get("type")
        if st != 401 or kind != INVALID:
            raise Failure(f"sign-in of {username!r} from {source} answered {st} {kind!r}, "
                          f"not 401 {INVALID}")
        return took
    finally:
        c.close()


def sign_in(port: int, ca: Path, source: str, username: str, password: str) -> str:
    c = Client(port, ca, source=source)
    try:
        st, _, payload = c.request("POST", "/api/v1/auth/login", {"username": username, "password": password})
        b = body_json(payload)
        if st != 200 or "access_token" not in b:
            raise Failure(f"sign-in of {username} answered {st} {b.get('type')!r}")
        return b["access_token"]
    finally:
        c.close()


def audit_reasons(db: Path, since_ms: int) -> dict[str, tuple[str, str]]:
    """client address → (subject, reason) of the `login_failed` rows
    written since `since_ms`."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT client_addr, subject, details FROM audit_log WHERE event = 'login_failed' AND at_ms >= ?",
            (since_ms,),
        ).fetchall()
    finally:
        con.close()
    out = {}
    for addr, subject, details in rows:
        try:
            reason = json.loads(details).get("reason")
        except ValueError:
            reason = None
        out[str(addr)] = (subject, reason)
    return out


def table(report: dict) -> str:
    lines = [
        f"{'category':<16} {'n':>3} {'median':>8} {'p10':>8} {'p90':>8} {'min':>8} {'max':>8}   (ms)",
    ]
    for cat, s in report["categories"].items():
        lines.append(f"{cat:<16} {s['n']:>3} {s['median_ms']:>8.1f} {s['p10_ms']:>8.1f} {s['p90_ms']:>8.1f} "
                     f"{s['min_ms']:>8.1f} {s['max_ms']:>8.1f}")
    sp = report["median_spread"]
    lines.append(f"largest difference between medians: {sp['ms']:.1f} ms ({sp['percent']:.1f} % of the "
                 f"smallest), {sp['slowest']} vs {sp['fastest']}")
    b = report["background"]
    lines.append(f"background GET /api/v1/sessions: {b['requests']} requests in {b['seconds']} s "
                 f"({b['rate_per_s']}/s, target {b['target_rate_per_s']}/s; during the measured attempts "
                 f"{b['rate_during_attempts_per_s']}/s), statuses {b['statuses']}")
    lines.append(report["rate_limits_note"])
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, type=Path, help="the cryptobot binary")
    ap.add_argument("--work", type=Path, default=None, help="work directory (default: a new temporary one)")
    ap.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    ap.add_argument("--attempts", type=int, default=40, help="attempts per category")
    ap.add_argument("--rate", type=float, default=100.0, help="background requests a second")
    ap.add_argument("--seed", type=int, default=19, help="seed of the order within each round")
    ap.add_argument("--max-spread", type=float, default=None,
                    help="fail when the medians differ by more than this fraction (e.g. 0.15)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if not 2 <= args.attempts <= 80 or not 0 < args.rate <= 1000:
        # 20 + 80 sign-ins of `locked` fill the per-name burst of 100.
        ap.error("--attempts 2-80, --rate up to 1000")

    # The background thread and the timed requests share the interpreter:
    # a thread that wants it back waits at most this long (default 5 ms).
    sys.setswitchinterval(0.0005)
    work = args.work or Path(tempfile.mkdtemp(prefix="cryptobot-timing-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    serve: Serve | None = None
    bg: Background | None = None
    report: dict = {
        "attempts_per_category": args.attempts,
        "settings_for_this_run": RUN_SETTINGS,
        "rate_limits_note": (
            "rate limits raised for this run only (sign-in attempts 60/min and burst 100 per address and per "
            "account name, 20 free failures per address before delays, API 1000000/min, burst 10000) so that no request meets a 429; "
            "lockout budgets unchanged (20 failures/hour per account, 5 per /24)"
        ),
    }
    failures: list[str] = []

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        report["loadavg_before"] = os.getloadavg()
        cli(args.bin, home, ["secure-config", "-q"])
        pw: dict[str, str] = {}
        accounts = [("ops", "viewer"), ("locked", "viewer"), ("disabled", "viewer")]
        accounts += [(f"w{i}", "viewer") for i in range(args.attempts)]
        for name, role in accounts:
            pw[name] = strong_password()
            cli(args.bin, home, ["user", "add", name, "--role", role, "--password-stdin"], pw[name] + "\n")
        cli(args.bin, home, ["user", "disable", "disabled"])

        port = free_port()
        serve = PidServe(args.bin, home, port, work / "serve.log", RUN_SETTINGS)
        serve.start()
        ca = home / "config/tls/server.crt"
        token = sign_in(port, ca, "127.0.0.1", "ops", pw["ops"])

        # Lock `locked` account-wide: 20 wrong passwords, each from its own
        # /24, so no /24 reaches its own limit of 5 first.
        t_lock = time.monotonic()
        for i in range(LOCK_FAILURES):
            attempt(port, ca, f"127.0.{100 + i}.1", "locked", strong_password())
        locked_at = time.monotonic()

        # The measured attempts.
        rng = random.Random(args.seed)
        plan: list[tuple[str, str, str]] = []  # (category, username, password)
        for r in range(args.attempts):
            rnd = [
                ("wrong_password", f"w{r}", strong_password()),
                ("unknown_user", f"nobody-{secrets.token_hex(6)}", strong_password()),
                ("locked", "locked", pw["locked"]),
                ("disabled", "disabled", pw["disabled"]),
            ]
            rng.shuffle(rnd)
            plan += rnd
        since_ms = int(time.time() * 1000)
        bg = Background(port, ca, token, args.rate)
        bg.start()
        time.sleep(2.0)  # the background traffic settles first
        samples: dict[str, list[float]] = {c: [] for c in CATEGORIES}
        sources: dict[str, str] = {}
        t0 = time.monotonic()
        for k, (cat, user, password) in enumerate(plan):
            # A /24 of its own, used for nothing else: 127.1.0.1, 127.1.1.1, …
            source = f"127.{1 + k // 256}.{k % 256}.1"
            samples[cat].append(attempt(port, ca, source, user, password))
            sources[source] = cat
        t1 = time.monotonic()
        time.sleep(0.5)
        bg.stop.set()
        bg.join(timeout=30)
        if t1 - locked_at > LOCK_SECONDS - 10:
            failures.append(f"the measurement ended {t1 - locked_at:.0f} s after the lock began; "
                            f"it lasts {LOCK_SECONDS} s")

        serve.stop()
        # Every refusal for the intended reason, from the audit log.
        seen = audit_reasons(home / "data/cryptobot.db", since_ms)
        wrong = collections.Counter()
        for source, cat in sources.items():
            got = seen.get(source, (None, None))[1]
            if got != REASON[cat]:
                wrong[f"{cat} refused as {got}"] += 1
        report["audit_check"] = {"attempts": len(sources), "refused_for_another_reason": dict(wrong)}
        if wrong:
            failures.append(f"attempts refused for another reason than their category: {dict(wrong)}")

        report["lock_phase_seconds"] = round(locked_at - t_lock, 1)
        report["measured_seconds"] = round(t1 - t0, 1)
        report["categories"] = {c: summary(samples[c]) for c in CATEGORIES}
        medians = {c: report["categories"][c]["median_ms"] for c in CATEGORIES}
        slow, fast = max(medians, key=medians.get), min(medians, key=medians.get)
        spread = medians[slow] - medians[fast]
        report["median_spread"] = {
            "ms": round(spread, 2),
            "percent": round(100 * spread / medians[fast], 1),
            "slowest": slow,
            "fastest": fast,
        }
        if args.max_spread is not None and spread > args.max_spread * medians[fast]:
            failures.append(f"the medians differ by {report['median_spread']['percent']} % "
                            f"(more than {100 * args.max_spread:.0f} %)")
        secs = bg.ended - bg.started
        requests = sum(bg.statuses.values())
        report["background"] = {
            "requests": requests,
            "seconds": round(secs, 1),
            "rate_per_s": round(requests / secs, 1) if secs else 0,
            "target_rate_per_s": args.rate,
            "requests_during_attempts": bg.between(t0, t1),
            "rate_during_attempts_per_s": round(bg.between(t0, t1) / (t1 - t0), 1),
            "statuses": dict(sorted(bg.statuses.items())),
        }
        not_ok = {k: v for k, v in bg.statuses.items() if k != "200"}
        if not_ok:
            failures.append(f"background requests not answered 200: {not_ok}")
        report["samples_ms"] = {c: [ms(x) for x in samples[c]] for c in CATEGORIES}
        report["loadavg_after"] = os.getloadavg()
        text = serve.log.read_text(errors="replace")
        report["serve_log"] = {"panics": text.count("panicked"),
                               "warn_lines": sum(1 for line in text.splitlines() if "WARN" in line)}
        if text.count("panicked"):
            failures.append("serve panicked")
    except (Failure, RuntimeError) as e:
        failures.append(str(e))
    except KeyboardInterrupt as e:
        failures.append(f"interrupted: {e}")
    finally:
        if bg is not None:
            bg.stop.set()
        if serve is not None:
            serve.stop()
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    report["failures"] = failures
    report["passed"] = not failures
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text, flush=True)
    if "categories" in report and "background" in report:
        print("\n" + table(report), file=sys.stderr, flush=True)
    for f in failures:
        print(f"signin_timing: FAILED: {f}", file=sys.stderr, flush=True)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
