"""python3-websockets as a broadcast server for bench/run: every message
on /publish goes to each connection of /subscribe, with websockets'
own broadcast().   python_broadcast.py PORT"""
import asyncio
import sys

import websockets

subscribers = set()


async def serve(ws, path=None):
    path = path or ws.path
    try:
        if path == "/subscribe":
            subscribers.add(ws)
            await ws.wait_closed()
        else:
            async for message in ws:
                websockets.broadcast(subscribers, message)
    except websockets.ConnectionClosed:
        pass
    finally:
        subscribers.discard(ws)


async def main():
    async with websockets.serve(serve, "127.0.0.1", int(sys.argv[1]), max_size=None):
        await asyncio.Future()


asyncio.run(main())
