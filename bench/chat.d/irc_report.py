"""bench/chat.d/irc_report.py RAW: the IRC baseline's table and ratio lines (issue 17).

Reads bench/chat's raw result lines (runs tagged irc-KIND-REP, irc-mem-KIND, irc-sys-KIND by
bench/chat.d/irc), takes the median of each figure over the runs, and prints one row per measure
with a column per server, then `ratio dms=.. dms_receipts=.. cpu_per_dm=.. fanout=.. p99=..
memory=..`: dgram's figure over the faster IRC server's (the one with more DMs/s with receipts),
and the issue's goals met or not.
"""
import sys

NAN = float("nan")


def load(path):
    rows = []
    for line in open(path):
        fields = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        if fields.get("run", "").startswith("irc-"):
            rows.append(fields)
    return rows


def num(r, k):
    try:
        return float(r.get(k, "nan"))
    except ValueError:
        return NAN


def median(xs):
    xs = sorted(x for x in xs if x == x)
    if not xs:
        return NAN
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def per_dm(r, k, count="received"):
    return num(r, k) / num(r, count) if num(r, count) else NAN


def main():
    rows = load(sys.argv[1])
    if not rows:
        print("# IRC baseline: no results")
        return
    kinds = []
    for r in rows:
        if r.get("server") and r["server"] not in kinds:
            kinds.append(r["server"])
    kinds.sort(key=lambda k: (k != "dgram", k))
    irc = [k for k in kinds if k != "dgram"]

    def pick(kind, phase, sys_run=False, **want):
        out = []
        for r in rows:
            if r.get("server") != kind or r.get("phase") != phase:
                continue
            if (r.get("rep") == "sys") != sys_run:
                continue
            # dgram's rows have no receipts/quickack fields: its DMs always get Delivered.
            if kind != "dgram" and any(r.get(k) != v for k, v in want.items()):
                continue
            out.append(r)
        return out

    def fig(kind, phase, f, sys_run=False, **want):
        rs = pick(kind, phase, sys_run, **want)
        return median([f(r) for r in rs]), [f(r) for r in rs]

    measures = [
        # (label, phase, selector, figure, unit, digits)
        ("DMs/s, plain (dgram: with Delivered)", "dm_max", {"receipts": "0"}, lambda r: num(r, "per_s"), "DMs/s", 0),
        ("DMs/s, with receipts", "dm_max", {"receipts": "1"}, lambda r: num(r, "per_s"), "DMs/s", 0),
        ("server CPU per DM, plain", "dm_max", {"receipts": "0"}, lambda r: per_dm(r, "server_cpu_ms") * 1000, "us", 1),
        ("server CPU per DM, with receipts", "dm_max", {"receipts": "1"}, lambda r: per_dm(r, "server_cpu_ms") * 1000, "us", 1),
        ("DM p50 at the fixed rate, NODELAY", "dm_latency", {"quickack": "0"}, lambda r: num(r, "p50_us"), "us", 0),
        ("DM p99 at the fixed rate, NODELAY", "dm_latency", {"quickack": "0"}, lambda r: num(r, "p99_us"), "us", 0),
        ("DM p50 at the fixed rate, +QUICKACK", "dm_latency", {"quickack": "1"}, lambda r: num(r, "p50_us"), "us", 0),
        ("DM p99 at the fixed rate, +QUICKACK", "dm_latency", {"quickack": "1"}, lambda r: num(r, "p99_us"), "us", 0),
        ("fan-out deliveries/s, plain", "fanout", {"receipts": "0"}, lambda r: num(r, "per_s"), "deliveries/s", 0),
        ("fan-out deliveries/s, with receipts", "fanout", {"receipts": "1"}, lambda r: num(r, "per_s"), "deliveries/s", 0),
    ]
    fmt = lambda x, d=0: "n/a" if x != x else f"{x:,.{d}f}"
    table = []
    head = {}
    for label, phase, want, f, unit, d in measures:
        cells, notes = [], []
        for k in kinds:
            m, runs = fig(k, phase, f, **want)
            head[(label, k)] = m
            cells.append(fmt(m, d))
            notes.append(f"{k} " + " ".join(fmt(x, d) for x in runs))
        table.append((label, unit, cells, "runs: " + "; ".join(notes)))
    cells = []
    for k in kinds:
        m, _ = fig(k, "memory", lambda r: num(r, "bytes_per_session"))
        head[("memory", k)] = m
        cells.append(fmt(m))
    sessions = next((r.get("sessions") for r in rows if r.get("phase") == "memory"), "?")
    table.append((f"memory per idle session ({sessions})", "bytes", cells, "server VmRSS after - before, / sessions"))
    # dgram only: datagrams per DM (UDP OutDatagrams of the whole machine over the DM phase).
    dg, _ = fig("dgram", "dm_max", lambda r: per_dm(r, "udp_out"))
    table.append(("datagrams per DM (loopback, all UDP)", "datagrams",
                  [fmt(dg, 2)] + ["-" for _ in irc], "dgram: /proc/net/snmp Udp OutDatagrams delta / DMs received"))
    for receipts in ("0", "1"):
        cells = []
        for k in kinds:
            if k == "dgram" and receipts == "0":
                cells.append("-")
                continue
            m, _ = fig(k, "dm_max", lambda r: per_dm(r, "server_syscalls"), sys_run=True, receipts=receipts)
            cells.append(fmt(m, 2))
        what = "with receipts" if receipts == "1" else "plain"
        table.append((f"server system calls per DM, {what}", "calls", cells,
                      "one extra run under perf stat -e raw_syscalls:sys_enter -p PID, not in the medians"))

    heads = ("measure", "unit", *kinds, "notes")
    lines = [(label, unit, *cells, notes) for label, unit, cells, notes in table]
    widths = [max(len(str(row[i])) for row in lines + [heads]) for i in range(len(heads) - 1)]
    print()
    print(f"# against IRC servers: median of {max(int(r['rep']) for r in rows if r.get('rep', '').isdigit())} run(s) each, "
          f"alternating order; IRC clients: TCP_NODELAY, receipts = a PRIVMSG back per message")
    for row in [heads] + lines:
        print("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))) + "  " + row[-1])
    if not irc:
        return
    fastest = max(irc, key=lambda k: head[("DMs/s, with receipts", k)]
                  if head[("DMs/s, with receipts", k)] == head[("DMs/s, with receipts", k)] else -1)
    g = lambda label, k: head.get((label, k), NAN)
    ratio = lambda a, b: NAN if a != a or b != b or b == 0 else a / b
    r = {
        "dms": ratio(g("DMs/s, plain (dgram: with Delivered)", "dgram"), g("DMs/s, plain (dgram: with Delivered)", fastest)),
        "dms_receipts": ratio(g("DMs/s, with receipts", "dgram"), g("DMs/s, with receipts", fastest)),
        "cpu_per_dm": ratio(g("server CPU per DM, with receipts", "dgram"), g("server CPU per DM, with receipts", fastest)),
        "fanout": ratio(g("fan-out deliveries/s, plain", "dgram"), g("fan-out deliveries/s, plain", fastest)),
        "p99": ratio(g("DM p99 at the fixed rate, NODELAY", "dgram"), g("DM p99 at the fixed rate, +QUICKACK", fastest)),
        "memory": ratio(head[("memory", "dgram")], head.get(("memory", fastest), NAN)),
    }
    f3 = lambda x: "n/a" if x != x else f"{x:.3f}"
    print()
    print(f"# ratios: dgram / {fastest} (the IRC server with more DMs/s with receipts); cpu_per_dm, p99 "
          f"(against its QUICKACK clients) and memory: lower is better")
    goals = [
        ("DMs/s >= 1.0 x with receipts", r["dms_receipts"] >= 1),
        ("DMs/s >= 1.0 x without receipts", r["dms"] >= 1),
        ("CPU per DM <= IRC's", r["cpu_per_dm"] <= 1),
        ("p99 <= IRC's with QUICKACK", r["p99"] <= 1),
        ("p99 < 1 ms", g("DM p99 at the fixed rate, NODELAY", "dgram") < 1000),
        ("fan-out >= IRC's", r["fanout"] >= 1),
        ("memory per idle session < 1 KiB", head[("memory", "dgram")] < 1024),
    ]
    print("goals: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in goals))
    print("ratio " + " ".join(f"{k}={f3(v)}" for k, v in r.items()))


if __name__ == "__main__":
    main()
