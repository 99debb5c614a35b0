#!/usr/bin/env bash
# bench/deps.sh - install what bench/run needs beyond `make build`, only
# what is missing (quiet otherwise):
#   apt-get: libwebsockets-dev (the lws peer), linux-perf (bench/profile),
#            python3-websockets, nodejs/npm when there is no node at all,
#            util-linux (taskset), procps (pgrep)
#   npm ci in bench/peers: uWebSockets.js (@trufflesuite/uws-js-unofficial,
#            prebuilt native binaries) and ws, pinned by package-lock.json
# Run as root (as everything here is); without root it only reports.
set -euo pipefail
cd "$(dirname "$0")"

required=(gcc pkg-config apache2-bin apache2-dev libwebsockets-dev
          python3 python3-websockets util-linux procps linux-perf)
if ! command -v node >/dev/null 2>&1; then
    required+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
    required+=(npm)
fi

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for p in "${required[@]}"; do is_installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench/deps.sh: missing: ${missing[*]} (run as root, or apt-get install them)" >&2
        exit 1
    fi
    echo "bench/deps.sh: installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file.
stamp=peers/node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ peers/package-lock.json -nt "$stamp" ] ||
   [ peers/package.json -nt "$stamp" ]; then
    echo "bench/deps.sh: npm ci in bench/peers" >&2
    (cd peers && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
