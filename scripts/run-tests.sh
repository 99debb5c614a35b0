#!/usr/bin/env bash
# scripts/run-tests.sh - the body of `make test` (run it through make, which
# first installs deps and builds build/*.so and t/TEST).
#
# Runs, in order, every runner even if an earlier one failed (one run shows
# everything that is broken):
#   1. make unit-test      protocol core, cmocka          (mk/core.mk)
#   2. make fuzz-replay    the fuzz corpora, replayed     (mk/core.mk)
#   2b. make deb-nodeps    the Debian packages into build/deb/ and lintian
#                          (t/ops/deb.t in 3 and 4 inspects and runs them)
#   3. t/TEST              Apache::Test suite, mpm_event
#   3b. t/TEST t/protocol  the protocol tests again over wss:// (WS_TEST_TLS=1:
#                          WSClient talks TLS to the suite's websocket_tls
#                          vhost), same server configuration as 3
#   4. t/TEST              the same suite, mpm_prefork (after t/TEST -clean)
# Each runner is bounded in time (a hang fails, it does not stall CI), its
# output is kept in build/test-logs/, and its summary is printed at the end.
# Exit status: 0 only if every runner passed (and, with SANITIZE=1, no
# sanitizer report appeared).
#
# Environment: MAKE, SANITIZE (from the Makefile); UNIT_TIMEOUT,
# SUITE_TIMEOUT, TLS_SUITE_TIMEOUT, DEB_TIMEOUT (seconds); WS_TEST_PORT (Apache::Test
# port, default 8529; the TLS vhost gets the next free one).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
MAKE=${MAKE:-make}
# Only "1" turns sanitizers on (mk/core.mk's default is SANITIZE=0).
SANITIZE=${SANITIZE:-}
[ "$SANITIZE" = 1 ] || SANITIZE=
UNIT_TIMEOUT=${UNIT_TIMEOUT:-600}
# Each suite run's bound: it takes 5-7 min on a quiet 2-core machine (the
# topics, Redis, deflate and browser tests came on top), more when the
# machine is shared; a hang still fails well inside CI's 30 minutes.
SUITE_TIMEOUT=${SUITE_TIMEOUT:-900}
# The wss:// run is t/protocol only (~80 s when healthy); its own, shorter
# bound keeps a TLS data path that stalls (every read waiting out its 10 s
# deadline) from holding make test for SUITE_TIMEOUT.
TLS_SUITE_TIMEOUT=${TLS_SUITE_TIMEOUT:-300}
# make deb takes about 35 s (build ~25 s, lintian ~10 s).
DEB_TIMEOUT=${DEB_TIMEOUT:-300}
# The transport is chosen here, step by step, not by the caller's shell.
unset WS_TEST_TLS
LOGS=build/test-logs

rm -rf "$LOGS"
mkdir -p "$LOGS"

# Every connection is a file descriptor: the idle-scale test holds 2,000
# WebSockets (client and server side in this one machine).  Raised for this
# shell and its children only.
if ! ulimit -n 65536 2>/dev/null; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    echo "run-tests: note: ulimit -n 65536 refused, using the hard limit $(ulimit -n)" >&2
fi

# SANITIZE=1: httpd runs through scripts/httpd-wrapper (t/TEST.PL passes
# -httpd when WS_ASAN_DIR is set), which preloads the ASan runtime and sends
# reports to WS_ASAN_DIR.  The children run as nobody: the directory must
# be world-writable, hence /tmp and mode 1777 rather than build/.
if [ -n "$SANITIZE" ]; then
    WS_ASAN_DIR=$(mktemp -d /tmp/mod_websocket-asan.XXXXXX)
    chmod 1777 "$WS_ASAN_DIR"
    export WS_ASAN_DIR
    trap 'rm -rf "$WS_ASAN_DIR"' EXIT
fi

names=() statuses=() summaries=()
total_passed=0 total_failed=0

# record NAME RC SUMMARY PASSED FAILED
record() {
    local status=PASS
    [ "$2" -eq 0 ] || status=FAIL
    # A runner that failed without a parsable count still counts as one.
    if [ "$status" = FAIL ] && [ "$5" -eq 0 ]; then set -- "$1" "$2" "$3" "$4" 1; fi
    names+=("$1") statuses+=("$status") summaries+=("$3")
    total_passed=$((total_passed + $4)) total_failed=$((total_failed + $5))
}

# step NAME TIMEOUT CMD... : runs CMD with output on the terminal and in
# $LOGS/NAME.log; sets RC.
step() {
    local name=$1 limit=$2; shift 2
    echo
    echo "======== $name: $*"
    # No stdin: nothing may wait for a prompt.
    timeout -k 20 "$limit" "$@" </dev/null 2>&1 | tee "$LOGS/$name.log"
    RC=${PIPESTATUS[0]}
    if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
        echo "run-tests: $name did not finish within $limit s" | tee -a "$LOGS/$name.log"
    fi
}

# ---- 1+2: the protocol core (targets from mk/core.mk)
for target in unit-test fuzz-replay; do
    step "$target" "$UNIT_TIMEOUT" "$MAKE" --no-print-directory "$target" ${SANITIZE:+SANITIZE=$SANITIZE}
    log="$LOGS/$target.log"
    # cmocka prints "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)..."
    # per test program.
    passed=$(grep -hoE '^\[  PASSED  \] [0-9]+' "$log" | awk '{s+=$NF} END {print s+0}')
    failed=$(grep -hoE '^\[  FAILED  \] [0-9]+' "$log" | awk '{s+=$NF} END {print s+0}')
    if [ "$passed" -gt 0 ] || [ "$failed" -gt 0 ]; then
        summary="cmocka: $passed passed, $failed failed"
    else
        summary=$(grep -vE '^make(\[[0-9]+\])?: (Entering|Leaving)|^\s*$' "$log" | tail -n 1 | cut -c1-110)
    fi
    record "$target" "$RC" "$summary" "$passed" "$failed"
done

# suite NAME TIMEOUT CMD...: one Apache::Test run (t/TEST ...), recorded
# as NAME (its counts) and NAME-crashes (httpd children that died).
suite() {
    local name=$1 limit=$2; shift 2
    # t/TEST only truncates its logs on -clean: a run without it (the wss://
    # one) appends.  Keep, and count crashes in, only this run's part.
    local f base from
    declare -A offset=()
    for f in t/logs/error_log t/logs/access_log t/logs/tls_access_log; do
        offset[$f]=$(stat -c %s "$f" 2>/dev/null || echo 0)
    done
    step "$name" "$limit" "$@"
    # If it was killed, its server is still up (httpd detaches): stop it.
    if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
        timeout 60 t/TEST -stop-httpd </dev/null >/dev/null 2>&1 || true
    fi
    # Keep the server's logs: the next -clean removes them.
    for f in t/logs/error_log t/logs/access_log t/logs/tls_access_log; do
        [ -f "$f" ] || continue
        from=${offset[$f]}
        [ "$(stat -c %s "$f")" -ge "$from" ] || from=0
        tail -c +$((from + 1)) "$f" > "$LOGS/$name.$(basename "$f")"
    done
    log="$LOGS/$name.log"
    # Test::Harness: "Files=N, Tests=M, ..." then "Result: PASS|FAIL";
    # failing files list "... Failed: K)".
    tests=$(grep -oE '^Files=[0-9]+, Tests=[0-9]+' "$log" | tail -n 1 | sed 's/.*Tests=//')
    tests=${tests:-0}
    failed=$(grep -oE 'Failed: [0-9]+\)' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
    result=$(grep -oE '^Result: [A-Z]+' "$log" | tail -n 1)
    summary="$(grep -E '^Files=' "$log" | tail -n 1 | cut -d, -f1-2) ${result:-Result: none}"
    # Exit 0 but no "Result: PASS" (e.g. no test found) is a failure too.
    rc=$RC
    [ "$rc" -ne 0 ] || [ "$result" = "Result: PASS" ] || rc=1
    record "$name" "$rc" "$summary" $((tests - failed)) "$failed"
    # A child that crashed fails the run even if every client-side check
    # passed (httpd replaces the child and the next test carries on).
    crashes=$(grep -cE 'AH00052: child pid [0-9]+ exit signal' \
                   "$LOGS/$name.error_log" 2>/dev/null || true)
    if [ "${crashes:-0}" -gt 0 ]; then
        grep -E 'AH00052' "$LOGS/$name.error_log" | head -5
        record "$name-crashes" 1 "$crashes httpd child crash(es), see $LOGS/$name.error_log" 0 1
    else
        record "$name-crashes" 0 "no httpd child crashed" 0 0
    fi
}

# ---- 2b: the Debian packages: dpkg-buildpackage in a copy of the tree
# under build/deb/, then lintian (Makefile, deb-nodeps).  A step of its own
# rather than a prerequisite of `test`: a packaging failure is one FAIL in
# the summary and every other runner still runs (t/ops/deb.t then reports
# what it finds, or skips if no .deb was made).  Always a plain build, also
# under SANITIZE=1: the packages are what users install (debian/rules
# forces SANITIZE=0 as well).
step deb "$DEB_TIMEOUT" env -u SANITIZE "$MAKE" --no-print-directory deb-nodeps
debs=$(ls build/deb/*.deb 2>/dev/null | wc -l)
if [ "$RC" -eq 0 ]; then
    summary="$debs .deb in build/deb/, lintian: no error or warning ($(grep -c '^O: ' build/deb/lintian.txt 2>/dev/null) overridden)"
    record deb 0 "$summary" 1 0
else
    summary=$(grep -vE '^make(\[[0-9]+\])?: |^\s*$' "$LOGS/deb.log" | tail -n 1 | cut -c1-110)
    record deb "$RC" "$debs .deb; $summary" 0 1
fi
, each from a clean config
for mpm in event prefork; do
    t/TEST -clean >/dev/null 2>&1 </dev/null || true
    export WS_TEST_MPM=$mpm
    suite "apache-test-$mpm" "$SUITE_TIMEOUT" t/TEST
    # ---- 3b: t/protocol over wss:// against the same configuration (no
    # -clean: same MPM, same vhosts).  Every protocol test runs unchanged,
    # with WSClient in its TLS mode; t/interop/*.t and t/ops are not rerun
    # (the interop clients cover wss:// and h2 in their own subtests).
    if [ "$mpm" = event ]; then
        suite "apache-test-$mpm-tls" "$TLS_SUITE_TIMEOUT" env WS_TEST_TLS=1 t/TEST t/protocol
    fi
done
t/TEST -clean >/dev/null 2>&1 </dev/null || true

# ---- sanitizer reports
if [ -n "$SANITIZE" ]; then
    reports=$(find "$WS_ASAN_DIR" -type f 2>/dev/null | sort)
    if [ -n "$reports" ]; then
        mkdir -p "$LOGS/sanitizer"
        echo
        echo "======== sanitizer reports:"
        for f in $reports; do
            echo "---- $f"
            cat "$f"
            cp "$f" "$LOGS/sanitizer/"
        done
        record sanitizers 1 "$(echo "$reports" | wc -l) report(s), see $LOGS/sanitizer/" 0 1
    else
        record sanitizers 0 "no ASan/UBSan report" 0 0
    fi
fi

# ---- summary
echo
echo "======== make test${SANITIZE:+ SANITIZE=$SANITIZE} summary (logs: $LOGS/)"
rc=0
for i in "${!names[@]}"; do
    printf '%-30s %s  %s\n' "${names[$i]}" "${statuses[$i]}" "${summaries[$i]}"
    [ "${statuses[$i]}" = PASS ] || rc=1
done
echo "Summary: $total_passed passed, $total_failed failed"
exit $rc
