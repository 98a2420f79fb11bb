#!/usr/bin/env bash
# Soak and chaos: two `cryptobot serve` on one PostgreSQL and one Redis of
# their own, mixed traffic, SIGKILL of one instance, a PostgreSQL restart,
# Redis stopped for 30 s and the home's disk filled to 99 %. See soak.py.
#
#   tests/soak/run.sh                 one minute (what .ci/run does)
#   tests/soak/run.sh --minutes 10    the nightly-style run
#   tests/soak/run.sh --minutes 10 --out report.json --rate 80
#
# Needs root for the tmpfs home (without it the disk-full phase is skipped),
# initdb/pg_ctl/psql and redis-server. The binary is $CRYPTOBOT_BIN, else
# ${CARGO_TARGET_DIR:-target}/debug/cryptobot (built when missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
bin=${CRYPTOBOT_BIN:-$target/debug/cryptobot}
if [ ! -x "$bin" ]; then
  (cd "$repo" && cargo build --locked -p cryptobot)
fi

work=$(mktemp -d /tmp/cryptobot-soak.XXXXXX)
cleanup() {
  # soak.py cleans up after itself; this is for when it was killed:
  # exactly the processes it started (serve, redis-server), then PostgreSQL.
  if [ -f "$work/pids" ]; then
    while read -r pid; do
      # only while the pid is still ours: its command line names $work
      # (serve) or it runs in a directory below it (redis-server)
      if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$work" ||
        [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$work"/* ]]; then
        kill -9 "$pid" 2>/dev/null || true
      fi
    done <"$work/pids"
  fi
  if [ -f "$work/pg/data/postmaster.pid" ]; then
    pg_ctl_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/pg_ctl
    [ -x "$pg_ctl_bin" ] || pg_ctl_bin=$(command -v pg_ctl || true)
    if [ -n "$pg_ctl_bin" ]; then
      if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$pg_ctl_bin" -D "$work/pg/data" stop -m immediate >/dev/null 2>&1 || true
      else
        "$pg_ctl_bin" -D "$work/pg/data" stop -m immediate >/dev/null 2>&1 || true
      fi
    fi
  fi
  mountpoint -q "$work/homefs" 2>/dev/null && umount "$work/homefs"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
python3 "$here/soak.py" --bin "$bin" --work "$work" "$@"
