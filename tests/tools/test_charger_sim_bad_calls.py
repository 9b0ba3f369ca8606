#!/usr/bin/env python3
"""charger-sim against a central system that sends what it should not.

A central system of our own (standard library only: the WebSocket handshake
and framing are written out below) accepts charger-sim's connection, boots
it, then sends calls that are malformed or break their schema. Each must be
answered with the CALLERROR a charger owes, and the simulator must keep
running: a SetChargingProfile without its profile, or a remote start without
an id tag, used to crash it (it read fields that were not there).

    test_charger_sim_bad_calls.py CHARGER_SIM
"""
import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT = 20.0


LOG = tempfile.TemporaryFile()


def fail(why):
    LOG.seek(0)
    sys.stderr.write(LOG.read().decode(errors="replace")[-3000:])
    print("FAIL: " + why, file=sys.stderr)
    sys.exit(1)


class Peer:
    """One accepted WebSocket connection, server side."""

    def __init__(self, conn):
        self.conn = conn
        self.pending = b""

    def recv_exact(self, n):
        while len(self.pending) < n:
            try:
                chunk = self.conn.recv(65536)
            except socket.timeout:
                fail("charger-sim sent nothing within %d s" % TIMEOUT)
            if not chunk:
                fail("charger-sim closed the connection")
            self.pending += chunk
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def handshake(self):
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = self.conn.recv(4096)
            if not chunk:
                fail("no upgrade request")
            request += chunk
        head, self.pending = request.split(b"\r\n\r\n", 1)
        headers = {}
        for line in head.decode().split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "ocpp1.6" not in headers.get("sec-websocket-protocol", ""):
            fail("charger-sim did not offer ocpp1.6: " + repr(headers))
        accept = base64.b64encode(
            hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()).decode()
        self.conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                           "\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n").encode())

    def send(self, text):
        data = text.encode()
        if len(data) < 126:
            header = struct.pack("!BB", 0x81, len(data))
        else:
            header = struct.pack("!BBH", 0x81, 126, len(data))
        self.conn.sendall(header + data)

    def read_message(self):
        while True:
            b0, b1 = self.recv_exact(2)
            opcode, length = b0 & 0x0F, b1 & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self.recv_exact(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self.recv_exact(8))
            mask = self.recv_exact(4) if b1 & 0x80 else b"\0\0\0\0"
            payload = bytes(c ^ mask[i % 4] for i, c in enumerate(self.recv_exact(length)))
            if opcode == 0x8:
                fail("charger-sim sent a close frame: " + repr(payload))
            if opcode == 0x9:  # ping: pong
                self.conn.sendall(struct.pack("!BB", 0x8A, len(payload)) + payload)
                continue
            if opcode == 0x1:
                return json.loads(payload)

    def answer_calls_until(self, want):
        """Answers the simulator's own calls until a frame matching `want` comes."""
        while True:
            message = self.read_message()
            if message[0] == 2:
                action = message[2]
                payload = {}
                if action == "BootNotification":
                    payload = {"status": "Accepted", "interval": 300,
                               "currentTime": "2026-01-01T00:00:00Z"}
                elif action == "Heartbeat":
                    payload = {"currentTime": "2026-01-01T00:00:00Z"}
                self.send(json.dumps([3, message[1], payload]))
                if want(message):
                    return message
                continue
            if want(message):
                return message


def main():
    sim = sys.argv[1]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(TIMEOUT)
    port = listener.getsockname()[1]
    process = subprocess.Popen([sim, "--url", "ws://127.0.0.1:%d/ocpp" % port,
                                "--heartbeat", "0.2"],
                               stdout=LOG, stderr=subprocess.STDOUT)
    try:
        conn, _ = listener.accept()
        conn.settimeout(TIMEOUT)
        peer = Peer(conn)
        peer.handshake()
        peer.answer_calls_until(lambda m: m[0] == 2 and m[2] == "BootNotification")

        cases = [
            # (frame sent, message id of the answer, codes accepted)
            ('[2,"m1"]', "m1", {"FormationViolation", "ProtocolError"}),
            ('[2,"m2","SetChargingProfile"]', "m2", {"FormationViolation", "ProtocolError"}),
            ('[2,"m3","SetChargingProfile",[]]', "m3", {"FormationViolation", "ProtocolError",
                                                        "TypeConstraintViolation"}),
            ('[2,"m4","SetChargingProfile",{}]', "m4", {"OccurenceConstraintViolation"}),
            ('[2,"m5","SetChargingProfile",{"connectorId":1,"csChargingProfiles":{}}]', "m5",
             {"OccurenceConstraintViolation"}),
            ('[2,"m6","SetChargingProfile",{"connectorId":"one","csChargingProfiles":'
             '{"chargingProfileId":1,"stackLevel":0,"chargingProfilePurpose":"TxDefaultProfile",'
             '"chargingProfileKind":"Relative","chargingSchedule":{"chargingRateUnit":"W",'
             '"chargingSchedulePeriod":[{"startPeriod":0,"limit":7000}]}}}]', "m6",
             {"TypeConstraintViolation"}),
            ('[2,"m7","RemoteStartTransaction",{}]', "m7", {"OccurenceConstraintViolation"}),
            ('[2,"m8","RemoteStopTransaction",{"transactionId":"x"}]', "m8",
             {"TypeConstraintViolation"}),
            ('[2,9,"Reset",{"type":"Soft"}]', "-1", {"FormationViolation", "ProtocolError",
                                                     "TypeConstraintViolation"}),
            ('[2,"m10",5,{}]', "m10", {"FormationViolation", "ProtocolError",
                                        "TypeConstraintViolation"}),
        ]
        for frame, message_id, codes in cases:
            peer.send(frame)
            answer = peer.answer_calls_until(lambda m: m[0] in (3, 4))
            if answer[0] != 4 or answer[1] != message_id or answer[2] not in codes:
                fail("%s was answered %r; wanted a CALLERROR %s with one of %s" %
                     (frame, answer, message_id, sorted(codes)))
            if process.poll() is not None:
                fail("charger-sim ended (status %s) after %s" % (process.returncode, frame))

        # Still a working charger: a valid call is carried out.
        peer.send('[2,"ok","ChangeAvailability",{"connectorId":0,"type":"Operative"}]')
        answer = peer.answer_calls_until(lambda m: m[0] in (3, 4))
        if answer != [3, "ok", {"status": "Accepted"}]:
            fail("a valid ChangeAvailability was answered %r" % (answer,))
        peer.send('[2,"ok2","SetChargingProfile",{"connectorId":1,"csChargingProfiles":'
                  '{"chargingProfileId":1,"stackLevel":0,"chargingProfilePurpose":'
                  '"TxDefaultProfile","chargingProfileKind":"Relative","chargingSchedule":'
                  '{"chargingRateUnit":"W","chargingSchedulePeriod":'
                  '[{"startPeriod":0,"limit":7000}]}}}]')
        answer = peer.answer_calls_until(lambda m: m[0] in (3, 4))
        if answer != [3, "ok2", {"status": "Accepted"}]:
            fail("a valid SetChargingProfile was answered %r" % (answer,))
        # Valid too, though it leaves no limit to read: a schedule without
        # periods (the schema sets no minimum). It used to crash charger-sim.
        peer.send('[2,"ok3","SetChargingProfile",{"connectorId":1,"csChargingProfiles":'
                  '{"chargingProfileId":1,"stackLevel":0,"chargingProfilePurpose":'
                  '"TxDefaultProfile","chargingProfileKind":"Relative","chargingSchedule":'
                  '{"chargingRateUnit":"W","chargingSchedulePeriod":[]}}}]')
        answer = peer.answer_calls_until(lambda m: m[0] in (3, 4))
        if answer != [3, "ok3", {"status": "Accepted"}]:
            fail("a SetChargingProfile without periods was answered %r" % (answer,))
        if process.poll() is not None:
            fail("charger-sim ended (status %s) after a schedule without periods" %
                 process.returncode)

        # An answer that breaks its schema (a Heartbeat without currentTime)
        # is reported, not read; the charger goes on with its next call.
        beat = peer.read_message()
        while beat[0] != 2 or beat[2] != "Heartbeat":
            beat = peer.read_message()
        peer.send(json.dumps([3, beat[1], {}]))
        peer.answer_calls_until(lambda m: m[0] == 2 and m[2] == "Heartbeat")
        deadline = time.monotonic() + TIMEOUT
        while b"invalid answer: " not in open("/proc/self/fd/%d" % LOG.fileno(), "rb").read():
            if time.monotonic() > deadline:
                fail("the Heartbeat answer without currentTime was not reported")
            time.sleep(0.05)
        if process.poll() is not None:
            fail("charger-sim ended (status %s)" % process.returncode)
        print("ok: %d malformed calls answered, charger-sim still running" % len(cases))
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
