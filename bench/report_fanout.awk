# bench/report_fanout.awk - bench/run's fan-out rows (scenarios fan-*,
# fanr-*) as markdown tables.
#
# Input (-F'|'): scenario|server|rep|rc|key=value ... as written by
# bench/run's run_fanout (deliveries, CPU and errors summed over the
# wsload fanout processes).  Deliveries/s: messages received by all
# subscribers per second of the window.  Paired ratios: median over the
# repetitions of (server ÷ uWebSockets in the same repetition).  Latency:
# publish stamp -> the last subscriber's arrival, in ms; "1 in flight" is
# the latency phase (the next message published once the previous reached
# every subscriber), "loaded" the measured window (the window's messages in
# flight: mostly queueing).  Each cell a median over the repetitions.

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
    for (i = 2; i <= n; i++)
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
function ms(list,    m) { m = median(list); return m == "" ? "-" : (m / 1000 >= 100 ? sprintf("%.0f", m / 1000) : sprintf("%.1f", m / 1000)) }
function pct(list,    m) { m = median(list); return m == "" ? "-" : sprintf("%.0f%%", m) }
function paired(s, a, b,    r, list) {
    list = ""
    for (r in reps)
        if (((s, a, r) in byrep) && ((s, b, r) in byrep) && byrep[s, b, r] + 0 > 0)
            list = list " " byrep[s, a, r] / byrep[s, b, r]
    return list == "" ? "-" : sprintf("%.2f×", median(list))
}
function subs_h(n) { return n >= 1000 ? sprintf("%gk", n / 1000) : n }
function size_h(n) { return n >= 1024 ? sprintf("%g KiB", n / 1024) : n " B" }

BEGIN {
    label["modws_fan"] = "mod_websocket, 1 child"; label["uws_fan"] = "uWebSockets"
    label["modws_redis"] = "mod_websocket + Redis, 4 children"
}
$1 !~ /^fan/ { next }
{
    s = $1; srv = $2; r = $5
    if (!(s in seen_s)) { seen_s[s] = 1; scen[++ns] = s; group[s] = (s ~ /^fanr/) ? "r" : "f" }
    if (!(srv in seen_v)) { seen_v[srv] = 1; servers[++nv] = srv }
    key = s SUBSEP srv
    if (kv(r, "failed") != "") { runs[key] = runs[key] (runs[key] == "" ? "" : ", ") "fail"; next }
    m = kv(r, "del_s"); e = kv(r, "errors") + 0
    subs[s] = kv(r, "subs") + 0 > subs[s] ? kv(r, "subs") + 0 : subs[s]; size[s] = kv(r, "size") + 0; win[s] = kv(r, "window") + 0
    runs[key] = runs[key] (runs[key] == "" ? "" : ", ") human(m) (e ? " (" e " err)" : "")
    byrep[key, $3] = m; reps[$3] = 1
    vals[key] = vals[key] " " m; pub[key] = pub[key] " " kv(r, "pub_s")
    lp50[key] = lp50[key] " " kv(r, "lat_p50_us"); lp99[key] = lp99[key] " " kv(r, "lat_p99_us")
    ln[key] = ln[key] " " kv(r, "lat_n")
    dp50[key] = dp50[key] " " kv(r, "load_p50_us"); dp99[key] = dp99[key] " " kv(r, "load_p99_us")
    cc[key] = cc[key] " " kv(r, "cli_cpu"); sc[key] = sc[key] " " kv(r, "srv_cpu")
    ncl[key] = kv(r, "clients")
}
function detail_head() {
    printf "| scenario | server | deliveries/s (median) | paired ÷ uWS | published msg/s | 1 in flight p50 / p99 ms (samples) | loaded p50 / p99 ms | client CPU (processes) | server CPU | runs |\n"
    printf "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n"
}
function detail(s, srv,    key) {
    key = s SUBSEP srv
    if (!(key in runs)) return
    printf "| %s | %s | %s | %s | %s | %s / %s (%s) | %s / %s | %s (%s) | %s | %s |\n", s, label[srv],
        human(median(vals[key])), srv == "uws_fan" ? "1" : (("uws_fan" in seen_v) && group[s] == "f" ? paired(s, srv, "uws_fan") : "-"),
        human(median(pub[key])), ms(lp50[key]), ms(lp99[key]), median(ln[key]), ms(dp50[key]), ms(dp99[key]),
        pct(cc[key]), ncl[key], pct(sc[key]), runs[key]
}
END {
    hf = hr = 0
    for (k = 1; k <= ns; k++) { if (group[scen[k]] == "f") hf = 1; else hr = 1 }
    if (hf) {
        printf "### Fan-out, one topic: mod_websocket (1 child) and uWebSockets, side by side\n\n"
        printf "Deliveries/s = messages received by all subscribers per second (median of the repetitions); "
        printf "paired = median over the repetitions of (mod_websocket ÷ uWebSockets in the same repetition). "
        printf "Window = messages published and not yet at every subscriber.\n\n"
        printf "| subscribers | message | window | mod_websocket, 1 child | uWebSockets | mod_websocket ÷ uWS (paired) |\n|---:|---:|---:|---:|---:|---:|\n"
        for (k = 1; k <= ns; k++) {
            s = scen[k]; if (group[s] != "f") continue
            printf "| %s | %s | %s | %s | %s | %s |\n", subs_h(subs[s]), size_h(size[s]), win[s],
                human(median(vals[s SUBSEP "modws_fan"])), human(median(vals[s SUBSEP "uws_fan"])), paired(s, "modws_fan", "uws_fan")
            # best window per server for (subs, size)
            b = subs[s] SUBSEP size[s]
            if (!(b in bseen)) { bseen[b] = 1; blist[++nb] = b }
            for (i = 1; i <= nv; i++) {
                m = median(vals[s SUBSEP servers[i]])
                if (m != "" && m + 0 > best[b, servers[i]] + 0) { best[b, servers[i]] = m; bestw[b, servers[i]] = win[s] }
            }
        }
        printf "\nEach server at its best window of those run (ratio of those medians, not paired):\n\n"
        printf "| subscribers | message | mod_websocket, 1 child (window) | uWebSockets (window) | ratio |\n|---:|---:|---:|---:|---:|\n"
        for (j = 1; j <= nb; j++) {
            b = blist[j]; split(b, bb, SUBSEP)
            a = best[b, "modws_fan"]; u = best[b, "uws_fan"]
            printf "| %s | %s | %s (%s) | %s (%s) | %s |\n", subs_h(bb[1]), size_h(bb[2]), human(a), bestw[b, "modws_fan"],
                human(u), bestw[b, "uws_fan"], (a != "" && u + 0 > 0) ? sprintf("%.2f×", a / u) : "-"
        }
        printf "\n"
        detail_head()
        for (k = 1; k <= ns; k++) if (group[scen[k]] == "f") for (i = 1; i <= nv; i++) detail(scen[k], servers[i])
        printf "\n"
    }
    if (hr) {
        printf "### Fan-out across 4 children through Redis (no uWebSockets counterpart: its topics stay in one process)\n\n"
        printf "Last column: ÷ the single child at the same subscribers, size and window in the fanout group of this run "
        printf "(ratio of medians, measured earlier in the run, not interleaved).\n\n"
        detail_head()
        for (k = 1; k <= ns; k++) if (group[scen[k]] == "r") detail(scen[k], "modws_redis")
        printf "\n| scenario | + Redis, 4 children ÷ 1 child |\n|---|---:|\n"
        for (k = 1; k <= ns; k++) {
            s = scen[k]; if (group[s] != "r") continue
            t = s; sub(/^fanr-/, "fan-", t)
            a = median(vals[s SUBSEP "modws_redis"]); b = median(vals[t SUBSEP "modws_fan"])
            printf "| %s | %s |\n", s, (a != "" && b + 0 > 0) ? sprintf("%.2f×", a / b) : "- (no single-child row)"
        }
        printf "\n"
    }
}
