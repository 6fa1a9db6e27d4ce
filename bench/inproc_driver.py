#!/usr/bin/env python3
"""In-process publisher for the loadgen's `--publisher external` mode.

Runs a pushi.Server inside this process and publishes with
``server.trigger()`` (no HTTP), pacing itself with the loadgen's shared
progress counters (the --progress-file written by bench/loadgen):

    header (uint64 words at offset 0): 0 magic, 1 nworkers, 2 total_subs,
        3 ready, 4 pub_done, 5 units_total, 6 stop, 7 channels,
        8 t_pub_start, 9 t_pub_end, 10 req_ok, 11 req_err, 13 units_sent
    worker i: uint64 `received` at 4096 + i * 65536

Every event's data is "#0.<seq>.<CLOCK_MONOTONIC ns>#xxx..." (stream 0), the
format the loadgen checks.  Unit u goes to channel u % channels; one trigger
call covers `group` consecutive units (multi-channel event).  The driver keeps
at most `window` deliveries in flight (published but not yet received), so
the server's output queues stay bounded while it is never idle.

Prints "READY <pid> <port>" on stdout once listening; exits by itself after
--duration (+ drain) or --timeout.
"""

from __future__ import annotations

import argparse
import mmap
import os
import struct
import sys
import time

MAGIC = 0x3142454853555050
WOFF, WSTRIDE = 4096, 65536


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--app-id", default="1234567")
    ap.add_argument("--key", default="pushi-bench-key")
    ap.add_argument("--secret", default="pushi-bench-secret")
    ap.add_argument("--progress-file", required=True)
    ap.add_argument("--prefix", default="fanout", help="channel name prefix (fanout, mc, lat)")
    ap.add_argument("--group", type=int, default=1, help="channels per trigger call")
    ap.add_argument("--window", type=int, default=0, help="deliveries in flight (0: 32 x subscribers)")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--payload", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--driver-cpu", type=int, default=-1,
                    help="after the server's loop thread has started (and inherited this process's "
                         "CPU set), pin the publishing thread to this CPU")
    args = ap.parse_args()

    import pushi

    app = pushi.App(id=args.app_id, key=args.key, secret=args.secret, max_event_bytes=10240)
    server = pushi.Server("127.0.0.1", args.port, store="memory:", apps=[app])
    server.start()
    if args.driver_cpu >= 0:
        os.sched_setaffinity(0, {args.driver_cpu})  # this thread only (Linux semantics)
    print(f"READY {os.getpid()} {server.port}", flush=True)
    hard = time.monotonic() + min(args.timeout, 1800.0)
    try:
        # wait for the loadgen's shared counters and its "all subscribed"
        mm = None
        while time.monotonic() < hard:
            try:
                if os.path.getsize(args.progress_file) >= WOFF:
                    fd = os.open(args.progress_file, os.O_RDWR)
                    mm = mmap.mmap(fd, 0)
                    os.close(fd)
                    if struct.unpack_from("<Q", mm, 0)[0] == MAGIC:
                        break
                    mm.close()
                    mm = None
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.01)
        if mm is None:
            print("driver: no progress file", file=sys.stderr)
            return 1

        def word(i: int) -> int:
            return struct.unpack_from("<Q", mm, 8 * i)[0]

        def put(i: int, v: int) -> None:
            struct.pack_into("<Q", mm, 8 * i, v)

        while not word(3) and not word(6) and time.monotonic() < hard:
            time.sleep(0.002)
        nworkers, subs, channels = word(1), word(2), max(1, word(7))
        window = args.window or 32 * max(1, subs)
        group = max(1, min(args.group, channels, 100))
        offsets = [WOFF + i * WSTRIDE for i in range(nworkers)]
        unpack = struct.unpack_from

        def received() -> int:
            return sum(unpack("<Q", mm, o)[0] for o in offsets)

        def subs_on(c: int) -> int:
            return subs // channels + (1 if c < subs % channels else 0)

        names = [f"{args.prefix}-{c}" for c in range(channels)]
        pad = "x" * args.payload
        trigger = server.trigger
        app_id = app.id
        t0 = time.monotonic_ns()
        put(8, t0)
        end = t0 + int(args.duration * 1e9)
        units = deliv = seq = 0
        now = t0
        while now < end and not word(6) and time.monotonic() < hard:
            if deliv > received() + window:
                time.sleep(0.0002)
                now = time.monotonic_ns()
                continue
            chans = [names[(units + k) % channels] for k in range(group)]
            head = f"#0.{seq}.{time.monotonic_ns()}#"
            data = head + pad[: max(0, args.payload - len(head))]
            trigger(app_id, chans if group > 1 else chans[0], "bench", data)
            seq += 1
            for k in range(group):
                deliv += subs_on((units + k) % channels)
            units += group
            if (seq & 63) == 0:
                put(13, units)
            now = time.monotonic_ns()
        put(9, time.monotonic_ns())
        put(10, seq)
        put(5, units)
        put(13, units)
        put(4, 1)
        while not word(6) and time.monotonic() < hard:
            time.sleep(0.01)
        mm.close()
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
