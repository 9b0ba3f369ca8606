#!/usr/bin/env python3
"""A minimal OCPP 1.6-J central system for testing charger-sim, standard
library only: the WebSocket server handshake and framing (RFC 6455) are
written out here, since no WebSocket package can be assumed.

It listens on 127.0.0.1 at a free port and writes that port to --port-file
once it accepts connections. It answers a charger's BootNotification
(Accepted), StatusNotification, Heartbeat and any other call ({}), and
answers a close frame with one (unless --ignore-close).

It serves every charger that connects until it is killed. Malformed calls
and answers are tests/tools/test_charger_sim_bad_calls.py's.

  ocpp_peer.py --port-file FILE [--mode serve] [--ignore-close]
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Closed(Exception):
    pass


class WebSocket:
    """The server side of one WebSocket connection."""

    def __init__(self, sock, ignore_close=False):
        self.sock = sock
        self.ignore_close = ignore_close
        self.buffer = b""
        self.write_lock = threading.Lock()

    def _read_exact(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed("the charger closed the TCP connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def handshake(self):
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed("closed before the upgrade request")
            self.buffer += chunk
            if len(self.buffer) > 65536:
                raise Closed("upgrade request too long")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        request_line, headers = lines[0], {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        protocols = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
        key = headers.get("sec-websocket-key")
        if headers.get("upgrade", "").lower() != "websocket" or not key:
            self.sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            raise Closed("not a WebSocket upgrade: " + request_line)
        if "ocpp1.6" not in protocols:
            self.sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            raise Closed("no ocpp1.6 subprotocol offered")
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.sock.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n"
                "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
            ).encode()
        )
        return request_line.split(" ")[1] if " " in request_line else ""

    def send_frame(self, opcode, payload):
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([n])
        elif n < 65536:
            header += bytes([126]) + struct.pack("!H", n)
        else:
            header += bytes([127]) + struct.pack("!Q", n)
        with self.write_lock:
            self.sock.sendall(header + payload)

    def send_text(self, text):
        self.send_frame(0x1, text.encode())

    def receive(self):
        """The next text message; handles ping and close on the way."""
        message, message_opcode = b"", None
        while True:
            b0, b1 = self._read_exact(2)
            fin, opcode = b0 & 0x80, b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read_exact(8))[0]
            mask = self._read_exact(4) if b1 & 0x80 else b"\0\0\0\0"
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(self._read_exact(n)))
            if opcode == 0x8:  # close
                if not self.ignore_close:
                    self.send_frame(0x8, data[:2])
                    raise Closed("the charger closed the WebSocket")
                # A central system that never finishes the closing handshake.
                print("close frame ignored", flush=True)
                continue
            if opcode == 0x9:  # ping
                self.send_frame(0xA, data)
                continue
            if opcode == 0xA:  # pong
                continue
            if opcode != 0x0:
                message_opcode = opcode
            message += data
            if fin:
                if message_opcode != 0x1:
                    raise Closed(f"unexpected opcode {message_opcode}")
                return message.decode("utf-8")


def answer_of(call):
    """The CALLRESULT payload a central system answers a charger's CALL with."""
    action = call[2]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": now, "interval": 300}
    if action == "Heartbeat":
        return {"currentTime": now}
    if action in ("Authorize", "StartTransaction"):
        result = {"idTagInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            result["transactionId"] = 1
        return result
    return {}


def serve_charger(ws):
    """Answers the charger's calls until the connection ends."""
    while True:
        text = ws.receive()
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2:
            ws.send_text(json.dumps([3, frame[1], answer_of(frame)]))


def serve(listener, ignore_close):
    def one(sock):
        with sock:
            ws = WebSocket(sock, ignore_close)
            try:
                ws.handshake()
                serve_charger(ws)
            except (Closed, OSError):
                pass

    while True:
        sock, _ = listener.accept()
        threading.Thread(target=one, args=(sock,), daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--mode", choices=["serve"], default="serve")
    parser.add_argument("--ignore-close", action="store_true",
                        help="never answer a close frame (a central system that hangs)")
    args = parser.parse_args()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{listener.getsockname()[1]}\n")
    os.replace(tmp, args.port_file)
    sys.stdout.flush()
    serve(listener, args.ignore_close)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
