#!/usr/bin/env bash
# bench/deps.sh - install what bench/run needs beyond `make build`, only
# what is missing (quiet otherwise):
#   apt-get: libwebsockets-dev (the lws peer), linux-perf (bench/profile),
#            libssl-dev + openssl (wsload --tls, the TLS certificate; mod_ssl
#            comes with apache2-bin),
#            python3-websockets, nodejs/npm when there is no node at all,
#            util-linux (taskset), procps (pgrep), gnuplot-nox (bench/soak's
#            plot)
#   npm ci in bench/peers: uWebSockets.js (@trufflesuite/uws-js-unofficial,
#            prebuilt native binaries) and ws, pinned by package-lock.json
# Run as root (as everything here is); without root it only reports.
set -euo pipefail
cd "$(dirname "$0")/.."

# The project's installer does the apt and npm work; these are the extras.
NPM_DIRS=bench/peers exec scripts/deps.sh libwebsockets-dev util-linux procps linux-perf gnuplot-nox \
    libssl-dev openssl
