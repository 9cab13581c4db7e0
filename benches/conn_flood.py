#!/usr/bin/env python3
"""Connection flood against a running server (loopback only, bounded by --seconds).

Opens --connections silent TCP connections spread over source addresses 127.0.0.2..(2+--sources),
reopening each as soon as the server closes it or refuses it. Prints how the flood fared; the
/health probe runs in another process (conn_flood.sh), so its latency is not the flood's.
"""
import argparse
import asyncio
import time


async def silent(host, port, source, stats, deadline):
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
        except OSError:
            stats["connect_errors"] += 1
            await asyncio.sleep(0.05)
            continue
        stats["opened"] += 1
        try:
            data = await asyncio.wait_for(reader.read(512), timeout=max(0.1, deadline - time.monotonic()))
            if data.startswith(b"HTTP/1.1 429") or data.startswith(b"HTTP/1.1 503"):
                stats["refused"] += 1
            else:
                stats["closed_by_server"] += 1
        except asyncio.TimeoutError:
            pass
        except OSError:
            stats["closed_by_server"] += 1
        writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=3000)
    parser.add_argument("--sources", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    deadline = time.monotonic() + args.seconds
    stats = {"opened": 0, "refused": 0, "closed_by_server": 0, "connect_errors": 0}
    tasks = [
        silent("127.0.0.1", args.port, f"127.0.0.{2 + i % args.sources}", stats, deadline)
        for i in range(args.connections)
    ]
    await asyncio.gather(*tasks)
    print(f"flood: {args.connections} silent connections from {args.sources} addresses for {args.seconds:.0f} s: "
          f"{stats['opened']} opened, {stats['refused']} refused with 429/503, "
          f"{stats['closed_by_server']} closed by the server, {stats['connect_errors']} connect errors")


asyncio.run(main())
