"""bench/chat-compare's table: medians per tree over the runs of raw `result kind=.. rep=..`
lines (each tree's own bench/chat raw results), the ratio new/base, and one `ratio` line."""
import sys

raw, nruns = sys.argv[1], int(sys.argv[2])
rows = []
for line in open(raw):
    if line.startswith("result "):
        rows.append(dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv))


def num(r, k):
    try:
        return float(r.get(k, "nan"))
    except ValueError:
        return float("nan")


def median(xs):
    xs = sorted(x for x in xs if x == x)
    if not xs:
        return float("nan")
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def fmt(x, digits=0):
    return "n/a" if x != x else f"{x:,.{digits}f}"


def per_run(kind, pred, value):
    """Per run (in run order) the figure of the first matching row, or nan."""
    out = []
    for rep in range(1, nruns + 1):
        rs = [r for r in rows if r.get("kind") == kind and r.get("rep") == str(rep) and pred(r)]
        out.append(value(rs[0]) if rs else float("nan"))
    return out


def cpu_per_dm(r):  # µs of server CPU per DM (or per delivery)
    pct, per_s = num(r, "server_cpu_pct"), num(r, "per_s")
    return pct / 100 / per_s * 1e6 if per_s else float("nan")


measures = []  # (key, label, unit, pred, value, digits, lower_is_better)
windows = sorted({int(r["window"]) for r in rows if r.get("phase") == "dm_max" and r.get("window", "").isdigit()})
for w in windows:
    is_w = lambda r, w=w: r.get("phase") == "dm_max" and r.get("window") == str(w)
    measures.append((f"dm_w{w}", f"DMs, window {w}", "DMs/s", is_w, lambda r: num(r, "per_s"), 0, False))
    measures.append((f"cpu_per_dm_w{w}", f"server CPU per DM, window {w}", "us", is_w, cpu_per_dm, 2, True))
    measures.append((f"p99_w{w}", f"DM p99, window {w}", "us", is_w, lambda r: num(r, "p99_us"), 0, True))
lat = lambda r: r.get("phase") == "dm_latency"
measures.append(("p50", "DM p50 at the fixed rate", "us", lat, lambda r: num(r, "p50_us"), 0, True))
measures.append(("p99", "DM p99 at the fixed rate", "us", lat, lambda r: num(r, "p99_us"), 0, True))
measures.append(("cpu_at_rate", "server CPU at the fixed rate", "%", lat, lambda r: num(r, "server_cpu_pct"), 0, True))
fan = lambda r: r.get("phase") == "fanout"
measures.append(("fanout", "room fan-out", "deliveries/s", fan, lambda r: num(r, "per_s"), 0, False))
measures.append(("cpu_per_delivery", "server CPU per fan-out delivery", "us", fan, cpu_per_dm, 2, True))
mem = lambda r: r.get("phase") == "memory"
measures.append(("memory", "memory per idle session", "bytes", mem, lambda r: num(r, "bytes_per_session"), 0, True))

table, ratios = [], []
for key, label, unit, pred, value, digits, _ in measures:
    b, n = per_run("base", pred, value), per_run("new", pred, value)
    mb, mn = median(b), median(n)
    if mb != mb and mn != mn:
        continue
    ratio = "n/a" if mb != mb or mn != mn or mb == 0 else f"{mn / mb:.3f}"
    runs = lambda xs: " ".join(fmt(x, digits) for x in xs)
    table.append((label, unit, fmt(mb, digits), fmt(mn, digits), ratio, f"base: {runs(b)}; new: {runs(n)}"))
    ratios.append(f"{key}={ratio}")
heads = ("measure", "unit", "base", "new", "new/base", "runs")
widths = [max(len(row[i]) for row in table + [heads]) for i in range(5)]
for row in [heads] + table:
    print("  ".join(c.rjust(w) if 2 <= i <= 4 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))) + "  " + row[5])
trouble = [r for r in rows if r.get("phase") in ("fanout", "memory", "dm_max", "dm_latency")
           and any(r.get(k, "0") not in ("0", "") for k in ("errors", "not_delivered", "session_failures"))]
for r in trouble:
    print(f"# trouble in {r.get('kind')} run {r.get('rep')} {r.get('phase')}: errors={r.get('errors')} "
          f"not_delivered={r.get('not_delivered')} session_failures={r.get('session_failures')}")
print()
print("ratio new/base " + " ".join(ratios))
