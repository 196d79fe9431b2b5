"""A TCP forwarder: nodes reach the API server at the lab's API address, the way a real node
reaches its cluster's API endpoint, while the host's own clients keep using loopback."""

from __future__ import annotations

import asyncio
import contextlib

BUFFER = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def _serve(listen: tuple[str, int], target: tuple[str, int]) -> None:
    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()  # the API server is down: the client sees a refused session
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    server = await asyncio.start_server(connect, *listen, reuse_address=True)
    async with server:
        await server.serve_forever()


def serve(listen: tuple[str, int], target: tuple[str, int]) -> None:
    """Forward every connection to `listen` to `target` until killed."""
    asyncio.run(_serve(listen, target))
