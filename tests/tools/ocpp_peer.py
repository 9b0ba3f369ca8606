#!/usr/bin/env python3
"""A minimal OCPP 1.6-J central system for testing charger-sim, standard
library only: the WebSocket server handshake and framing (RFC 6455) are
written out here, since no WebSocket package can be assumed.

It listens on 127.0.0.1 at a free port and writes that port to --port-file
once it accepts connections. It answers a charger's BootNotification
(Accepted), StatusNotification, Heartbeat and any other call ({}), and
answers a close frame with one (unless --ignore-close).

Modes:
  serve      serve every charger that connects until killed.
  bad-calls  serve the first charger; once it has booted, send it malformed
             CALLs and check each answer: a CALLERROR with the OCPP-J code
             when the message id can be read, nothing when it cannot. Then a
             well-formed SetChargingProfile must still be answered Accepted.
             Prints "ok: ..." / "FAILED: ..." lines; exit 0 when all passed.
  bad-answers  serve the first charger, answering its own calls wrongly (a
             BootNotification without a status, a StartTransaction with a
             broken frame, then without a transactionId); it must keep
             answering calls, and its next StartTransaction must still go.

  ocpp_peer.py --port-file FILE [--mode serve|bad-calls|bad-answers] [--ignore-close]
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


def serve_charger(ws, on_message=None):
    """Answers the charger's calls until the connection ends."""
    while True:
        text = ws.receive()
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2:
            ws.send_text(json.dumps([3, frame[1], answer_of(frame)]))
        if on_message:
            on_message(frame, text)


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


VALID_PROFILE = {
    "connectorId": 1,
    "csChargingProfiles": {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}],
        },
    },
}


def with_schedule(schedule):
    payload = json.loads(json.dumps(VALID_PROFILE))
    payload["csChargingProfiles"]["chargingSchedule"] = schedule
    return json.dumps(payload)


# (frame text, message id of the answer or None when none may come, the
# CALLERROR code the answer must carry, or the payload of its CALLRESULT)
BAD_CALLS = [
    # Not shaped like a CALL: OCPP-J's ProtocolError for what is incomplete,
    # FormationViolation for what breaks the frame's structure.
    ('[2,"m1"]', "m1", "ProtocolError"),
    ('[2,"m2","Reset"]', "m2", "ProtocolError"),
    ('[2,"m3","Reset",[]]', "m3", "FormationViolation"),
    ('[2,"m4","Reset","Soft"]', "m4", "FormationViolation"),
    ('[2,"m5",42,{}]', "m5", "FormationViolation"),
    ('[2,"m6","",{}]', "m6", "FormationViolation"),
    ('[2,"m7","Reset",{"type":"Soft"},{}]', "m7", "FormationViolation"),
    ('[2,"m8",null,null]', "m8", "FormationViolation"),
    ('[7,"m9",{}]', "m9", "ProtocolError"),
    # No message id to answer: logged and dropped.
    ('[2,17,"Reset",{"type":"Soft"}]', None, None),
    ('[2,null,"Reset",{"type":"Soft"}]', None, None),
    ('[2,"","Reset",{"type":"Soft"}]', None, None),
    ("[2]", None, None),
    ("[]", None, None),
    ("{}", None, None),
    ('"text"', None, None),
    ("not json at all", None, None),
    # A broken answer to a call the charger never made: never answered.
    ('[3,"x1"]', None, None),
    ('[4,"x2",5]', None, None),
    # Shaped like a CALL, its payload breaking the action's schema: the
    # fields the charger reads are missing or of the wrong type.
    ('[2,"p1","SetChargingProfile",{}]', "p1", "OccurenceConstraintViolation"),
    ('[2,"p2","SetChargingProfile",{"connectorId":1}]', "p2", "OccurenceConstraintViolation"),
    ('[2,"p3","SetChargingProfile",{"connectorId":"1","csChargingProfiles":{}}]', "p3",
     "TypeConstraintViolation"),
    ('[2,"p4","SetChargingProfile",' + with_schedule({"chargingRateUnit": "W"}) + "]", "p4",
     "OccurenceConstraintViolation"),
    ('[2,"p5","SetChargingProfile",'
     + with_schedule({"chargingRateUnit": "W", "chargingSchedulePeriod": "all"}) + "]", "p5",
     "TypeConstraintViolation"),
    ('[2,"p6","SetChargingProfile",'
     + with_schedule({"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0}]})
     + "]", "p6", "OccurenceConstraintViolation"),
    ('[2,"p7","SetChargingProfile",'
     + with_schedule({"chargingRateUnit": 5,
                      "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1.0}]})
     + "]", "p7", "TypeConstraintViolation"),
    ('[2,"p8","RemoteStartTransaction",{}]', "p8", "OccurenceConstraintViolation"),
    ('[2,"p9","RemoteStartTransaction",{"idTag":5}]', "p9", "TypeConstraintViolation"),
    ('[2,"p10","RemoteStopTransaction",{}]', "p10", "OccurenceConstraintViolation"),
    ('[2,"p11","RemoteStopTransaction",{"transactionId":"7"}]', "p11",
     "TypeConstraintViolation"),
    ('[2,"p12","ChangeAvailability",[1]]', "p12", "FormationViolation"),
    # Valid, though it leaves nothing to read: a schedule without periods.
    ('[2,"v1","SetChargingProfile",'
     + with_schedule({"chargingRateUnit": "W", "chargingSchedulePeriod": []}) + "]", "v1",
     {"status": "Accepted"}),
    # An action it does not know, as before.
    ('[2,"u1","NoSuchAction",{}]', "u1", "NotImplemented"),
]


def bad_calls(listener, ignore_close, answer_timeout):
    listener.settimeout(answer_timeout)
    try:
        sock, _ = listener.accept()
    except socket.timeout:
        print(f"FAILED: charger-sim did not connect within {answer_timeout} s")
        return 1
    sock.settimeout(answer_timeout)
    ws = WebSocket(sock, ignore_close)
    answers, booted = [], threading.Event()
    failures = 0

    def on_message(frame, text):
        if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2:
            if frame[2] == "StatusNotification":
                booted.set()  # sent once its boot is accepted
            return
        answers.append(text)

    ws.handshake()
    reader_error = []

    def read():
        try:
            serve_charger(ws, on_message)
        except (Closed, OSError) as e:
            reader_error.append(str(e))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not booted.wait(answer_timeout):
        print(f"FAILED: no BootNotification and StatusNotification within {answer_timeout} s")
        return 1

    def next_answer(want_id):
        """Answers until the one for want_id; the others are reported unwanted."""
        deadline = time.monotonic() + answer_timeout
        while time.monotonic() < deadline:
            while answers:
                text = answers.pop(0)
                try:
                    frame = json.loads(text)
                except ValueError:
                    frame = None
                if isinstance(frame, list) and len(frame) >= 2 and frame[1] == want_id:
                    return frame, []
                unwanted.append(text)
            if reader_error:
                return None, reader_error
            time.sleep(0.01)
        return None, [f"no answer within {answer_timeout} s"]

    unwanted = []
    for text, want_id, want_code in BAD_CALLS:
        ws.send_text(text)
        if want_id is None:
            print(f"ok: sent {text} (no message id to answer)")
            continue
        frame, why = next_answer(want_id)
        if frame is None:
            print(f"FAILED: {text}: {'; '.join(why)}")
            return 1
        want_type = 3 if isinstance(want_code, dict) else 4
        if len(frame) >= 3 and frame[0] == want_type and frame[2] == want_code:
            print(f"ok: {text} -> {json.dumps(frame)}")
        else:
            want = f"CALLRESULT {want_code}" if want_type == 3 else f"CALLERROR {want_code}"
            print(f"FAILED: {text}: expected {want}, got {json.dumps(frame)}")
            failures += 1
    # Still alive, and still doing its work.
    ws.send_text(json.dumps([2, "alive", "SetChargingProfile", VALID_PROFILE]))
    frame, why = next_answer("alive")
    if frame is None:
        print(f"FAILED: a valid SetChargingProfile after the bad calls: {'; '.join(why)}")
        return 1
    if frame[0] == 3 and frame[2] == {"status": "Accepted"}:
        print(f"ok: then a valid SetChargingProfile -> {json.dumps(frame)}")
    else:
        print(f"FAILED: a valid SetChargingProfile after the bad calls: got {json.dumps(frame)}")
        failures += 1
    # Whatever was answered that should not have been (a frame without a
    # readable id, a broken CALLRESULT): OCPP-J never answers those.
    for text in unwanted:
        print(f"FAILED: unexpected frame from the charger: {text}")
        failures += 1
    return 1 if failures else 0


class Inbox:
    """What the charger sends, read on a thread of its own, waits in the
    inbox. Calls that auto_answer(frame) accepts are answered at once."""

    def __init__(self, ws, auto_answer):
        self.ws, self.auto_answer = ws, auto_answer
        self.frames, self.error = [], None
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                text = self.ws.receive()
                try:
                    frame = json.loads(text)
                except ValueError:
                    frame = text
                is_call = isinstance(frame, list) and len(frame) == 4 and frame[0] == 2
                if is_call and self.auto_answer(frame):
                    self.ws.send_text(json.dumps([3, frame[1], answer_of(frame)]))
                with self.cond:
                    self.frames.append(frame)
                    self.cond.notify_all()
        except (Closed, OSError) as e:
            with self.cond:
                self.error = str(e)
                self.cond.notify_all()

    def expect(self, what, predicate, timeout):
        """The first frame that predicate accepts; raises Closed if none comes."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i, frame in enumerate(self.frames):
                    if predicate(frame):
                        return self.frames.pop(i)
                if self.error:
                    raise Closed(f"waiting for {what}: {self.error}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Closed(f"no {what} within {timeout} s")
                self.cond.wait(left)


def is_call_of(action):
    return lambda f: isinstance(f, list) and len(f) == 4 and f[0] == 2 and f[2] == action


def is_answer_to(message_id):
    return lambda f: isinstance(f, list) and len(f) >= 3 and f[0] in (3, 4) and f[1] == message_id


def bad_answers(listener, timeout):
    """Answers the charger's own calls wrongly: its BootNotification with no
    status, a StartTransaction with a broken frame, then with a payload that
    breaks the schema. Each must fail that call only: the charger keeps
    answering, and its next call still goes."""
    listener.settimeout(timeout)
    try:
        sock, _ = listener.accept()
    except socket.timeout:
        print(f"FAILED: charger-sim did not connect within {timeout} s")
        return 1
    ws = WebSocket(sock)
    ws.handshake()
    inbox = Inbox(ws, lambda f: f[2] not in ("BootNotification", "StartTransaction"))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        boot = inbox.expect("BootNotification", is_call_of("BootNotification"), timeout)
        ws.send_text(json.dumps([3, boot[1], {"currentTime": now, "interval": 300}]))
        print("ok: answered its BootNotification without a status")
        ws.send_text('[2,"a1","Reset",{"type":"Soft"}]')
        answer = inbox.expect("answer to a1", is_answer_to("a1"), timeout)
        if answer != [3, "a1", {"status": "Accepted"}]:
            print(f"FAILED: Reset after the bad boot answer: got {json.dumps(answer)}")
            return 1
        print("ok: it still answers a call: " + json.dumps(answer))
        starts = [
            ("a broken frame", lambda mid: json.dumps([3, mid])),
            ("no transactionId", lambda mid: json.dumps(
                [3, mid, {"idTagInfo": {"status": "Accepted"}}])),
            ("a valid answer", lambda mid: json.dumps(
                [3, mid, {"idTagInfo": {"status": "Accepted"}, "transactionId": 41}])),
        ]
        for n, (how, reply) in enumerate(starts, start=2):
            mid = f"a{n}"
            ws.send_text(json.dumps(
                [2, mid, "RemoteStartTransaction", {"idTag": f"TAG{n}", "connectorId": 1}]))
            answer = inbox.expect(f"answer to {mid}", is_answer_to(mid), timeout)
            if answer != [3, mid, {"status": "Accepted"}]:
                print(f"FAILED: RemoteStartTransaction {mid}: got {json.dumps(answer)}")
                return 1
            start = inbox.expect(f"StartTransaction after {mid}",
                                 is_call_of("StartTransaction"), timeout)
            ws.send_text(reply(start[1]))
            print(f"ok: its StartTransaction for TAG{n} came; answered with {how}")
        inbox.expect("StatusNotification Charging",
                     lambda f: is_call_of("StatusNotification")(f)
                     and f[3].get("status") == "Charging", timeout)
        print("ok: then the transaction runs (StatusNotification Charging)")
    except Closed as e:
        print(f"FAILED: {e}")
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--mode", choices=["serve", "bad-calls", "bad-answers"], default="serve")
    parser.add_argument("--ignore-close", action="store_true",
                        help="never answer a close frame (a central system that hangs)")
    parser.add_argument("--timeout", type=float, default=20.0,
                        help="bad-calls: seconds to wait for the charger and each answer")
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
    if args.mode == "serve":
        serve(listener, args.ignore_close)
        return 0
    if args.mode == "bad-calls":
        status = bad_calls(listener, args.ignore_close, args.timeout)
    else:
        status = bad_answers(listener, args.timeout)
    sys.stdout.flush()
    os._exit(status)  # the reader thread may still block on the socket


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
