#!/usr/bin/python3
"""4 KiB random reads or writes with O_DIRECT, for the lab's speed
scenario: one process doing one I/O at a time (queue depth 1), as dd
would with a seek per block, without the cost of starting a dd for each.

    randio.py DEVICE read|write SECONDS [SPAN_BYTES]

Prints "IOPS MiB/s COUNT": how many I/Os a second it did, in the first
SPAN_BYTES of DEVICE (default all of it), in about SECONDS. A lab tool,
never part of the product.
"""
import mmap
import os
import random
import sys
import time

BLOCK = 4096


def main():
    dev, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    flags = os.O_DIRECT | (os.O_RDWR if mode == "write" else os.O_RDONLY)
    fd = os.open(dev, flags)
    span = int(sys.argv[4]) if len(sys.argv) > 4 else os.lseek(fd, 0, os.SEEK_END)
    blocks = span // BLOCK
    buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT needs
    buf.write(os.urandom(BLOCK))
    rng = random.Random(17)
    done = 0
    start = time.monotonic()
    end = start + seconds
    while True:
        offset = rng.randrange(blocks) * BLOCK
        if mode == "write":
            n = os.pwritev(fd, [buf], offset)
        else:
            n = os.preadv(fd, [buf], offset)
        if n != BLOCK:
            sys.exit(f"short {mode} at {offset}: {n}")
        done += 1
        if done % 16 == 0 and time.monotonic() >= end:
            break
    if mode == "write":
        os.fsync(fd)
    took = time.monotonic() - start
    os.close(fd)
    print(f"{done / took:.0f} {done * BLOCK / took / 1048576:.2f} {done}")


main()
