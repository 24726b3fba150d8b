"""A WebSocket ingest device written with python3-websockets (not Node): one good reading, one refused.
Usage: ws_device.py <ws url> <token> <ts>; prints the gateway's two replies as a JSON list."""
import asyncio
import json
import sys

import websockets

url, token, ts = sys.argv[1], sys.argv[2], int(sys.argv[3])


async def main():
    async with websockets.connect(url, extra_headers={"Authorization": f"Bearer {token}"}) as ws:
        replies = []
        await ws.send(json.dumps({"ts": ts, "seq": 7, "metrics": {"py_ws": 1.5}}))
        replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        await ws.send(json.dumps({"seq": 8, "metrics": {"py_ws": "hot"}}))
        replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        print(json.dumps(replies))


asyncio.run(main())
