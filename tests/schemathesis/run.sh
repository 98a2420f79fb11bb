#!/usr/bin/env bash
# API fuzzing: schemathesis (pinned in requirements.txt, installed into a
# virtualenv under ~/.cache when missing) against /openapi.json of a real
# `cryptobot serve`, with every check and positive and negative data,
# as admin, trader, viewer and a service API key. See fuzz.py.
#
#   tests/schemathesis/run.sh            CI size: 25 examples per operation and
#                                        caller, fixed seed (a few minutes)
#   tests/schemathesis/run.sh --long     1,000 examples, a random seed (printed)
#   tests/schemathesis/run.sh --max-examples N --seed S --out DIR
#
# The binary is $CRYPTOBOT_BIN, else ${CARGO_TARGET_DIR:-target}/debug/cryptobot
# (built when missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

max=25
seed=26
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --long) max=1000; seed="" ;;
    --max-examples) max=$2; shift ;;
    --seed) seed=$2; shift ;;
    *) extra+=("$1") ;;
  esac
  shift
done

target=${CARGO_TARGET_DIR:-$repo/target}
bin=${CRYPTOBOT_BIN:-$target/debug/cryptobot}
if [ ! -x "$bin" ]; then
  (cd "$repo" && cargo build --locked -p cryptobot)
fi

req=$here/requirements.txt
venv=${CRYPTOBOT_ST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/cryptobot/schemathesis-$(sha256sum "$req" | cut -c1-16)}
if [ ! -f "$venv/.complete" ]; then
  echo "installing schemathesis into $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 keeps venv (and ensurepip) in a package of its own.
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends python3-venv
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check --no-input -r "$req"
  touch "$venv/.complete"
fi

args=(--bin "$bin" --st "$venv/bin/st" --max-examples "$max")
[ -n "$seed" ] && args+=(--seed "$seed")
exec python3 "$here/fuzz.py" "${args[@]}" "${extra[@]}"
