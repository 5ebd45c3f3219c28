#!/usr/bin/env bash
# bench/chat-compare --callgrind BASE NEW WORK: server instructions per DM for two trees (see
# bench/chat-compare). Each tree's chat-server runs under callgrind, loaded by its own bench.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
base=$1 new=$2 work=$3
sessions=${COMPARE_CG_SESSIONS:-200}
window=${COMPARE_CG_WINDOW:-2}
secs=${COMPARE_CG_SECS:-10}
die() { echo "bench/chat-compare: $*" >&2; exit 1; }
log() { echo "bench/chat-compare: $*" >&2; }
for tool in valgrind callgrind_control callgrind_annotate python3; do
    command -v "$tool" >/dev/null || die "--callgrind needs $tool"
done

server_pid= bench_pid=
cleanup() {
    local p
    for p in $bench_pid $server_pid; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in $bench_pid $server_pid; do
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

newest_bench() { # TREE: the newest chat bench executable in its target/release/deps
    find "$1/target/release/deps" -maxdepth 1 -type f -regextype posix-extended -regex '.*/chat-[0-9a-f]{16}' \
        -perm -u+x -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f2-
}

wait_for() { # FILE PATTERN SECONDS: until a line of FILE matches
    local i
    for i in $(seq $(($3 * 10))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$bench_pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

measure() { # KIND TREE REP: one callgrind run, a line in the table
    local kind=$1 tree=$2 rep=$3 bin=$2/target/release/chat-server bench port out i
    bench=$(newest_bench "$tree")
    [[ -n $bench ]] || die "no chat bench executable in $tree/target/release/deps"
    local -a data=()
    if "$bin" --help 2>&1 | grep -q -- --data-dir; then
        if [[ ${COMPARE_CG_DATA_DIR:-:memory:} == :memory: ]]; then
            data=(--data-dir :memory:)
        else # a fresh durable store per run, so that no run reads another's
            data=(--data-dir "$work/data-$kind-$rep")
        fi
    fi
    port=$(python3 "$here/../echo.d/udp.py" free-port)
    out=$work/callgrind-$kind-$rep.out
    CHAT_NAME_RATE=0 CHAT_IP_RATE=0 CHAT_ROOMS_PER_HOUR=0 CHAT_CLAIMS_PER_HOUR=0 RUST_LOG=warn \
        valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --listen "127.0.0.1:$port" \
        --rate 0 --max-sessions-per-ip 100000 "${data[@]}" >"$work/server-$kind-$rep.log" 2>&1 </dev/null &
    server_pid=$!
    for i in $(seq 60); do
        timeout 5 "$bin" healthcheck --server "127.0.0.1:$port" >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || die "the $kind server died; see $work/server-$kind-$rep.log"
        sleep 0.5
    done
    log "$kind: chat-server under callgrind (pid $server_pid), $sessions sessions, window $window, ${secs}s"
    "$bench" load --server "127.0.0.1:$port" --server-pid "$server_pid" --sessions "$sessions" \
        --window "$window" --rate 100 --members 10 --senders 1 --fanout-window 1 --warmup 1 \
        --duration "$secs" --limit 400 >"$work/bench-$kind-$rep.out" 2>"$work/bench-$kind-$rep.err" </dev/null &
    bench_pid=$!
    wait_for "$work/bench-$kind-$rep.out" 'phase=connect' 300 || die "$kind: the sessions did not join"
    callgrind_control -z "$server_pid" >/dev/null
    wait_for "$work/bench-$kind-$rep.out" 'phase=dm_max' $((secs + 60)) || die "$kind: no DM result"
    callgrind_control -d "$server_pid" >/dev/null
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
    bench_pid=
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    local dump
    dump=$(ls -t "$out".* 2>/dev/null | grep -v '\.txt$' | head -n 1) || true
    [[ -n $dump ]] || die "$kind: callgrind wrote no dump"
    callgrind_annotate --threshold=100 --inclusive=yes "$dump" 2>/dev/null | head -n 120 >"$work/annotate-$kind.txt" || true
    python3 - "$dump" "$work/bench-$kind-$rep.out" "$kind" "$rep" <<'PY' | tee -a "$work/table.txt"
import sys
ir = None
for line in open(sys.argv[1]):
    if line.startswith(("summary:", "totals:")):
        ir = int(line.split()[1])
r = next(dict(kv.split("=", 1) for kv in l.split()[1:] if "=" in kv)
         for l in open(sys.argv[2]) if "phase=dm_max" in l)
per_s, secs = float(r["per_s"]), float(r["secs"])
dms = per_s * (secs + 1.0)  # the warm-up second at the measured rate
print(f"{sys.argv[3]} rep={sys.argv[4]} instructions={ir} dms_per_s={per_s:.0f} dms~{dms:.0f} ir_per_dm={ir / dms:.0f}")
PY
}

runs=${COMPARE_RUNS:-3}
for r in $(seq "$runs"); do
    order="base new"
    ((r % 2 == 1)) || order="new base"
    for kind in $order; do
        [[ -z ${COMPARE_CG_ONLY:-} || $COMPARE_CG_ONLY == "$kind" ]] || continue
        if [[ $kind == base ]]; then measure base "$base" "$r"; else measure new "$new" "$r"; fi
    done
done
[[ -z ${COMPARE_CG_ONLY:-} ]] || exit 0
python3 - "$work/table.txt" <<'PY'
import sys, statistics
v = {"base": [], "new": []}
for line in open(sys.argv[1]):
    f = line.split()
    if f and f[0] in v:
        v[f[0]].append(float(dict(kv.split("=", 1) for kv in f[1:] if "=" in kv)["ir_per_dm"]))
b, n = statistics.median(v["base"]), statistics.median(v["new"])
print(f"median server instructions per DM: base {b:,.0f} (runs {' '.join(f'{x:,.0f}' for x in v['base'])}), "
      f"new {n:,.0f} (runs {' '.join(f'{x:,.0f}' for x in v['new'])})")
print(f"ratio new/base server_instructions_per_dm={n / b:.3f}")
PY
log "profiles (the last run of each): $work/annotate-base.txt $work/annotate-new.txt"
