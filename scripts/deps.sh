#!/usr/bin/env bash
# scripts/deps.sh - install what building and testing mod_websocket needs.
#
#   scripts/deps.sh [EXTRA-PACKAGE...]     (NPM_DIRS="dir..." to choose npm dirs)
#
# Idempotent and quiet: it asks dpkg what is already there and only runs
# apt-get (update + install) when something is missing.  Run as root (CI and
# developers are root on these machines); without root it only reports.
#
# Deliberately NOT installed: the `apache2` package.  It ships /etc/apache2
# and starts a system service; we only need the binary (apache2-bin), apxs
# (apache2-dev) and Apache::Test (libapache2-mod-perl2).  Every server this
# project starts is a private instance with its own ServerRoot.
set -euo pipefail

cd "$(dirname "$0")/.."

# Required packages: build (gcc make pkg-config apxs, zlib), unit tests
# (cmocka), the Apache::Test suite (libapache2-mod-perl2 brings Apache::Test
# and libwww-perl), the Python client tests (/usr/bin/python3 +
# python3-websockets), the browser test (chromium).  TLS and HTTP/2: openssl
# (the build generates a self-signed certificate for https/wss), the raw
# test client's TLS mode (libio-socket-ssl-perl, which pulls in
# libnet-ssleay-perl) and the HTTP/2 WebSocket client (python3-h2, which
# pulls in python3-hpack and python3-hyperframe).  Topics across children:
# hiredis (the module links it) and redis-server (the tests start private
# instances on loopback ports; the package's own service, where systemd
# starts one, is not used).  Perl modules beyond these
# are core (IO::Socket, Digest::SHA, MIME::Base64, JSON::PP...).  The
# Debian packages (`make deb`, tested by t/ops/deb.t): dpkg-dev
# (dpkg-buildpackage), build-essential (which dpkg-buildpackage checks for),
# debhelper and lintian; dh_apache2 comes with apache2-dev (which provides
# dh-apache2 on Debian 12).
required=(
    gcc make pkg-config
    apache2-bin apache2-dev
    libapache2-mod-perl2 libwww-perl
    libcmocka-dev zlib1g-dev
    python3 python3-websockets
    chromium fonts-liberation
    openssl libio-socket-ssl-perl python3-h2
    libhiredis-dev redis-server
    dpkg-dev build-essential debhelper lintian
)
# Extra packages a caller needs on top (e.g. bench/deps.sh).
required+=("$@")
# Optional: clang for the libFuzzer build of `make fuzz` (fuzz-replay only
# needs gcc), llvm for `make coverage` (llvm-profdata, llvm-cov).  A
# failure to install them is a warning, not an error.
optional=(clang llvm)

# Node.js only when there is no `node` at all: a machine may carry a newer
# Node.js from elsewhere (with its own npm); Debian's nodejs/npm would
# conflict with it.
if ! command -v node >/dev/null 2>&1; then
    required+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
    required+=(npm)
fi

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=() missing_opt=()
for p in "${required[@]}"; do is_installed "$p" || missing+=("$p"); done
for p in "${optional[@]}"; do is_installed "$p" || missing_opt+=("$p"); done

if [ ${#missing[@]} -gt 0 ] || [ ${#missing_opt[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps.sh: missing packages: ${missing[*]} ${missing_opt[*]}" >&2
        echo "deps.sh: run as root (or: apt-get install ${missing[*]} ${missing_opt[*]})" >&2
        [ ${#missing[@]} -eq 0 ] || exit 1
    else
        export DEBIAN_FRONTEND=noninteractive
        apt_opts=(-y -q -o Dpkg::Use-Pty=0 --no-install-recommends)
        echo "deps.sh: installing: ${missing[*]} ${missing_opt[*]}"
        apt-get update -q >/dev/null
        if [ ${#missing[@]} -gt 0 ]; then
            apt-get install "${apt_opts[@]}" "${missing[@]}" >/dev/null
        fi
        if [ ${#missing_opt[@]} -gt 0 ]; then
            apt-get install "${apt_opts[@]}" "${missing_opt[@]}" >/dev/null ||
                echo "deps.sh: warning: optional ${missing_opt[*]} not installed (only \`make fuzz\` and \`make coverage\` need them)" >&2
        fi
    fi
fi

# npm packages of the real-client tests (helper-owned package.json files).
# Reinstall when node_modules is missing or older than the manifest/lock.
# Browser-downloading postinstall steps are switched off: the tests use
# Debian's /usr/bin/chromium and nothing but the registries is reachable.
export PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 \
       PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# NPM_DIRS: where to run npm (bench/deps.sh names bench/peers).
for dir in ${NPM_DIRS:-t/clients .}; do
    [ -f "$dir/package.json" ] || continue
    stamp="$dir/node_modules/.package-lock.json"
    if [ -f "$stamp" ] && [ ! "$dir/package.json" -nt "$stamp" ] &&
       { [ ! -f "$dir/package-lock.json" ] || [ ! "$dir/package-lock.json" -nt "$stamp" ]; }; then
        continue
    fi
    echo "deps.sh: npm install in $dir"
    if [ -f "$dir/package-lock.json" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    else
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
    fi
done
