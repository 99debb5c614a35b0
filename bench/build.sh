# bench/build.sh - builds what the benchmarks run (sourced by bench/run and
# bench/profile; expects ROOT, BB, BIN): the module and echo handler (make
# build, copied to build/bench/modules/ with the commit they were built
# from) with the fan-out handler (bench/fanout_handler.c), and into
# build/bench/bin/ the load generator, the speed-of-light
# server (both linked with the protocol core, src/core, and apr-util) and the
# libwebsockets peer (wsload with OpenSSL, for --tls), and the TLS
# certificate.  The core needs zlib (permessage-deflate, wsp_deflate.c).
# -Wall -Wextra; any warning is shown.

# The TLS servers' certificate: self-signed, ECDSA P-256 (cheap handshakes,
# and the same for every server), build/bench/tls/{cert,key}.pem, made once.
TLS_CERT=$BB/tls/cert.pem
TLS_KEY=$BB/tls/key.pem
bench_cert() {
    [ -s "$TLS_CERT" ] && [ -s "$TLS_KEY" ] && return 0
    mkdir -p "$BB/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$TLS_KEY" -out "$TLS_CERT" -days 3650 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
    chmod 644 "$TLS_CERT" "$TLS_KEY"     # a benchmark key, read by every peer
}

bench_build() {
    local core_cflags core_libs core_srcs
    core_srcs=$(ls "$ROOT"/src/core/wsp_*.c)
    core_cflags="-I$ROOT/src/core $(apr-1-config --cflags --cppflags --includes) $(apu-1-config --includes)"
    core_libs="$(apu-1-config --link-ld --libs) $(apr-1-config --link-ld --libs) $(pkg-config --libs zlib)"
    mkdir -p "$BIN" "$BB/modules"
    bench_cert
    make -s -C "$ROOT" build >&2
    # The servers load a snapshot, so a rebuild in the tree during a run
    # cannot change what is measured; its commit goes into the results.
    # Copied beside and renamed over: cp onto the file a running httpd has
    # mapped rewrites its code in place and crashes it (seen: every child
    # of a running server segfaulting from then on).
    local so
    for so in mod_websocket.so mod_websocket_echo.so; do
        cp "$ROOT/build/$so" "$BB/modules/.$so.new"
        mv -f "$BB/modules/.$so.new" "$BB/modules/$so"
    done
    { git -C "$ROOT" log -1 --format='%h %s' 2>/dev/null || echo unknown
      git -C "$ROOT" status --porcelain -- src include handlers mod_websocket.c 2>/dev/null \
          | grep -q . && echo "(with uncommitted changes in the module's sources)"
      true
    } | paste -sd' ' > "$BB/modules/COMMIT"
    # bench/run --modws-old-build DIR: another tree's build (its own `make
    # build`, done here if needed), snapshotted for the modws_old server.
    if [ -n "${MODWS_OLD_BUILD:-}" ]; then
        mkdir -p "$BB/modules-old"
        [ -f "$MODWS_OLD_BUILD/build/mod_websocket.so" ] || make -s -C "$MODWS_OLD_BUILD" build >&2
        cp "$MODWS_OLD_BUILD/build/mod_websocket.so" "$MODWS_OLD_BUILD/build/mod_websocket_echo.so" \
            "$BB/modules-old/"
        { git -C "$MODWS_OLD_BUILD" log -1 --format='%h %s' 2>/dev/null || echo unknown; } \
            > "$BB/modules-old/COMMIT"
    fi
    # shellcheck disable=SC2086
    gcc -O2 -g -Wall -Wextra $core_cflags -I"$ROOT/bench" -o "$BIN/wsload" \
        "$ROOT/bench/wsload.c" "$ROOT/bench/wsl_net.c" "$ROOT/bench/wsl_hist.c" \
        "$ROOT/bench/wsl_deflate.c" "$ROOT/bench/wsl_json.c" "$ROOT/bench/wsl_fanout.c" \
        $core_srcs $core_libs $(pkg-config --libs openssl)
    # The fan-out groups' handler (bench/fanout_handler.c), against the
    # module's public header only, beside the module snapshot.
    gcc -O2 -g -Wall -Wextra -fPIC -shared -I"$ROOT/include" \
        -o "$BB/modules/.mod_websocket_fanout.so.new" "$ROOT/bench/fanout_handler.c"
    mv -f "$BB/modules/.mod_websocket_fanout.so.new" "$BB/modules/mod_websocket_fanout.so"
    # shellcheck disable=SC2086
    gcc -O2 -g -Wall -Wextra $core_cflags -o "$BIN/sol_server" \
        "$ROOT/bench/sol_server.c" $core_srcs $core_libs
    # shellcheck disable=SC2046
    gcc -O2 -g -Wall -Wextra -o "$BIN/lws_echo" "$ROOT/bench/peers/lws_echo.c" \
        $(pkg-config --cflags --libs libwebsockets)
}
