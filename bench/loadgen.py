"""An asyncio HTTP/1.1 load generator: C keep-alive connections, each sending its share of the
requests one after another. One process of Python `requests` threads saturates a core long before
a server does (about 450 requests/s here against a bare uvicorn app that does 2,700); this one
measures the server, not itself."""

from __future__ import annotations

import asyncio
import threading
import time


async def _conn(
    host: str, port: int, requests: list[bytes], lat: list[float], results: list[tuple[int, bytes]], timeout: float
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for raw in requests:
            t = time.perf_counter()
            writer.write(raw)
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout)
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length) if length else b""
            lat.append(time.perf_counter() - t)
            results.append((int(status_line.split()[1]), body))
    finally:
        writer.close()


def run(
    host: str, port: int, requests: list[bytes], connections: int, timeout: float = 30.0
) -> tuple[float, list[float], list[tuple[int, bytes]]]:
    """(seconds, per-request latencies, (status, body) per answer) for raw HTTP/1.1 requests."""
    lat: list[float] = []
    results: list[tuple[int, bytes]] = []
    shares = [requests[i::connections] for i in range(connections)]

    async def main() -> None:
        await asyncio.gather(*(_conn(host, port, s, lat, results, timeout) for s in shares if s))

    failure: list[BaseException] = []

    def in_own_thread() -> None:  # a loop of its own, even when the caller's thread runs one (pytest plugins do)
        try:
            asyncio.run(main())
        except BaseException as exc:  # raised in the caller's thread below
            failure.append(exc)

    t = time.perf_counter()
    worker = threading.Thread(target=in_own_thread, name="loadgen")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return time.perf_counter() - t, lat, results
