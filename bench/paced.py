#!/usr/bin/env python3
"""A paced (open-loop) load: GET one path at a fixed rate over keep-alive connections, and
latency measured from each request's scheduled start, so a slow server cannot slow the
clock down (no coordinated omission). Standard library only.

usage: paced.py HOST PORT PATH COOKIE RATE SECONDS [CONNECTIONS]
prints: sent, errors, achieved rate, p50, p99 and max in milliseconds
"""
import asyncio
import sys
import time


async def main(host, port, path, cookie, rate, seconds, connections):
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    queue: asyncio.Queue = asyncio.Queue()
    latencies, errors = [], 0

    async def worker():
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        while True:
            scheduled = await queue.get()
            if scheduled is None:
                writer.close()
                return
            try:
                writer.write(request)
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
                latencies.append(time.perf_counter() - scheduled)
            except Exception:
                errors += 1
                reader, writer = await asyncio.open_connection(host, port)

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(due)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    print(
        f"sent={total} errors={errors} rate={len(latencies) / elapsed:.0f}/s "
        f"p50={pick(0.50):.2f}ms p99={pick(0.99):.2f}ms max={latencies[-1] * 1000:.2f}ms"
    )


if __name__ == "__main__":
    host, port, path, cookie, rate, seconds = sys.argv[1:7]
    connections = int(sys.argv[7]) if len(sys.argv) > 7 else 16
    asyncio.run(main(host, int(port), path, cookie, float(rate), float(seconds), connections))
