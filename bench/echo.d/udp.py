#!/usr/bin/env python3
"""Loopback helpers for bench/echo.

  udp.py free-port               print a UDP port on 127.0.0.1 that is free right now
  udp.py probe PORT PID SECONDS  send a datagram to 127.0.0.1:PORT every 50 ms until one is
                                 answered (exit 0), process PID dies (exit 3), or SECONDS pass
                                 (exit 4)
"""
import os
import socket
import sys
import time


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def probe(port: int, pid: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.05)
        while time.monotonic() < deadline:
            if not alive(pid):
                return 3
            try:
                s.sendto(b"probe", ("127.0.0.1", port))
                data, addr = s.recvfrom(2048)
            except (socket.timeout, ConnectionRefusedError):
                continue
            if addr == ("127.0.0.1", port) and data == b"PROBE":
                return 0
    return 4


def main() -> int:
    if sys.argv[1:2] == ["free-port"]:
        print(free_port())
        return 0
    if sys.argv[1:2] == ["probe"] and len(sys.argv) == 5:
        return probe(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
