# bench/report.awk - turns bench/run's raw results into markdown tables.
#
# Input (-F'|'): scenario|server|rep|wsload exit code|key=value ...
# Output: a summary of ratios to the speed-of-light server, then one table
# per scenario with the median of the repetitions, its ratio to
# speed-of-light, latency medians and every repetition's value.

function kv(s, key,    n, i, a, p) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) {
        p = index(a[i], "=")
        if (substr(a[i], 1, p - 1) == key)
            return substr(a[i], p + 1)
    }
    return ""
}

function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++)          # insertion sort, n is small
        for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

function human(v) {
    if (v == "") return "-"
    v = v + 0
    if (v >= 1e6) return sprintf("%.2fM", v / 1e6)
    if (v >= 1e4) return sprintf("%.0fk", v / 1e3)
    if (v >= 1e3) return sprintf("%.1fk", v / 1e3)
    return sprintf("%.0f", v)
}

function ratio(v, ref) {
    return (v == "" || ref == "" || ref + 0 == 0) ? "-" : sprintf("%.2f×", v / ref)
}

BEGIN {
    label["modws"] = "mod_websocket"; label["sol"] = "speed-of-light"
    label["uws"] = "uWebSockets"; label["ws"] = "Node ws"
    label["py"] = "Python websockets"; label["lws"] = "libwebsockets"
    label["proxy"] = "httpd proxy → Node ws"; label["modws100k"] = "mod_websocket, 8 children"
    label["modws_old"] = "mod_websocket (old build)"
    label["modws_tls"] = "mod_websocket wss"; label["uws_tls"] = "uWebSockets wss"
    label["ws_tls"] = "Node ws wss"; label["lws_tls"] = "libwebsockets wss"
    label["modws_pmd"] = "mod_websocket deflate shared"; label["modws_pmd_ded"] = "mod_websocket deflate dedicated"
    label["uws_pmd"] = "uWebSockets deflate shared"; label["uws_pmd_ded"] = "uWebSockets deflate dedicated"
    label["ws_pmd"] = "Node ws deflate"; label["py_pmd"] = "Python websockets deflate"
    label["lws_pmd"] = "libwebsockets deflate"
    title["echo-1x1"] = "Echo, 1 connection × 1 message in flight, 32-byte text"
    title["echo-1x16"] = "Echo, 1 connection × 16 in flight, 32-byte text"
    title["echo-64x1"] = "Echo, 64 connections × 1 in flight, 32-byte text"
    title["echo-64x16"] = "Echo, 64 connections × 16 in flight, 32-byte text"
    title["echo-512x1"] = "Echo, 512 connections × 1 in flight, 32-byte text"
    title["echo-512x16"] = "Echo, 512 connections × 16 in flight, 32-byte text"
    title["binary-8x64k"] = "Echo, 8 connections × 1 in flight, 64 KiB binary"
    title["handshake-5000"] = "Handshakes/s (32 parallel clients) with 5,000 connections kept open"
    title["churn"] = "Churn: connect + handshake + close handshake, per second (32 parallel clients)"
    title["hold-10k"] = "Idle hold, 10,000 connections"
    title["hold-100k"] = "Idle hold, 100,000 connections"
    title["wss-echo-64x1"] = "wss:// echo, 64 connections × 1 in flight, 32-byte text (speed-of-light and mod_websocket: plain ws://)"
    title["wss-echo-64x16"] = "wss:// echo, 64 connections × 16 in flight, 32-byte text (speed-of-light and mod_websocket: plain ws://)"
    title["wss-binary-8x64k"] = "wss:// echo, 8 connections × 1 in flight, 64 KiB binary (speed-of-light and mod_websocket: plain ws://)"
    title["hold-10k-wss"] = "Idle hold over wss://, 10,000 connections"
    title["deflate-64x1"] = "permessage-deflate echo, 64 connections × 1 in flight, 4 KiB JSON-like text (speed-of-light and mod_websocket: uncompressed)"
    title["deflate-64x16"] = "permessage-deflate echo, 64 connections × 16 in flight, 4 KiB JSON-like text (speed-of-light and mod_websocket: uncompressed)"
    title["hold-10k-deflate"] = "Idle hold, 10,000 connections, permessage-deflate negotiated, one 4 KiB message echoed first"
}

$1 ~ /^fan/ { next }                  # the fan-out rows: report_fanout.awk
{
    s = $1; srv = $2; rc = $4; r = $5
    if (!(s in seen_s)) { seen_s[s] = 1; scen[++ns] = s }
    if (!(srv in seen_v)) { seen_v[srv] = 1; servers[++nv] = srv }
    key = s SUBSEP srv
    if (s ~ /^hold/) { hold[key] = r; next }
    metric = (s ~ /binary/) ? kv(r, "mb_s") : (s ~ /^(handshake|churn)/) ? kv(r, "rate") : kv(r, "msg_s")
    bad = kv(r, "failed") != "" ? "fail" : (kv(r, "errors") + 0 > 0 ? "err" : "")
    runs[key] = runs[key] (runs[key] == "" ? "" : ", ") (bad == "fail" ? "fail" : human(metric) (bad == "err" ? " (" kv(r, "errors") " errors)" : ""))
    if (bad != "fail") {
        byrep[key, $3] = metric; reps[$3] = 1
        vals[key] = vals[key] " " metric
        p50[key] = p50[key] " " kv(r, "p50_us"); p99[key] = p99[key] " " kv(r, "p99_us")
        if (s ~ /binary/) msgs[key] = msgs[key] " " kv(r, "msg_s")
        if (s ~ /^deflate/) {
            pmd[key] = kv(r, "pmd"); txr[key] = txr[key] " " kv(r, "tx_ratio")
            rxr[key] = rxr[key] " " kv(r, "rx_ratio"); rxp[key] = kv(r, "rx_plain")
        }
    }
}

# Median over repetitions of (server / speed-of-light in the same
# repetition): runs next to each other in time, so less exposed to slow
# changes in the machine's background load than a ratio of medians.
function paired(s, srv,    r, list) {
    list = ""
    for (r in reps)
        if (((s, srv, r) in byrep) && ((s, "sol", r) in byrep) && byrep[s, "sol", r] + 0 > 0)
            list = list " " byrep[s, srv, r] / byrep[s, "sol", r]
    return list == "" ? "-" : sprintf("%.2f×", median(list))
}

# Median over repetitions of (a / b in the same repetition).
function paired2(s, a, b,    r, list) {
    list = ""
    for (r in reps)
        if (((s, a, r) in byrep) && ((s, b, r) in byrep) && byrep[s, b, r] + 0 > 0)
            list = list " " byrep[s, a, r] / byrep[s, b, r]
    return list == "" ? "-" : sprintf("%.2f×", median(list))
}

END {
    # With a second mod_websocket build (bench/run --modws-old-build): the
    # two side by side, this build's paired ratio to the old one.
    if ("modws_old" in seen_v) {
        printf "### mod_websocket: this build against the old build\n\n"
        printf "Paired: median over the repetitions of (this build ÷ old build in the same repetition); "
        printf "each also ÷ speed-of-light (paired). Idle hold: RSS KiB per connection.\n\n"
        printf "| scenario | old build | this build | this ÷ old (paired) | old ÷ sol | this ÷ sol |\n|---|---:|---:|---:|---:|---:|\n"
        for (k = 1; k <= ns; k++) {
            s = scen[k]
            if (s ~ /^hold/) {
                a = hold[s SUBSEP "modws_old"]; b = hold[s SUBSEP "modws"]
                if (a == "" || b == "") continue
                ra = (kv(a, "rss") - kv(a, "rss_before")) / (kv(a, "opened") + 0 ? kv(a, "opened") : 1)
                rb = (kv(b, "rss") - kv(b, "rss_before")) / (kv(b, "opened") + 0 ? kv(b, "opened") : 1)
                printf "| %s RSS KiB/conn | %.1f | %.1f | %.2f× | | |\n", s, ra, rb, ra ? rb / ra : 0
                continue
            }
            printf "| %s | %s | %s | %s | %s | %s |\n", s, human(median(vals[s SUBSEP "modws_old"])),
                human(median(vals[s SUBSEP "modws"])), paired2(s, "modws", "modws_old"),
                paired(s, "modws_old"), paired(s, "modws")
        }
        printf "\n"
    }
    # TLS rows: each *_tls server also relative to plain ws:// mod_websocket.
    wss = 0
    for (k = 1; k <= ns; k++) if (scen[k] ~ /^wss-/) wss = 1
    if (wss) {
        printf "### wss:// relative to plain ws:// mod_websocket\n\n"
        printf "Each cell: median over the repetitions of (server over TLS ÷ mod_websocket over plain ws:// in the same repetition).\n\n| scenario |"
        for (i = 1; i <= nv; i++) if (servers[i] ~ /_tls$/) printf " %s |", label[servers[i]]
        printf "\n|---|"
        for (i = 1; i <= nv; i++) if (servers[i] ~ /_tls$/) printf "---:|"
        printf "\n"
        for (k = 1; k <= ns; k++) {
            s = scen[k]
            if (s !~ /^wss-/) continue
            printf "| %s |", s
            for (i = 1; i <= nv; i++) if (servers[i] ~ /_tls$/) printf " %s |", paired2(s, servers[i], "modws")
            printf "\n"
        }
        printf "\n"
    }
    # deflate rows: each server relative to mod_websocket's shared mode and
    # to uncompressed mod_websocket, in the same repetition.
    dfl = 0
    for (k = 1; k <= ns; k++) if (scen[k] ~ /^deflate-/) dfl = 1
    if (dfl) {
        printf "### permessage-deflate relative to mod_websocket\n\n"
        printf "Each cell: median over the repetitions of (server ÷ mod_websocket deflate shared in the same repetition); "
        printf "in brackets ÷ mod_websocket uncompressed (same messages, no deflate offered back).\n\n| scenario |"
        for (i = 1; i <= nv; i++) if (servers[i] ~ /_pmd/) printf " %s |", label[servers[i]]
        printf "\n|---|"
        for (i = 1; i <= nv; i++) if (servers[i] ~ /_pmd/) printf "---:|"
        printf "\n"
        for (k = 1; k <= ns; k++) {
            s = scen[k]
            if (s !~ /^deflate-/) continue
            printf "| %s |", s
            for (i = 1; i <= nv; i++) if (servers[i] ~ /_pmd/)
                printf " %s [%s] |", paired2(s, servers[i], "modws_pmd"), paired2(s, servers[i], "modws")
            printf "\n"
        }
        printf "\n"
    }
    # Summary: every server's median as a ratio to speed-of-light.
    printf "### Summary: throughput relative to the speed-of-light server\n\n"
    printf "Each cell: median over the repetitions of (server ÷ speed-of-light in the same repetition); "
    printf "in parentheses the ratio of the medians.\n\n| scenario | speed-of-light (median) |"
    for (i = 1; i <= nv; i++) if (servers[i] != "sol" && servers[i] !~ /100k/) printf " %s |", label[servers[i]]
    printf "\n|---|---:|"
    for (i = 1; i <= nv; i++) if (servers[i] != "sol" && servers[i] !~ /100k/) printf "---:|"
    printf "\n"
    for (k = 1; k <= ns; k++) {
        s = scen[k]
        if (s ~ /^hold/) continue
        ref = median(vals[s SUBSEP "sol"])
        printf "| %s | %s %s |", s, human(ref), (s ~ /binary/ ? "MB/s" : s ~ /^(handshake|churn)/ ? "/s" : "msg/s")
        for (i = 1; i <= nv; i++) if (servers[i] != "sol" && servers[i] !~ /100k/)
            printf " %s (%s) |", paired(s, servers[i]), ratio(median(vals[s SUBSEP servers[i]]), ref)
        printf "\n"
    }
    printf "\n"
    for (k = 1; k <= ns; k++) {
        s = scen[k]
        if (s ~ /^hold/) {
            dh = (s ~ /deflate/)
            printf "### %s (`%s`)\n\n", title[s], s
            printf "| server | target | opened | still open, echoed | pings → pongs | RSS KiB/conn | PSS KiB/conn | threads before → held | processes | most fds in one process | connect s |%s\n", dh ? " first echoed | deflate agreed | rx ratio |" : ""
            printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|%s\n", dh ? "---:|---:|---:|" : ""
            for (i = 1; i <= nv; i++) {
                key = s SUBSEP servers[i]
                if (!(key in hold)) continue
                r = hold[key]; o = kv(r, "opened") + 0
                printf "| %s | %d | %d | %d, %d | %d → %d | %s | %s | %d → %d | %d | %d | %s |", label[servers[i]],
                    kv(r, "target"), o, kv(r, "still_open"), kv(r, "echoed"), kv(r, "pings"), kv(r, "pongs"),
                    o ? sprintf("%.1f", (kv(r, "rss") - kv(r, "rss_before")) / o) : "-",
                    o ? sprintf("%.1f", (kv(r, "pss") - kv(r, "pss_before")) / o) : "-",
                    kv(r, "thr_before"), kv(r, "thr"), kv(r, "procs"), kv(r, "fdmax"), kv(r, "connect_s")
                if (dh) printf " %s | %s | %s |", kv(r, "primed"), kv(r, "pmd"), kv(r, "pmd") + 0 ? sprintf("%.3f", kv(r, "rx_ratio")) : "-"
                printf "\n"
            }
            printf "\n"
            continue
        }
        unit = (s ~ /binary/) ? "MB/s" : (s ~ /^(handshake|churn)/) ? "per s" : "msg/s"
        printf "### %s (`%s`)\n\n", title[s], s
        df = (s ~ /^deflate/)
        printf "| server | %s (median) | × speed-of-light | paired ×%s | p50 µs | p99 µs | runs |%s\n", unit, (s ~ /binary/ ? " | msg/s" : ""),
            df ? " deflate agreed | wire ÷ payload, client → server | wire ÷ payload, server → client | echoes uncompressed |" : ""
        printf "|---|---:|---:|---:|%s---:|---:|---|%s\n", (s ~ /binary/ ? "---:|" : ""), df ? "---:|---:|---:|---:|" : ""
        ref = median(vals[s SUBSEP "sol"])
        for (i = 1; i <= nv; i++) {
            key = s SUBSEP servers[i]
            if (!(key in runs)) continue
            m = median(vals[key])
            printf "| %s | %s | %s | %s |%s %s | %s | %s |", label[servers[i]],
                (s ~ /binary/ && m != "") ? sprintf("%.0f", m) : human(m), ratio(m, ref), paired(s, servers[i]),
                (s ~ /binary/ ? " " human(median(msgs[key])) " |" : ""),
                median(p50[key]) == "" ? "-" : sprintf("%.0f", median(p50[key])),
                median(p99[key]) == "" ? "-" : sprintf("%.0f", median(p99[key])), runs[key]
            # deflate: connections that agreed (last run), the ratios (medians; 1 = not compressed)
            if (df) printf " %s | %s | %s | %s |", pmd[key], pmd[key] + 0 ? sprintf("%.3f", median(txr[key])) : "-",
                pmd[key] + 0 ? sprintf("%.3f", median(rxr[key])) : "-", pmd[key] + 0 ? rxp[key] : "-"
            printf "\n"
        }
        printf "\n"
    }
}
