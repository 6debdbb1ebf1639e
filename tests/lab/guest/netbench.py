#!/usr/bin/python3
"""What the lab's private link allows, for the speed scenario: TCP
round trips and throughput between the two guests. A lab tool, never part
of the product.

    netbench.py serve ADDR PORT      answers one client, then exits
    netbench.py run ADDR PORT        prints "RTT_MS SEND_MIBS RECV_MIBS":
                                     the median round trip of 64 bytes
                                     (TCP_NODELAY), and 32 MiB sent to and
                                     received from the server, in MiB/s
    netbench.py copy-serve ADDR PORT FILE
                                     writes what one client sends into FILE
                                     (a block device), syncs it, answers
    netbench.py copy-send ADDR PORT FILE BYTES
                                     a plain sequential copy: BYTES of FILE
                                     read in 1 MiB pieces and sent; prints
                                     the seconds from the first read to the
                                     server's answer after its sync
"""
import os
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


def accept_one(addr, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    print("ready", flush=True)
    s, _ = ls.accept()
    return s


def serve(addr, port):
    s = accept_one(addr, port)
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


def copy_serve(addr, port, path):
    s = accept_one(addr, port)
    fd = os.open(path, os.O_WRONLY)
    while True:
        b = s.recv(CHUNK)
        if not b:
            break
        os.write(fd, b)
    os.fdatasync(fd)
    os.close(fd)
    s.sendall(b"k")
    s.close()


def copy_send(addr, port, path, size):
    t = time.monotonic()
    s = socket.create_connection((addr, port))
    with open(path, "rb", buffering=0) as f:
        left = int(size)
        while left > 0:
            b = f.read(min(CHUNK, left))
            if not b:
                raise SystemExit("the source ended early")
            s.sendall(b)
            left -= len(b)
    s.shutdown(socket.SHUT_WR)
    recv_exactly(s, 1)
    print(f"{time.monotonic() - t:.3f}")


if sys.argv[1] == "copy-serve":
    copy_serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
elif sys.argv[1] == "copy-send":
    copy_send(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
else:
    {"serve": serve, "run": run}[sys.argv[1]](sys.argv[2], int(sys.argv[3]))
