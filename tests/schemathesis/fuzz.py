#!/usr/bin/env python3
"""Schemathesis against a real `cryptobot serve`, as every kind of caller.

Starts `serve` on a throwaway home (SQLite, 127.0.0.1, a free port), creates
an admin (with TOTP, signed in with a second factor), a trader, a viewer, a
service API key of the admin and a Binance exchange key, then runs
`st run /openapi.json` with every check and positive and negative data:

  public    operations without `security`, unauthenticated
  admin, trader, viewer, apikey
            every secured operation except logout, with that caller's
            `Authorization` header
  sign      the signing route as the trader, on the real exchange key
  users     the user administration routes as the admin, on a real account
  logout-*  logout as trader, viewer and API key (it ends the session, so
            it runs on a session of its own, last)

Only the rate limits of this run are raised (never the defaults), so the
fuzzer meets validation rather than 429: API and API-key calls per minute,
and the sign-in limits and delays to their highest allowed values.

Exit status 0 when every run passed and the server never answered 5xx, kept
running and logged no panic; 1 otherwise. Python 3 standard library only;
schemathesis is the `st` given with --st (tests/schemathesis/run.sh makes a
pinned virtualenv for it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pylib"))
from harness import Client, Serve, body_json, cli, free_port, strong_password, totp  # noqa: E402

ADMIN_SCOPES = (
    "users:manage,users:read,keys:manage,keys:read,keys:sign,"
    "trade:execute,trade:read,audit:read,system:admin,account:self"
)

# Raised for this run only: the fuzzer should meet validation, not 429.
RUN_SETTINGS = {
    "CRYPTOBOT_SECURITY__RATE_LIMITING__API_REQUESTS_PER_MINUTE": "1000000",
    "CRYPTOBOT_SECURITY__RATE_LIMITING__BURST": "10000",
    "CRYPTOBOT_SECURITY__RATE_LIMITING__API_KEY_REQUESTS_PER_MINUTE": "1000000",
    "CRYPTOBOT_SECURITY__RATE_LIMITING__LOGIN_ATTEMPTS_PER_MINUTE": "60",
    "CRYPTOBOT_SECURITY__RATE_LIMITING__LOGIN_BURST": "100",
    "CRYPTOBOT_SECURITY__RATE_LIMITING__LOGIN_FREE_FAILURES": "20",
    "CRYPTOBOT_SECURITY__RATE_LIMITING__LOGIN_DELAY_MAX_SECONDS": "1",
    "CRYPTOBOT_SECURITY__SESSION__ACCESS_TOKEN_SECONDS": "3600",
    "CRYPTOBOT_SECURITY__API_KEYS__MAX_KEYS_PER_USER": "100",
}


def sign_in(c: Client, user: str, password: str) -> dict:
    st, _, body = c.request("POST", "/api/v1/auth/login", {"username": user, "password": password})
    if st != 200:
        raise RuntimeError(f"sign-in of {user} answered {st}")
    return body_json(body)


def admin_with_mfa(c: Client, user: str, password: str) -> tuple[str, str]:
    """Enrolls TOTP for `user` and signs in with a backup code. Returns
    (token of a session with a fresh second factor, token of the
    enrollment session)."""
    first = sign_in(c, user, password)["access_token"]
    st, _, body = c.request("POST", "/api/v1/mfa/totp/enroll", {"password": password}, token=first)
    if st != 200:
        raise RuntimeError(f"enroll answered {st}")
    secret = body_json(body)["secret"]
    st, _, body = c.request("POST", "/api/v1/mfa/totp/confirm", {"code": totp(secret)}, token=first)
    if st != 200:
        raise RuntimeError(f"confirm answered {st}")
    backup = body_json(body)["backup_codes"]
    challenge = sign_in(c, user, password)
    st, _, body = c.request(
        "POST", "/api/v1/auth/mfa", {"mfa_token": challenge["mfa_token"], "code": backup[0]}
    )
    if st != 200:
        raise RuntimeError(f"MFA sign-in answered {st}")
    return body_json(body)["access_token"], first


def operations(doc: dict) -> tuple[list[str], list[str]]:
    """(public, secured) operation ids of the document."""
    public, secured = [], []
    for item in doc.get("paths", {}).values():
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            (secured if op.get("security") else public).append(op["operationId"])
    return public, secured


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, type=Path, help="the cryptobot binary")
    ap.add_argument("--st", required=True, type=Path, help="schemathesis' st")
    ap.add_argument("--max-examples", type=int, default=25, help="per operation and run")
    ap.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="keep logs and JUnit files here")
    ap.add_argument("--only", action="append", default=[], help="run only these runs (by name)")
    args = ap.parse_args()

    started = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="cryptobot-st-"))
    out = args.out or tmp / "out"
    out.mkdir(parents=True, exist_ok=True)
    home = tmp / "home"
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    serve = Serve(args.bin, home, free_port(), out / "serve.log", RUN_SETTINGS)
    ok = True
    try:
        serve.start()
        ca = home / "config/tls/server.crt"
        c = Client(serve.port, ca)
        pw = {u: strong_password() for u in ("st-admin", "st-trader", "st-viewer", "st-victim", "st-spare")}
        for user, role in (
            ("st-admin", "admin"),
            ("st-trader", "trader"),
            ("st-viewer", "viewer"),
            ("st-victim", "viewer"),
            ("st-spare", "viewer"),
        ):
            cli(args.bin, home, ["user", "add", user, "--role", role, "--password-stdin"], pw[user] + "\n")
        xk = json.loads(
            cli(
                args.bin,
                home,
                ["keys", "add", "--exchange", "binance", "--label", "fuzz", "--api-key",
                 "st" + os.urandom(16).hex(), "--permissions", "read,trade", "--secret-stdin",
                 "--format", "json"],
                os.urandom(24).hex() + "\n",
            )
        )["key"]["id"]
        api_key = cli(
            args.bin,
            home,
            ["apikey", "create", "--user", "st-admin", "--name", "fuzz", "--scopes", ADMIN_SCOPES,
             "--expires", "1d", "-q"],
        ).strip()
        admin, admin_plain = admin_with_mfa(c, "st-admin", pw["st-admin"])
        trader = sign_in(c, "st-trader", pw["st-trader"])["access_token"]
        viewer = sign_in(c, "st-viewer", pw["st-viewer"])["access_token"]
        spare = sign_in(c, "st-spare", pw["st-spare"])["access_token"]
        st, _, body = c.request("GET", "/openapi.json")
        public, secured = operations(json.loads(body))
        c.close()

        bearer = lambda t: f"Authorization: Bearer {t}"  # noqa: E731
        apikey_h = f"Authorization: ApiKey {api_key}"
        user_admin = {
            "disableUser", "enableUser", "unlockUser", "setUserRole",
            "issuePasswordReset", "endUserSessions", "deleteUser",
        }
        # Wrong codes and passwords there count towards the lockout and
        # the fifth wrong step-up code ends the session: they get a session
        # of their own, used last.
        reauth = {"stepUp", "endAllSessions", "mfaEnroll"}
        special = {"logout", "signExchangeRequest"} | user_admin | reauth
        general = [o for o in secured if o not in special]
        users_ops = [o for o in secured if o in user_admin]
        reauth_ops = [o for o in secured if o in reauth]
        runs: list[tuple[str, str | None, list[str], list[str]]] = [
            ("public", None, public, []),
            # The admin first: its second factor is fresh for 5 minutes.
            ("admin", bearer(admin), general, []),
            ("users", bearer(admin), users_ops, ["--set-path", "username=st-victim"]),
            ("trader", bearer(trader), general, []),
            ("sign", bearer(trader), ["signExchangeRequest"], ["--set-path", f"id={xk}"]),
            ("viewer", bearer(viewer), general, []),
            ("apikey", apikey_h, general + ["signExchangeRequest"] + users_ops + reauth_ops, []),
            ("reauth", bearer(spare), reauth_ops, []),
            ("logout-apikey", apikey_h, ["logout"], []),
            ("logout-admin", bearer(admin_plain), ["logout"], []),
            ("logout-viewer", bearer(viewer), ["logout"], []),
            ("logout-trader", bearer(trader), ["logout"], []),
        ]
        base = f"https://127.0.0.1:{serve.port}"
        summary = []
        for name, header, ops, extra in runs:
            if args.only and name not in args.only:
                continue
            cmd = [
                str(args.st), "run", f"{base}/openapi.json",
                "--experimental=openapi-3.1",
                "--checks", "all",
                "--data-generation-method", "all",
                "--hypothesis-max-examples", str(args.max_examples),
                "--hypothesis-seed", str(seed),
                "--hypothesis-database", "none",
                "--hypothesis-suppress-health-check", "all",
                "--request-tls-verify", str(ca),
                "--request-timeout", "20000",
                "--workers", str(args.workers),
                "--no-color",
                "--junit-xml", str(out / f"{name}.xml"),
                "--schemathesis-io-telemetry", "false",
                *extra,
            ]
            for op in ops:
                cmd += ["--include-operation-id", op]
            if header:
                cmd += ["--header", header]
            t0 = time.time()
            log = out / f"{name}.log"
            with open(log, "w") as f:
                rc = subprocess.run(
                    cmd,
                    stdout=f,
                    stderr=subprocess.STDOUT,
                    cwd=tmp,
                    env={
                        **os.environ,
                        "SCHEMATHESIS_TELEMETRY": "false",
                        "NO_COLOR": "1",
                        "SCHEMATHESIS_HOOKS": "hooks",
                        "PYTHONPATH": str(Path(__file__).resolve().parent),
                    },
                    check=False,
                ).returncode
            took = time.time() - t0
            text = log.read_text(errors="replace")
            last = [l for l in text.splitlines() if l.strip()][-1:] or [""]
            summary.append({"run": name, "exit": rc, "seconds": round(took, 1), "result": last[0].strip("= ")})
            print(f"schemathesis {name:14} exit {rc}  {took:6.1f} s  {last[0].strip('= ')}", flush=True)
            if rc != 0:
                ok = False
                print(text[-6000:], flush=True)
            if not serve.alive():
                print(f"serve died during the {name} run", flush=True)
                ok = False
                break
        log_text = serve.log.read_text(errors="replace")
        panics = log_text.count("panicked")
        errors = sum(1 for l in log_text.splitlines() if '"level":"ERROR"' in l or " ERROR " in l)
        if panics:
            ok = False
        print(
            json.dumps(
                {
                    "seed": seed,
                    "max_examples": args.max_examples,
                    "runs": summary,
                    "serve_alive": serve.alive(),
                    "serve_panics": panics,
                    "serve_error_lines": errors,
                    "seconds": round(time.time() - started, 1),
                    "passed": ok,
                }
            ),
            flush=True,
        )
        if errors:
            print(f"the serve log has {errors} ERROR lines: {serve.log}", flush=True)
        passed = sum(1 for r in summary if r["exit"] == 0)
        print(f"schemathesis: {passed} passed, {len(summary) - passed} failed", flush=True)
    finally:
        serve.stop()
        if args.out is None and ok:
            shutil.rmtree(tmp, ignore_errors=True)
        elif args.out is None:
            print(f"logs kept in {out}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
