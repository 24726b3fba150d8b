"""A device written with Eclipse Paho (Debian python3-paho-mqtt 1.6): default (broker-assigned) client id, a last
will on its status topic, QoS 0 and QoS 1 readings, an unclean drop (the will fires) and a reconnect.
Usage: paho_device.py <host> <port> <device id> <token> <ts>; prints one JSON object of what it saw."""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

host, port, device, token, ts = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
seen = {"connack": [], "errors": [], "puback": []}
connected = threading.Event()
got_error = threading.Event()


def on_connect(client, userdata, flags, rc):
    seen["connack"].append(rc)
    client.subscribe(f"devices/{device}/errors", qos=0)
    connected.set()


def on_message(client, userdata, msg):
    seen["errors"].append(json.loads(msg.payload))
    got_error.set()


def on_publish(client, userdata, mid):
    seen["puback"].append(mid)


c = mqtt.Client()  # client_id "" with MQTT 3.1.1: the broker assigns one
c.username_pw_set(device, token)
c.will_set(f"devices/{device}/status", "offline", qos=1, retain=True)
c.on_connect, c.on_message, c.on_publish = on_connect, on_message, on_publish
c.connect(host, port, keepalive=30)
c.loop_start()
assert connected.wait(5), "no CONNACK"
c.publish(f"devices/{device}/status", "online", qos=1, retain=True).wait_for_publish(5)
c.publish(f"devices/{device}/telemetry", json.dumps({"ts": ts, "seq": 1, "metrics": {"q0": 1}}), qos=0).wait_for_publish(5)
info = c.publish(f"devices/{device}/telemetry", json.dumps({"ts": ts + 1, "seq": 2, "metrics": {"q1": 2}}), qos=1)
info.wait_for_publish(5)
seen["qos1_acked"] = info.is_published()
c.publish(f"devices/{device}/telemetry", json.dumps({"metrics": {"bad": "x"}}), qos=1).wait_for_publish(5)
got_error.wait(5)
# An unclean drop: the broker publishes the will. Then the same client reconnects and goes on.
connected.clear()
c.loop_stop()
c.socket().close()
time.sleep(1.0)
c.reconnect()
c.loop_start()
assert connected.wait(5), "no CONNACK after reconnect"
info = c.publish(f"devices/{device}/telemetry", json.dumps({"ts": ts + 2, "seq": 3, "metrics": {"q1": 3}}), qos=1)
info.wait_for_publish(5)
seen["reconnected_qos1_acked"] = info.is_published()
c.disconnect()
c.loop_stop()
print(json.dumps(seen))
