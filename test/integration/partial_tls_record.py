"""A TLS client that sends half of a record and pauses: the server must wait
for the rest, not spin. Prints "ready" once the half is sent and "echoed"
when the whole message came back.
    partial_tls_record.py PORT PAUSE_SECONDS
"""
import socket
import ssl
import sys
import time

port, pause = int(sys.argv[1]), float(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
sock = socket.create_connection(("127.0.0.1", port))
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing)


def flush():
    data = outgoing.read()
    if data:
        sock.sendall(data)


def pump():
    data = sock.recv(65536)
    if not data:
        sys.exit("the server closed the connection")
    incoming.write(data)


def read_some():
    while True:
        try:
            return tls.read(65536)
        except ssl.SSLWantReadError:
            pump()


while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        flush()
        pump()
flush()
tls.write(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
flush()
head = b""
while b"\r\n\r\n" not in head:
    head += read_some()
assert head.startswith(b"HTTP/1.1 101"), head

# One masked text frame, "hi", as one TLS record sent in two halves.
tls.write(bytes([0x81, 0x82, 1, 2, 3, 4, ord("h") ^ 1, ord("i") ^ 2]))
record = outgoing.read()
sock.sendall(record[: len(record) // 2])
print("ready", flush=True)
time.sleep(pause)
sock.sendall(record[len(record) // 2:])
echo = read_some()
assert echo == bytes([0x81, 2]) + b"hi", echo
print("echoed", flush=True)
