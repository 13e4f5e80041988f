#!/usr/bin/env python3
"""A msgpack-rpc server written with nothing but Python's `msgpack` package and sockets:
a peer no svrkit code is shared with, for the interop tests (svrkit client -> Python).

Prints `LISTENING <port-or-path>` once it accepts connections; exits when its stdin
closes, so it never outlives the test that started it.

  --port N       listen on 127.0.0.1:N (0 = any free port)
  --unix PATH    listen on a Unix socket instead
  --old-spec     speak the pre-2013 msgpack spec: pack with use_bin_type=False (strings
                 as raw, never str8; bytes as raw too) and unpack raw bytes
"""
import argparse
import os
import socket
import sys
import threading
import time

import msgpack

NO_SUCH_METHOD = -32601
notes_lock = threading.Lock()
notes = []


def describe(v):
    """The msgpack type of a received value, recursively: how the peer encoded it."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, (bytes, bytearray)):
        return "bin"
    if v is None:
        return "nil"
    if isinstance(v, (list, tuple)):
        return "list[" + ",".join(describe(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map{" + ",".join(describe(k) + ":" + describe(x) for k, x in v.items()) + "}"
    return type(v).__name__


def text(v):
    return v.decode("utf-8") if isinstance(v, (bytes, bytearray)) else v


def handle(method, params):
    """Returns (error, result)."""
    if method == "echo":
        return None, params[0]
    if method == "kinds":
        return None, [describe(p) for p in params]
    if method == "sample":
        return None, {
            "s": "h\u00e9llo",
            "b": b"\x00\xff",
            "m": {1: "one", -2: "minus two"},
            "i": -5000000000,
            "u": 2**64 - 1,
            "f": 1.5,
            "t": True,
            "n": None,
            "l": [1, "two", 3.0],
        }
    if method == "long_str":
        return None, "x" * params[0]
    if method == "add":
        return None, params[0] + params[1]
    if method == "fail_list":
        return [7, "bad thing"], None
    if method == "fail_str":
        return "plain failure", None
    if method == "fail_map":
        return {"code": 9, "message": "mapped failure"}, None
    if method == "notes":
        with notes_lock:
            return None, [[n[0], n[1]] for n in notes]
    return [NO_SUCH_METHOD, "no such method: " + str(method)], None


def serve(conn, old_spec):
    unpacker = msgpack.Unpacker(raw=old_spec, strict_map_key=False)
    lock = threading.Lock()

    def send(msg):
        data = msgpack.packb(msg, use_bin_type=not old_spec)
        with lock:
            conn.sendall(data)

    def sleep_then(msgid, ms, value):
        time.sleep(ms / 1000.0)
        send([1, msgid, None, value])

    try:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            unpacker.feed(data)
            for msg in unpacker:
                if msg[0] == 0:
                    _, msgid, method, params = msg
                    method = text(method)
                    if method == "sleep":
                        threading.Thread(target=sleep_then, args=(msgid, params[0], params[1]), daemon=True).start()
                        continue
                    error, result = handle(method, params)
                    send([1, msgid, error, result])
                elif msg[0] == 2:
                    _, method, params = msg
                    with notes_lock:
                        notes.append((text(method), params))
    except (ConnectionError, OSError):
        return
    finally:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--unix")
    p.add_argument("--old-spec", action="store_true")
    args = p.parse_args()
    if args.unix:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        sock.bind(args.unix)
        where = args.unix
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", args.port))
        where = str(sock.getsockname()[1])
    sock.listen(128)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print("LISTENING " + where, flush=True)
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve, args=(conn, args.old_spec), daemon=True).start()


if __name__ == "__main__":
    main()
