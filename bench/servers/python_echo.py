"""python3-websockets as an echo server for bench/run (a reference point).
    python_echo.py PORT"""
import asyncio
import os
import sys

import websockets


async def echo(ws, path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main():
    compression = "deflate" if os.environ.get("COMPRESS") == "1" else None
    async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1]), max_size=None, compression=compression):
        await asyncio.Future()


asyncio.run(main())
