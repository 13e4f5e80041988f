#!/usr/bin/env python3
"""A msgpack-rpc client written with nothing but Python's `msgpack` package and sockets,
run by the interop tests against a svrkit server (Python -> svrkit). It checks each reply
itself, prints `OK <checks>` and exits 0, or fails with a traceback.

The server must provide: echo_str [s], echo_bin [b], echo_map [{int: str}],
echomsg [[str, [int], {int: str}]], add [a, b], fail [] (error [7, "bad thing"]),
note [x] (a notification handler) and notes [] (how many notes arrived).

  --port N / --unix PATH   where the server listens
  --method-bin             send method names as bin, as pynvim does
  --old-spec               pack with use_bin_type=False (no str8, no bin) and read raw
"""
import argparse
import socket

import msgpack

NO_SUCH_METHOD = -32601
INVALID_PARAMS = -32602


def text(v):
    """Old-spec replies carry strings as raw bytes."""
    if isinstance(v, (bytes, bytearray)):
        return v.decode("utf-8")
    if isinstance(v, list):
        return [text(x) for x in v]
    if isinstance(v, dict):
        return {text(k): text(x) for k, x in v.items()}
    return v


class Peer:
    def __init__(self, sock, old_spec, method_bin):
        self.sock = sock
        self.old_spec = old_spec
        self.method_bin = method_bin
        self.unpacker = msgpack.Unpacker(raw=old_spec, strict_map_key=False)
        self.next_id = 1

    def send(self, msg):
        self.sock.sendall(msgpack.packb(msg, use_bin_type=not self.old_spec))

    def name(self, method):
        return method.encode("utf-8") if self.method_bin else method

    def request(self, method, params, msgid=None):
        if msgid is None:
            msgid = self.next_id
            self.next_id += 1
        self.send([0, msgid, self.name(method), params])
        return msgid

    def notify(self, method, params):
        self.send([2, self.name(method), params])

    def recv(self):
        while True:
            for msg in self.unpacker:
                return msg
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the server closed the connection")
            self.unpacker.feed(data)

    def call(self, method, params):
        msgid = self.request(method, params)
        msg = self.recv()
        assert msg[0] == 1 and msg[1] == msgid, "unexpected reply %r to msgid %d" % (msg, msgid)
        return text(msg[2]), (msg[3] if isinstance(msg[3], bytes) and method == "echo_bin" else text(msg[3]))


def run(peer):
    checks = 0

    def check(got, want, what):
        nonlocal checks
        assert got == want, "%s: got %r, want %r" % (what, got, want)
        checks += 1

    check(peer.call("echo_str", ["h\u00e9llo"]), (None, "h\u00e9llo"), "echo_str")
    check(peer.call("echo_str", ["x" * 40]), (None, "x" * 40), "echo_str 40 bytes")
    check(peer.call("echo_str", ["y" * 70000]), (None, "y" * 70000), "echo_str 70000 bytes")
    if not peer.old_spec:
        check(peer.call("echo_bin", [b"\x00\xff\x80"]), (None, b"\x00\xff\x80"), "echo_bin")
    check(peer.call("echo_map", [{1: "a", -2: "b"}]), (None, {1: "a", -2: "b"}), "int-keyed map")
    msg = ["h\u00e9llo", [1, -2, 5000000000], {7: "seven"}]
    check(peer.call("echomsg", [msg]), (None, msg), "echomsg proto as an array")
    check(peer.call("echomsg", [["only the first field"]]), (None, ["only the first field", [], {}]), "proto missing trailing fields")
    check(peer.call("add", [40, 2]), (None, 42), "add")

    # Errors: [code, "message"], as pynvim reads err[1].
    check(peer.call("fail", []), ([7, "bad thing"], None), "handler error")
    err, result = peer.call("no_such_method", [])
    check((err[0], "no_such_method" in err[1], result), (NO_SUCH_METHOD, True, None), "unknown method")
    err, _ = peer.call("add", [1])
    check(err[0], INVALID_PARAMS, "wrong arity")
    # Params that are not an array: an error reply, and the connection stays usable.
    msgid = peer.next_id
    peer.next_id += 1
    peer.send([0, msgid, peer.name("add"), 5])
    reply = peer.recv()
    check((reply[0], reply[1], reply[2] is not None), (1, msgid, True), "params not an array")
    check(peer.call("add", [1, 1]), (None, 2), "connection kept after a bad request")

    # The whole u32 msgid range.
    peer.request("add", [2, 3], msgid=0xFFFFFFFF)
    reply = peer.recv()
    check((reply[1], reply[3]), (0xFFFFFFFF, 5), "msgid 0xFFFFFFFF")

    # Notifications, then a call on the same connection sees them all.
    for i in range(3):
        peer.notify("note", [i])
    check(peer.call("notes", []), (None, 3), "notifications")

    # Pipelining: 200 requests in one write, replies matched by msgid in any order.
    data = b"".join(
        msgpack.packb([0, 1000 + i, peer.name("add"), [i, i]], use_bin_type=not peer.old_spec) for i in range(200)
    )
    peer.sock.sendall(data)
    got = {}
    for _ in range(200):
        reply = peer.recv()
        got[reply[1]] = reply[3]
    check(got, {1000 + i: 2 * i for i in range(200)}, "200 pipelined calls")
    return checks


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int)
    p.add_argument("--unix")
    p.add_argument("--method-bin", action="store_true")
    p.add_argument("--old-spec", action="store_true")
    args = p.parse_args()
    if args.unix:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(args.unix)
    else:
        sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    checks = run(Peer(sock, args.old_spec, args.method_bin))
    sock.close()
    print("OK %d" % checks, flush=True)


if __name__ == "__main__":
    main()
