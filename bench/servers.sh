# bench/servers.sh - start, stop and find the processes of every server in
# the comparison.  Sourced by bench/run and bench/profile (bash); expects
# ROOT (repo top), BB (build/bench) and BIN (build/bench/bin) to be set.
#
# Every server listens on 127.0.0.1 only, runs pinned to CPU 0 (taskset) with
# `ulimit -n 20000` (the hard limit here), and answers WebSockets on /echo.
#
#   name       what                                               port
#   modws      httpd + mod_websocket, 1 child (throughput, 10k)    19101
#   modws100k  httpd + mod_websocket, 8 children (100k hold)       19108
#   modws_old  as modws, another build (bench/run --modws-old-build) 19109
#   modws_tls  as modws, wss:// (mod_ssl vhost, httpd -D BENCH_TLS)  19111
#   uws_tls    uWebSockets.js SSLApp, wss://                         19113
#   ws_tls     Node ws on https.createServer, wss://                 19114
#   lws_tls    libwebsockets with its OpenSSL context, wss://        19116
#   (the *_tls servers use build/bench/tls/{cert,key}.pem; sol has no TLS)
#   permessage-deflate (bench/run's deflate groups; sol has none):
#   modws_pmd      as modws, WebSocketDeflate On (shared mode)           19121
#   modws_pmd_ded  as modws, WebSocketDeflateMode dedicated              19122
#   uws_pmd        uWebSockets, SHARED_COMPRESSOR|SHARED_DECOMPRESSOR     19123
#   uws_pmd_ded    uWebSockets, DEDICATED_COMPRESSOR_16KB (window 11,
#                  memLevel 4, as modws dedicated)|SHARED_DECOMPRESSOR    19124
#   ws_pmd         Node ws, perMessageDeflate: true (its defaults)        19125
#   py_pmd         Python websockets, compression="deflate" (its default) 19126
#   lws_pmd        libwebsockets with lws_extension_callback_pm_deflate   19127
#   sol        bench/sol_server.c, single-threaded epoll            19102
#   uws        uWebSockets.js (native)                              19103
#   ws         Node ws                                              19104
#   py         Python websockets (asyncio)                          19105
#   lws        libwebsockets                                        19106
#   proxy      httpd mod_proxy_http upgrade=websocket -> Node ws    19107 (ws on 19157)
#   topics (bench/run's fanout groups, path /fanout):
#   modws_fan    as modws (1 child), -D BENCH_FANOUT: bench/fanout_handler.c 19131
#   modws_redis  4 children, -D BENCH_FANOUT -D BENCH_PUBSUB: topics through
#                a private redis-server (started and stopped with it,
#                pinned to CPU 0 too, no persistence)     19132 (Redis on 19139)
#   uws_fan      uWebSockets.js ws.subscribe/app.publish (uws_pubsub.js) 19133

HTTPD=${HTTPD:-/usr/sbin/apache2}
MODULE_DIR=${MODULE_DIR:-/usr/lib/apache2/modules}
RUN_USER=$(id -u www-data >/dev/null 2>&1 && echo www-data || echo nobody)
RUN_GROUP=$(id -gn "$RUN_USER" 2>/dev/null || echo nogroup)

declare -A SRV_PORT=([modws]=19101 [sol]=19102 [uws]=19103 [ws]=19104 [py]=19105
                     [lws]=19106 [proxy]=19107 [modws100k]=19108 [modws_old]=19109
                     [modws_tls]=19111 [uws_tls]=19113 [ws_tls]=19114 [lws_tls]=19116
                     [modws_pmd]=19121 [modws_pmd_ded]=19122 [uws_pmd]=19123 [uws_pmd_ded]=19124
                     [ws_pmd]=19125 [py_pmd]=19126 [lws_pmd]=19127
                     [modws_fan]=19131 [modws_redis]=19132 [uws_fan]=19133)
declare -A SRV_LABEL=([modws]="mod_websocket" [sol]="speed-of-light" [uws]="uWebSockets"
                      [ws]="Node ws" [py]="Python websockets" [lws]="libwebsockets"
                      [proxy]="httpd proxy -> ws" [modws100k]="mod_websocket (8 children)"
                      [modws_old]="mod_websocket (old build)" [modws_tls]="mod_websocket wss"
                      [uws_tls]="uWebSockets wss" [ws_tls]="Node ws wss" [lws_tls]="libwebsockets wss"
                      [modws_pmd]="mod_websocket deflate shared" [modws_pmd_ded]="mod_websocket deflate dedicated"
                      [uws_pmd]="uWebSockets deflate shared" [uws_pmd_ded]="uWebSockets deflate dedicated"
                      [ws_pmd]="Node ws deflate" [py_pmd]="Python websockets deflate"
                      [lws_pmd]="libwebsockets deflate"
                      [modws_fan]="mod_websocket, 1 child" [modws_redis]="mod_websocket + Redis, 4 children"
                      [uws_fan]="uWebSockets")
PROXY_BACKEND_PORT=19157
REDIS_PORT=19139

srv_dir() { echo "$BB/srv-$1"; }

# Waits (at most 20 s) until 127.0.0.1:$1 accepts TCP.
wait_port() {
    local i
    for i in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# render_httpd_conf NAME TEMPLATE START SERVER_LIMIT THREADS FACTOR [MODULES]
# MODULES: where mod_websocket.so and mod_websocket_echo.so are
# (default build/bench/modules; modws_old: build/bench/modules-old).
render_httpd_conf() {
    local dir; dir=$(srv_dir "$1")
    local mods=${7:-$BB/modules}
    mkdir -p "$dir/conf" "$dir/logs"
    chmod 755 "$dir" "$dir/logs"
    sed -e "s|@SERVER_ROOT@|$dir|g" -e "s|@PORT@|${SRV_PORT[$1]}|g" \
        -e "s|@MODULE_DIR@|$MODULE_DIR|g" -e "s|@BUILD_DIR@|$mods|g" \
        -e "s|@RUN_USER@|$RUN_USER|g" -e "s|@RUN_GROUP@|$RUN_GROUP|g" \
        -e "s|@START@|$3|g" -e "s|@SERVER_LIMIT@|$4|g" -e "s|@THREADS@|$5|g" \
        -e "s|@MAX_WORKERS@|$(( $4 * $5 ))|g" -e "s|@FACTOR@|$6|g" \
        -e "s|@TLS_CERT@|$TLS_CERT|g" -e "s|@TLS_KEY@|$TLS_KEY|g" \
        -e "s|@BACKEND_PORT@|$PROXY_BACKEND_PORT|g" -e "s|@REDIS_PORT@|$REDIS_PORT|g" \
        "$2" > "$dir/conf/httpd.conf"
}

# MODWS_CONF (bench/run --modws-conf): extra directives for the
# mod_websocket servers, one per line, e.g. "MaxMemFree 1" for experiments.
add_modws_conf() {
    [ -z "${MODWS_CONF:-}" ] && return 0
    printf '\n# bench/run --modws-conf\n%s\n' "$MODWS_CONF" >> "$(srv_dir "$1")/conf/httpd.conf"
}

# start_httpd NAME [-D DEFINE...]
start_httpd() {
    local dir; dir=$(srv_dir "$1")
    shift
    rm -f "$dir/logs/httpd.pid"
    (ulimit -n 20000 && exec taskset -c 0 "$HTTPD" -f "$dir/conf/httpd.conf" "$@" -k start) ||
        { tail -n 20 "$dir/logs/error_log" >&2 2>/dev/null; return 1; }
}

# Starts a background process pinned to CPU 0; its pid goes to NAME.pid.
start_bg() {
    local name=$1; shift
    local dir; dir=$(srv_dir "$name")
    mkdir -p "$dir"
    (ulimit -n 20000 && exec taskset -c 0 "$@") >"$dir/out.log" 2>&1 &
    echo $! > "$dir/$name.pid"
}

# start_redis NAME: the private redis-server of NAME on $REDIS_PORT (loopback,
# no persistence, no output-buffer limit for the children's subscriber
# links: the bench bounds what is in flight), pinned to CPU 0 with the
# server; its pid in NAME.redis.pid.
start_redis() {
    local dir; dir=$(srv_dir "$1")
    mkdir -p "$dir"
    if port_in_use "$REDIS_PORT"; then
        echo "bench: port $REDIS_PORT (redis for $1) is already in use" >&2
        return 1
    fi
    taskset -c 0 /usr/bin/redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$dir" --client-output-buffer-limit 'pubsub 0 0 0' \
        --loglevel warning --logfile "$dir/redis.log" --daemonize no >/dev/null 2>&1 &
    echo $! > "$dir/$1.redis.pid"
    wait_port "$REDIS_PORT"
}

srv_start() {
    local name=$1 port=${SRV_PORT[$1]}
    if port_in_use "$port"; then
        echo "bench: port $port ($name) is already in use" >&2
        return 1
    fi
    case $name in
    modws)     render_httpd_conf modws "$ROOT/bench/httpd.conf.in" 1 1 25 700
               add_modws_conf modws
               start_httpd modws ;;
    modws_old) [ -f "$BB/modules-old/mod_websocket.so" ] ||
                   { echo "bench: modws_old needs --modws-old-build DIR" >&2; return 1; }
               render_httpd_conf modws_old "$ROOT/bench/httpd.conf.in" 1 1 25 700 "$BB/modules-old"
               add_modws_conf modws_old
               start_httpd modws_old ;;
    modws_tls) render_httpd_conf modws_tls "$ROOT/bench/httpd.conf.in" 1 1 25 700
               add_modws_conf modws_tls
               start_httpd modws_tls -D BENCH_TLS ;;
    modws_pmd) render_httpd_conf modws_pmd "$ROOT/bench/httpd.conf.in" 1 1 25 700
               add_modws_conf modws_pmd
               start_httpd modws_pmd -D BENCH_DEFLATE ;;
    modws_pmd_ded) render_httpd_conf modws_pmd_ded "$ROOT/bench/httpd.conf.in" 1 1 25 700
               add_modws_conf modws_pmd_ded
               start_httpd modws_pmd_ded -D BENCH_DEFLATE -D BENCH_DEFLATE_DEDICATED ;;
    modws_fan) render_httpd_conf modws_fan "$ROOT/bench/httpd.conf.in" 1 1 25 700
               add_modws_conf modws_fan
               start_httpd modws_fan -D BENCH_FANOUT ;;
    modws_redis) start_redis modws_redis || return 1
               render_httpd_conf modws_redis "$ROOT/bench/httpd.conf.in" 4 4 25 700
               add_modws_conf modws_redis
               start_httpd modws_redis -D BENCH_FANOUT -D BENCH_PUBSUB ;;
    uws_fan)   start_bg uws_fan node "$ROOT/bench/peers/uws_pubsub.js" "$port" ;;
    modws100k) render_httpd_conf modws100k "$ROOT/bench/httpd.conf.in" 8 8 25 700
               add_modws_conf modws100k
               start_httpd modws100k ;;
    sol)       start_bg sol "$BIN/sol_server" "$port" ;;
    lws)       start_bg lws "$BIN/lws_echo" "$port" ;;
    lws_tls)   start_bg lws_tls "$BIN/lws_echo" "$port" "$TLS_CERT" "$TLS_KEY" ;;
    uws_tls)   start_bg uws_tls node "$ROOT/bench/peers/uws_echo.js" "$port" "$TLS_CERT" "$TLS_KEY" ;;
    ws_tls)    start_bg ws_tls node "$ROOT/bench/peers/ws_echo.js" "$port" "$TLS_CERT" "$TLS_KEY" ;;
    uws)       start_bg uws node "$ROOT/bench/peers/uws_echo.js" "$port" ;;
    uws_pmd)   DEFLATE=shared start_bg uws_pmd node "$ROOT/bench/peers/uws_echo.js" "$port" ;;
    uws_pmd_ded) DEFLATE=dedicated start_bg uws_pmd_ded node "$ROOT/bench/peers/uws_echo.js" "$port" ;;
    ws_pmd)    DEFLATE=1 start_bg ws_pmd node "$ROOT/bench/peers/ws_echo.js" "$port" ;;
    py_pmd)    DEFLATE=1 start_bg py_pmd /usr/bin/python3 "$ROOT/bench/peers/py_echo.py" "$port" ;;
    lws_pmd)   DEFLATE=1 start_bg lws_pmd "$BIN/lws_echo" "$port" ;;
    ws)        start_bg ws node "$ROOT/bench/peers/ws_echo.js" "$port" ;;
    py)        start_bg py /usr/bin/python3 "$ROOT/bench/peers/py_echo.py" "$port" ;;
    proxy)     start_bg proxy node "$ROOT/bench/peers/ws_echo.js" "$PROXY_BACKEND_PORT"
               wait_port "$PROXY_BACKEND_PORT" || return 1
               render_httpd_conf proxy "$ROOT/bench/peers/proxy.conf.in" 8 8 1280 2
               start_httpd proxy ;;
    *)         echo "bench: unknown server $name" >&2; return 1 ;;
    esac
    if ! wait_port "$port"; then
        echo "bench: $name did not listen on $port within 20 s" >&2
        cat "$(srv_dir "$name")/out.log" "$(srv_dir "$name")/logs/error_log" 2>/dev/null | tail -n 20 >&2
        return 1
    fi
}

# The pid of the process we started (httpd: the parent).
srv_main_pid() {
    local dir; dir=$(srv_dir "$1")
    if [ -f "$dir/logs/httpd.pid" ]; then cat "$dir/logs/httpd.pid"
    elif [ -f "$dir/$1.pid" ]; then cat "$dir/$1.pid"
    fi
}

# Every process that serves NAME's connections: httpd parent + children
# (+ the Node backend for proxy); the single process otherwise.
srv_pids() {
    local main; main=$(srv_main_pid "$1")
    [ -n "$main" ] || return 0
    echo "$main"
    case $1 in
    modws|modws100k|modws_old|modws_tls|modws_pmd|modws_pmd_ded|modws_fan|modws_redis|proxy)
        pgrep -P "$main" || true ;;
    esac
    if [ -f "$(srv_dir "$1")/$1.redis.pid" ]; then
        cat "$(srv_dir "$1")/$1.redis.pid"
    fi
    if [ "$1" = proxy ] && [ -f "$(srv_dir proxy)/proxy.pid" ]; then
        cat "$(srv_dir proxy)/proxy.pid"
    fi
}

# httpd children only (for perf).
srv_children() { pgrep -P "$(srv_main_pid "$1")" || true; }

stop_pid() {   # pid: TERM, wait at most 10 s, then KILL
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

srv_stop() {
    local name=$1 dir; dir=$(srv_dir "$1")
    if [ -f "$dir/logs/httpd.pid" ]; then
        stop_pid "$(cat "$dir/logs/httpd.pid")"
        rm -f "$dir/logs/httpd.pid"
    fi
    if [ -f "$dir/$name.pid" ]; then
        stop_pid "$(cat "$dir/$name.pid")"
        rm -f "$dir/$name.pid"
    fi
    if [ -f "$dir/$name.redis.pid" ]; then
        stop_pid "$(cat "$dir/$name.redis.pid")"
        rm -f "$dir/$name.redis.pid"
    fi
}

# mem_sample NAME -> "rss_kb pss_kb threads nprocs max_fds": sums over
# srv_pids, and the most open files any one of them has.
mem_sample() {
    local pid rss=0 pss=0 thr=0 n=0 fdmax=0 r p t f
    for pid in $(srv_pids "$1"); do
        [ -r "/proc/$pid/smaps_rollup" ] || continue
        read -r r p < <(awk '/^Rss:/{r=$2} /^Pss:/{p=$2} END{print r+0, p+0}' "/proc/$pid/smaps_rollup")
        t=$(awk '/^Threads:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        f=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        rss=$((rss + r)); pss=$((pss + p)); thr=$((thr + ${t:-0})); n=$((n + 1))
        [ "$f" -gt "$fdmax" ] && fdmax=$f
    done
    echo "$rss $pss $thr $n $fdmax"
}
