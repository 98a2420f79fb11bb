"""Shared helpers for the out-of-process tests of `cryptobot serve`
(tests/schemathesis and tests/soak): start the real binary on a home,
talk HTTPS to it on loopback, create accounts and keys with the CLI,
compute TOTP codes. Python 3 standard library only.

Everything here talks to 127.0.0.1 only; no secret is ever printed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import signal
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path


# How a reused keep-alive connection fails when the server closed it while
# it was idle: nothing was sent, so the request may be sent again.
STALE = (ssl.SSLEOFError, http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strong_password() -> str:
    """A password the default policy accepts (classes, length, zxcvbn)."""
    return f"Qz{secrets.token_hex(10)}-Vx!{secrets.randbelow(90) + 10}"


def totp(secret_b32: str, at: float | None = None, step: int = 30) -> str:
    """RFC 6238 TOTP, SHA-1, 6 digits (what `serve` enrolls)."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off : off + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


class Client:
    """One keep-alive HTTPS connection to `serve` on 127.0.0.1, trusting
    the home's self-signed certificate (server name `localhost`)."""

    def __init__(self, port: int, ca: Path, timeout: float = 15.0, source: str | None = None):
        self.port = port
        self.timeout = timeout
        self.source = (source, 0) if source else None
        self.ctx = ssl.create_default_context(cafile=str(ca))
        self.conn: http.client.HTTPSConnection | None = None
        self.used = False
        self.reconnects = 0

    def _connect(self) -> http.client.HTTPSConnection:
        if self.conn is None:
            # 127.0.0.1, never a name: the certificate has it as an IP SAN.
            self.conn = http.client.HTTPSConnection(
                "127.0.0.1",
                self.port,
                context=self.ctx,
                timeout=self.timeout,
                source_address=self.source,
            )
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.used = False

    def request(
        self,
        method: str,
        path: str,
        body: object | None = None,
        token: str | None = None,
        api_key: str | None = None,
        headers: dict | None = None,
    ) -> tuple[int, dict, bytes]:
        """Sends one request; returns (status, headers, body). Connection
        errors raise OSError (or http.client.HTTPException) after the
        connection was dropped, so the next call reconnects."""
        h = {"Host": f"localhost:{self.port}"}
        if headers:
            h.update(headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = f"Bearer {token}"
        if api_key:
            h["Authorization"] = f"ApiKey {api_key}"
        for attempt in (0, 1):
            reused = self.conn is not None and self.used
            conn = self._connect()
            try:
                conn.request(method, path, body=data, headers=h)
                resp = conn.getresponse()
                payload = resp.read()
                break
            except STALE as e:
                # A kept-alive connection the server closed meanwhile (its
                # idle or header-read timeout): no request reached it, so
                # send it once more on a new connection, as HTTP clients do.
                self.close()
                if attempt == 0 and reused:
                    self.reconnects += 1
                    continue
                raise e
            except (OSError, http.client.HTTPException):
                self.close()
                raise
        self.used = True
        if resp.getheader("connection", "").lower() == "close":
            self.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload


def body_json(payload: bytes) -> dict:
    try:
        v = json.loads(payload)
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {"_": v}


def cli(binary: Path, home: Path, args: list[str], stdin: str = "", env: dict | None = None) -> str:
    """Runs `cryptobot ARGS --home HOME`; returns stdout, raises on failure
    (the error names the command, never the input)."""
    run = subprocess.run(
        [str(binary), *args, "--home", str(home)],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(
            f"`cryptobot {' '.join(args[:2])}` failed ({run.returncode}): {run.stderr.strip()[:500]}"
        )
    return run.stdout


def proc_rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class Serve:
    """One `cryptobot serve` process on 127.0.0.1:PORT, its output to a log
    file. `env` adds CRYPTOBOT_* settings for this process only."""

    def __init__(self, binary: Path, home: Path, port: int, log: Path, env: dict | None = None):
        self.binary, self.home, self.port, self.log = binary, home, port, log
        self.env = {
            **os.environ,
            "CRYPTOBOT_SERVER__BIND": f"127.0.0.1:{port}",
            "CRYPTOBOT_LOG": os.environ.get("CRYPTOBOT_LOG", "info,rustls=error"),
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, wait: float = 120.0) -> None:
        self.starts += 1
        logf = open(self.log, "ab")  # noqa: SIM115 (the child keeps it)
        logf.write(f"--- start {self.starts} at {time.time():.3f}\n".encode())
        logf.flush()
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--home", str(self.home)],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
        )
        logf.close()
        self.wait_ready(wait)

    def wait_ready(self, wait: float) -> None:
        deadline = time.time() + wait
        ca = self.home / "config/tls/server.crt"
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"serve on port {self.port} exited with {self.proc.returncode}; see {self.log}"
                )
            if ca.exists():
                c = Client(self.port, ca, timeout=2)
                try:
                    st, _, _ = c.request("GET", "/healthz")
                    if st == 200:
                        return
                except (OSError, http.client.HTTPException, ssl.SSLError):
                    pass
                finally:
                    c.close()
            time.sleep(0.2)
        raise RuntimeError(f"serve on port {self.port} not ready after {wait:.0f} s; see {self.log}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
