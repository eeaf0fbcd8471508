#!/usr/bin/env bash
# bench/peers.sh: engine, restic and borg back to back on one generated tree: first backup,
# no-change backup, backup after a 2% change, full restore, full data check; wall time, CPU time
# (user+sys), peak RSS and repository size for each step and tool. A Markdown table goes to stdout
# and DIR/peers.md, the JSON to DIR/peers.json. The work is done by bench/peers.ts (see its header
# for the method and the settings of each tool).
#
# Usage: bench/peers.sh [--size 1G] [--dir /tmp/engine-peers] [--tools engine,restic,borg]
#                       [--seed N] [--keep] [--warm]
#
# The page cache is dropped before every step (as root on Linux; otherwise the run says so once
# and stays warm); --warm keeps it warm.
#
# Needs (Debian packages, not needed by CI): GNU time (`apt-get install -y time`); restic and borg
# (`apt-get install -y restic borgbackup`): a tool that is not installed is skipped with a note.
# The engine is built here (`npm run build`) when dist/bench/peers.js is missing or older than
# its sources.
set -euo pipefail

root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$root"

if [[ ! -f dist/bench/peers.js || -n "$(find bench src workers native-bindings -name '*.ts' -newer dist/bench/peers.js -print -quit)" ]]; then
  echo "building (npm run build)..." >&2
  # tsc writes its output even when it reports type errors; go on then, but say so.
  if ! npm run --silent build >&2; then
    [[ -f dist/bench/peers.js ]] || { echo "peers: the build failed" >&2; exit 1; }
    echo "peers: warning: npm run build reported errors (above); using what it emitted" >&2
  fi
fi

exec node dist/bench/peers.js "$@"
