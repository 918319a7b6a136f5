"""A peer written with python3-websockets, a WebSocket implementation that
Tether's authors did not write.

    python_peer.py client ws://127.0.0.1:PORT   checks a Tether server, exit 0 on success
    python_peer.py server                        echo server; prints its port, exits on /shutdown
"""
import asyncio
import json
import os
import sys

import websockets

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20]


def payloads(size):
    text = "".join(chr(0x61 + i % 26) for i in range(size))
    data = bytes(i % 251 for i in range(size))
    return text, data


async def check_echo(url, **options):
    async with websockets.connect(url + "/echo", max_size=None, **options) as ws:
        for size in SIZES:
            for payload in payloads(size):
                await ws.send(payload)
                reply = await asyncio.wait_for(ws.recv(), 10)
                assert reply == payload, f"echo of {size} {type(payload).__name__} differs"
        # A fragmented message comes back whole.
        await ws.send(iter(["frag", "men", "ted"]))
        assert await asyncio.wait_for(ws.recv(), 10) == "fragmented"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 10)
        await ws.close(4000, "bye")
        assert ws.close_code == 4000, f"server answered close with {ws.close_code}"


def stress_messages():
    """Highly compressible, repeated and incompressible messages: inflaters
    have failed on exactly these (Beast 1.81, its issue #3028)."""
    for size in (64 << 10, 1 << 20, 16 << 20):
        yield b"\x41" * size
        yield "tether! " * (size // 8)
        yield os.urandom(size)


async def check_compression(url, path):
    async with websockets.connect(url + path, max_size=None) as ws:
        names = [extension.name for extension in ws.extensions]
        assert names == ["permessage-deflate"], f"negotiated {names} on {path}"
        for message in stress_messages():
            await ws.send(message)
            reply = await asyncio.wait_for(ws.recv(), 30)
            assert reply == message, f"compressed echo of {len(message)} bytes differs on {path}"
        # A long run of small messages, all in flight at once.
        small = [json.dumps({"seq": i, "kind": "tick", "value": i % 7}) for i in range(2000)]
        for message in small:
            await ws.send(message)
        for message in small:
            assert await asyncio.wait_for(ws.recv(), 30) == message, f"small message differs on {path}"
        await ws.close()


async def check_client_features(url):
    await check_echo(url, compression=None)
    await check_echo(url)  # offers permessage-deflate; /echo does not compress
    await check_compression(url, "/deflate")
    await check_compression(url, "/deflate-takeover")
    async with websockets.connect(url + "/sub", subprotocols=["v1", "v2"]) as ws:
        assert ws.subprotocol == "v2", f"chose {ws.subprotocol}"
    async with websockets.connect(url + "/close") as ws:
        try:
            await asyncio.wait_for(ws.recv(), 10)
            raise AssertionError("expected the server to close")
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd.code == 4001 and closed.rcvd.reason == "done", str(closed)
    try:
        async with websockets.connect(url + "/missing"):
            raise AssertionError("expected a refusal")
    except websockets.InvalidStatusCode as refused:
        assert refused.status_code == 404


async def serve():
    stop = asyncio.get_running_loop().create_future()

    async def handler(ws, path=None):
        path = path or ws.path
        if path == "/shutdown":
            stop.set_result(None)
        elif path == "/close4001":
            await ws.close(4001, "server says bye")
        else:
            try:
                async for message in ws:
                    await ws.send(message)
            except websockets.ConnectionClosed:
                pass  # a close with an application code (4000) counts as an "error" here

    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["v1"], max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.wait_for(stop, 120)


def main():
    if sys.argv[1:2] == ["client"]:
        asyncio.run(asyncio.wait_for(check_client_features(sys.argv[2]), 60))
        print("python client: all checks passed")
    elif sys.argv[1:2] == ["server"]:
        asyncio.run(serve())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
