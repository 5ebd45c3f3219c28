#!/usr/bin/env python3
"""Summarises bench/echo's raw results: one line per run, each
`server=S run=R result mode=M window=W size=N sent=.. received=.. lost=.. rps=.. p50_us=..
p99_us=.. p999_us=..`, or `server=S run=R mode=M window=W size=N failed ...`.

Prints the table (medians over runs of rps and the latency percentiles, lost summed over runs),
then `p99 dgram/c=Z` and, last, `ratio c=X python=Y`, both at window 64, size 32, mode plain.
Usage: report.py RAW_FILE
"""
import statistics
import sys

SERVERS = ["c", "c-gso", "python", "dgram"]
KEY_WINDOW, KEY_SIZE = 64, 32


def fields(line: str) -> dict:
    out = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def main() -> int:
    runs = {}  # (server, mode, window, size) -> list of dicts (None for a failed run)
    with open(sys.argv[1]) as f:
        for line in f:
            if not line.strip():
                continue
            d = fields(line)
            key = (d["server"], d["mode"], int(d["window"]), int(d["size"]))
            runs.setdefault(key, []).append(None if " failed" in line else d)

    def order(key):
        server, mode, window, size = key
        rank = SERVERS.index(server) if server in SERVERS else len(SERVERS)
        return (mode != "plain", window, size, rank, server)

    rows, summary = [], {}
    for key in sorted(runs, key=order):
        ok = [d for d in runs[key] if d is not None]
        failed = len(runs[key]) - len(ok)
        med = {}
        for m in ("rps", "p50_us", "p99_us", "p999_us"):
            med[m] = statistics.median(float(d[m]) for d in ok) if ok else None
        lost = sum(int(d["lost"]) for d in ok) if ok else None
        sent = sum(int(d["sent"]) for d in ok) if ok else None
        summary[key] = med
        server, mode, window, size = key
        rows.append([server, mode, str(window), str(size), fmt(med["rps"], ".0f"),
                     fmt(med["p50_us"], ".1f"), fmt(med["p99_us"], ".1f"),
                     fmt(med["p999_us"], ".1f"),
                     "n/a" if lost is None else f"{lost}/{sent}",
                     f"{len(ok)}" + (f" ({failed} failed)" if failed else "")])

    head = ["server", "mode", "window", "size", "rps", "p50_us", "p99_us", "p999_us",
            "lost/sent", "runs"]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(c.rjust(w) if i >= 2 else c.ljust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())

    def get(server, metric):
        med = summary.get((server, "plain", KEY_WINDOW, KEY_SIZE))
        return None if med is None else med[metric]

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    print()
    print(f"p99 dgram/c={fmt(ratio(get('dgram', 'p99_us'), get('c', 'p99_us')), '.2f')}")
    print(f"ratio c={fmt(ratio(get('dgram', 'rps'), get('c', 'rps')), '.2f')} "
          f"python={fmt(ratio(get('dgram', 'rps'), get('python', 'rps')), '.2f')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
