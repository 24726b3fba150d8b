"""An operator written with python-socketio (Debian python3-socketio 5, Socket.IO protocol 5 = server 4.x):
joins a device's room on /telemetry and prints, one JSON line each, the subscribe ack and then every reading.
Usage: sio_operator.py <http url> <operator token> <device id> <readings to wait for> <seconds>"""
import json
import sys
import threading

import socketio

url, token, device, want, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
done = threading.Event()
count = 0
sio = socketio.Client(reconnection=False)


@sio.on("readings", namespace="/telemetry")
def on_readings(payload):
    global count
    for r in payload["readings"]:
        print(json.dumps({"reading": r}), flush=True)
        count += 1
    if count >= want:
        done.set()


sio.connect(url, namespaces=["/telemetry"], transports=["websocket"], auth={"token": token}, wait_timeout=5)
ack = sio.call("subscribe", {"deviceId": device}, namespace="/telemetry", timeout=5)
print(json.dumps({"ack": ack}), flush=True)
done.wait(seconds)
sio.disconnect()
