"""The status server of the polling benchmarks in Python, for their untimed correctness pass
(`make test`); `make bench-poll` uses the Rust one in ``benches/status-server``, which is fast
enough not to be what is measured. Same protocol: ``GET /jobs/{id}/status`` answers every job
with the current phase's status, ``GET /_phase/{n}`` sets the phase (0: pending execution,
1: ready), ``GET /_latency/{ms}`` delays every later status answer by that many milliseconds.
Prints its port, and stops when its stdin closes."""

from __future__ import annotations

import asyncio
import sys

BODIES = (b'{"status": "pending execution"}', b'{"status": "ready", "warnings": []}')


def response(body: bytes, close: bool) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(
        body
    )
    return head + extra + b"\r\n" + body


async def main() -> None:
    phase = [0]
    latency = [0.0]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                close = b"\r\nconnection: close" in head.lower()
                if path.startswith("/_phase/"):
                    phase[0] = int(path.rsplit("/", 1)[1])
                    writer.write(response(b"{}", close))
                elif path.startswith("/_latency/"):
                    latency[0] = int(path.rsplit("/", 1)[1]) / 1000
                    writer.write(response(b"{}", close))
                else:
                    if latency[0]:
                        await asyncio.sleep(latency[0])
                    writer.write(response(BODIES[min(phase[0], 1)], close))
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
