#!/usr/bin/python3
"""What the lab's private link allows, for the speed scenario: TCP
round trips and throughput between the two guests. A lab tool, never part
of the product.

    netbench.py serve ADDR PORT      answers one client, then exits
    netbench.py run ADDR PORT        prints "RTT_MS SEND_MIBS RECV_MIBS":
                                     the median round trip of 64 bytes
                                     (TCP_NODELAY), and 32 MiB sent to and
                                     received from the server, in MiB/s
"""
import socket
import sys
import time

SIZE = 32 << 20
CHUNK = 1 << 20


def recv_exactly(s, n):
    got = 0
    while got < n:
        b = s.recv(min(CHUNK, n - got))
        if not b:
            raise SystemExit("the link closed early")
        got += len(b)


def serve(addr, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    print("ready", flush=True)
    s, _ = ls.accept()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(200):
        recv_exactly(s, 64)
        s.sendall(b"x" * 64)
    recv_exactly(s, SIZE)
    s.sendall(b"k")
    block = b"y" * CHUNK
    for _ in range(SIZE // CHUNK):
        s.sendall(block)
    s.close()


def run(addr, port):
    s = socket.create_connection((addr, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rtts = []
    for _ in range(200):
        t = time.monotonic()
        s.sendall(b"p" * 64)
        recv_exactly(s, 64)
        rtts.append(time.monotonic() - t)
    rtts.sort()
    block = b"z" * CHUNK
    t = time.monotonic()
    for _ in range(SIZE // CHUNK):
        s.sendall(block)
    recv_exactly(s, 1)
    send = SIZE / (time.monotonic() - t) / CHUNK
    t = time.monotonic()
    recv_exactly(s, SIZE)
    recv = SIZE / (time.monotonic() - t) / CHUNK
    print(f"{rtts[len(rtts) // 2] * 1000:.2f} {send:.1f} {recv:.1f}")


{"serve": serve, "run": run}[sys.argv[1]](sys.argv[2], int(sys.argv[3]))
