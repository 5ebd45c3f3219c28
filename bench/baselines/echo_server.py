#!/usr/bin/env python3
"""Baseline "python": the origin lesson's echo server, as naive as it was.

One thread, one blocking socket, one datagram at a time: recvfrom(2048), then sendto the
upper-cased bytes back to whoever sent them. Usage: echo_server.py PORT (binds 127.0.0.1).
"""
import socket
import sys


def main() -> None:
    port = int(sys.argv[1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    while True:
        data, addr = sock.recvfrom(2048)
        sock.sendto(data.upper(), addr)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
