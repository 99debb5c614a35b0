#!/usr/bin/env bash
# scripts/valgrind-test.sh - the body of `make test-valgrind`: the
# Apache::Test suite with the suite's httpd as ONE process (Apache::Test's
# -one-process: httpd -X) under valgrind memcheck, as the first two suite
# runs of `make test` (scripts/run-tests.sh) do it natively:
#   1. t/TEST              every test, mpm_event
#   2. t/TEST t/protocol   the protocol tests again over wss:// (WS_TEST_TLS=1)
# (The prefork run of `make test` has no counterpart: a one-process
# prefork server serves one connection at a time, which the suite's
# concurrent tests cannot run against.)  The Debian packages are built
# first when build/deb/ has none, so that t/ops/deb.t runs rather than
# skips.  Run it through make, which installs valgrind if missing and
# builds first.
#
# How (see t/TEST.PL and scripts/httpd-valgrind):
#   WS_VALGRIND_DIR=<dir> t/TEST   t/TEST.PL then passes -one-process and
#                                  -httpd scripts/httpd-valgrind; the wrapper
#                                  runs the -X start under valgrind (queries
#                                  like -V run natively), one log per process
#                                  (vg.<pid>.log)
#   WS_TEST_TIME_FACTOR            every bounded wait of the test libraries
#                                  and clients is multiplied by it (default
#                                  here 10: the server runs 10-50x slower)
#   WS_TEST_ONE_PROCESS=1          (set by t/TEST.PL) tests that need several
#                                  children or restart the server skip, with
#                                  that reason; private httpds started by
#                                  tests (t/lib/PrivateHttpd.pm, several
#                                  children, other MPMs) run natively, NOT
#                                  under valgrind: valgrind covers the
#                                  suite's own server, which serves every
#                                  other test
#
# Fails (exit 1) if the suite fails, if no valgrind log appeared, if a log
# has no final ERROR SUMMARY (valgrind did not finish), or if any log has
# an error (memory errors, and definitely lost leaks: see httpd-valgrind
# for the leak kinds).  Everything is kept in build/valgrind/:
#   suite.log       run 1's output (t/TEST -verbose), suite-tls.log run 2's
#   vg.<pid>.log    valgrind's reports
#   summary.txt     the figures (date, commit, tests, wall time, errors)
#
# Environment: WS_TEST_PORT (default 8529 like make test),
# VALGRIND_SUITE_TIMEOUT (s, default 6000), WS_TEST_TIME_FACTOR,
# WS_VALGRIND_OPTS (extra valgrind options), VALGRIND_TESTS (test files or
# directories instead of the whole suite, e.g. "t/protocol").
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
OUT=$PWD/build/valgrind
VALGRIND_SUITE_TIMEOUT=${VALGRIND_SUITE_TIMEOUT:-6000}
export WS_TEST_TIME_FACTOR=${WS_TEST_TIME_FACTOR:-10}
export WS_TEST_MPM=event
export WS_VALGRIND_DIR=$OUT
unset WS_TEST_TLS WS_ASAN_DIR
read -r -a tests <<< "${VALGRIND_TESTS:-}"

command -v valgrind >/dev/null || { echo "valgrind-test: valgrind is not installed (scripts/deps.sh valgrind)" >&2; exit 1; }
if ! ulimit -n 65536 2>/dev/null; then ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; fi

rm -rf "$OUT"
mkdir -p "$OUT"
# valgrind opens its log as root, before httpd drops to nobody; the
# directory only has to be writable by root.

start=$(date +%s)
started_at=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (with local changes)' || true)

if ! ls build/deb/*.deb >/dev/null 2>&1 && [ -z "${VALGRIND_TESTS:-}" ]; then
    echo "valgrind-test: building the Debian packages first (for t/ops/deb.t)"
    timeout 600 env -u SANITIZE "${MAKE:-make}" --no-print-directory deb-nodeps \
        </dev/null > "$OUT/deb.log" 2>&1 || echo "valgrind-test: make deb failed (see build/valgrind/deb.log): t/ops/deb.t will skip"
fi

# suite LOG ARGS...: one bounded t/TEST run; sets rc (0 only on PASS).
rc=0
suite() {
    local log=$1 r result; shift
    echo "valgrind-test: t/TEST $* under valgrind, WS_TEST_TIME_FACTOR=$WS_TEST_TIME_FACTOR; log: build/valgrind/$log"
    timeout -k 30 "$VALGRIND_SUITE_TIMEOUT" t/TEST -verbose "$@" </dev/null > "$OUT/$log" 2>&1
    r=$?
    if [ "$r" -eq 124 ] || [ "$r" -eq 137 ]; then
        echo "valgrind-test: t/TEST $* did not finish within $VALGRIND_SUITE_TIMEOUT s" | tee -a "$OUT/$log"
        timeout 120 t/TEST -stop-httpd </dev/null >/dev/null 2>&1 || true
    fi
    result=$(grep -oE '^Result: [A-Z]+' "$OUT/$log" | tail -n 1)
    [ "$r" -eq 0 ] && [ "$result" = "Result: PASS" ] || rc=1
}

t/TEST -clean >/dev/null 2>&1 </dev/null || true
suite suite.log "${tests[@]}"
if [ -z "${VALGRIND_TESTS:-}" ]; then
    # Same configuration, no -clean (as make test): its error log appends.
    WS_TEST_TLS=1 suite suite-tls.log t/protocol
fi
# Keep the server's error log: -clean removes it.
cp t/logs/error_log "$OUT/error_log" 2>/dev/null || true

# Apache::Test's stop returns once the port is closed; valgrind then
# still checks for leaks and writes its summary.  Wait (bounded) for every
# log's process to end.
for log in "$OUT"/vg.*.log; do
    [ -e "$log" ] || continue
    pid=${log##*/vg.}; pid=${pid%.log}
    for _ in $(seq 600); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "valgrind-test: valgrind process $pid still running after 300 s: killing it" >&2
        kill -TERM "$pid" 2>/dev/null || true
    fi
done
wall=$(( $(date +%s) - start ))
t/TEST -clean >/dev/null 2>&1 </dev/null || true

fail=0
logs=("$OUT"/vg.*.log)
if [ ! -e "${logs[0]}" ]; then
    echo "valgrind-test: FAIL: no valgrind log in build/valgrind/ (did httpd run under valgrind?)"
    fail=1
    logs=()
fi
errors=0
for log in "${logs[@]}"; do
    line=$(grep -E '== ERROR SUMMARY: ' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "valgrind-test: FAIL: $log has no ERROR SUMMARY (valgrind did not finish)"
        fail=1
        continue
    fi
    n=$(sed -E 's/.*ERROR SUMMARY: ([0-9]+) errors.*/\1/' <<< "$line")
    errors=$((errors + n))
    [ "$n" -eq 0 ] || echo "valgrind-test: FAIL: $n error(s) in $log"
done
[ "$errors" -eq 0 ] || fail=1

# Figures, summed over the runs.  TAP: "Files=N, Tests=M" and "Result:
# ..."; -verbose prints every "ok N # skip" and each skipped file's
# "skipped: reason".
[ "$rc" -eq 0 ] || fail=1
suite_logs=("$OUT"/suite*.log)
sum() { awk '{s+=$1} END {print s+0}'; }
tests_run=$(cat "${suite_logs[@]}" | sed -nE 's/^Files=[0-9]+, Tests=([0-9]+).*/\1/p' | sum)
files=$(cat "${suite_logs[@]}" | sed -nE 's/^Files=([0-9]+).*/\1/p' | sum)
failed=$(cat "${suite_logs[@]}" | grep -oE 'Failed: [0-9]+\)' | grep -oE '[0-9]+' | sum)
skipped_tests=$(cat "${suite_logs[@]}" | grep -cE '^ok [0-9]+ # skip')
skipped_files=$(cat "${suite_logs[@]}" | grep -cE '^t/.*\.t \.+ skipped: ')
{
    echo "command:   make test-valgrind${VALGRIND_TESTS:+ VALGRIND_TESTS=\"$VALGRIND_TESTS\"} (WS_TEST_TIME_FACTOR=$WS_TEST_TIME_FACTOR)"
    echo "date:      $started_at"
    echo "commit:    $commit$dirty"
    echo "valgrind:  $(valgrind --version), httpd: $(/usr/sbin/apache2 -v | sed -n 's/^Server version: //p')"
    for log in "${suite_logs[@]}"; do
        echo "suite:     ${log##*/}: $(grep -E '^Files=' "$log" | tail -n 1 | cut -d'(' -f1) $(grep -oE '^Result: [A-Z]+' "$log" | tail -n 1)"
    done
    echo "tests:     ${tests_run:-0} run, $(( ${tests_run:-0} - failed - skipped_tests )) passed, $failed failed, $skipped_tests skipped; ${files:-0} files, $skipped_files of them skipped entirely"
    echo "wall time: ${wall} s"
    echo "valgrind:  ${#logs[@]} process log(s), $errors error(s):"
    for log in "${logs[@]}"; do
        echo "  ${log#"$PWD"/}: $(grep -E '== ERROR SUMMARY: ' "$log" | tail -n 1 | sed -E 's/^==[0-9]+== //')"
        grep -E '==    definitely lost: ' "$log" | tail -n 1 | sed -E 's/^==[0-9]+== +/    /'
    done
    cat "${suite_logs[@]}" | grep -E '^t/.*\.t \.+ skipped: ' | sed -E 's/ \.+ skipped: /: /; s/^/  skipped file: /'
} > "$OUT/summary.txt"
echo
echo "======== make test-valgrind summary (build/valgrind/)"
cat "$OUT/summary.txt"
if [ "$fail" -ne 0 ]; then
    cat "${suite_logs[@]}" | grep -E '^(not ok|t/.*Failed)' | head -20
    echo "valgrind-test: FAIL"
    exit 1
fi
echo "valgrind-test: PASS"
