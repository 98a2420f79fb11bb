#!/usr/bin/env bash
# Sign-in timing (OWASP ASVS): a failed sign-in takes the same time whatever
# the cause. One `cryptobot serve` on SQLite with the release argon2id
# parameters; 40 attempts each for a wrong password, an unknown name, an
# account locked account-wide and a disabled one, interleaved, each from
# a /24 of its own, under 100 req/s of authenticated background traffic.
# See signin_timing.py.
#
#   tests/timing/run.sh
#   tests/timing/run.sh --out timing.json --attempts 40 --rate 100
#   tests/timing/run.sh --max-spread 0.15     fail when the medians differ by > 15 %
#
# Measure a release build: the binary is $CRYPTOBOT_BIN, else
# ${CARGO_TARGET_DIR:-target}/release/cryptobot (built when missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
bin=${CRYPTOBOT_BIN:-$target/release/cryptobot}
if [ ! -x "$bin" ]; then
  (cd "$repo" && cargo build --release --locked -p cryptobot)
fi

work=$(mktemp -d /tmp/cryptobot-timing.XXXXXX)
cleanup() {
  # signin_timing.py stops serve itself; this is for when it was killed:
  # only a serve whose command line names this work directory.
  if [ -f "$work/serve.pid" ]; then
    pid=$(cat "$work/serve.pid")
    if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$work"; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
python3 "$here/signin_timing.py" --bin "$bin" --work "$work" "$@"
