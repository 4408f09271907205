#!/usr/bin/env python3
"""backend: a tiny HTTP(S) server for health.sh's checks to probe.

  backend.py [--tls CERT KEY] [--status N] [--hang] ADDR:PORT...
  backend.py pick-port [--prefer PORT] ADDR...

Serves GET /healthz (and any other path) with status N (default 200) and
the body "ok" (or "status N") on every ADDR:PORT given, one thread per
listener. --tls wraps the listeners in TLS with CERT/KEY. --hang accepts
connections and never reads or answers them (a check must time out).

Once every listener is bound it prints "ready ADDR:PORT..." on stdout, so
the caller can wait for that line instead of sleeping; each request is
logged on stderr. SIGTERM (or SIGINT) closes the listeners and exits 0.
A listener that cannot be bound: "backend: cannot bind ADDR:PORT: why" on
stderr and exit 3 (errno EADDRNOTAVAIL) or 2 (anything else).

pick-port prints one TCP port that every ADDR can bind right now: PREFER
when it can, else a random one below the ephemeral range. If some ADDR
cannot be bound at all (not a local address) it prints the reason on
stderr and exits 3, so the test can skip.

Python 3 standard library only; starts in a few tens of milliseconds.
"""
import errno
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def split_addr(text):
    addr, _, port = text.rpartition(":")
    if not addr or not port.isdigit():
        raise SystemExit("backend: bad listener %r (want ADDR:PORT)" % text)
    return addr.strip("[]"), int(port)


def bind_error(where, err):
    sys.stderr.write("backend: cannot bind %s: %s\n" % (where, err.strerror or err))
    sys.stderr.flush()
    os._exit(3 if err.errno == errno.EADDRNOTAVAIL else 2)


# ------------------------------------------------------------ pick-port


def can_bind(addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        return None
    except OSError as e:
        return e
    finally:
        s.close()


def pick_port(args):
    prefer = None
    if len(args) >= 2 and args[0] == "--prefer":
        prefer = int(args[1])
        args = args[2:]
    if not args:
        raise SystemExit("usage: backend.py pick-port [--prefer PORT] ADDR...")
    for addr in args:
        err = can_bind(addr, 0)
        if err is not None:
            bind_error(addr, err)
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    candidates = [prefer] if prefer else []
    candidates += [random.randrange(1024, max(low, 2048)) for _ in range(500)]
    for port in candidates:
        if all(can_bind(a, port) is None for a in args):
            print(port)
            return
    raise SystemExit("backend: no port free on %s" % " ".join(args))


# ------------------------------------------------------------ serving


class Handler(BaseHTTPRequestHandler):
    status = 200
    server_version = "meridian-test-backend"

    def do_GET(self):
        body = b"ok\n" if self.status == 200 else b"status %d\n" % self.status
        self.send_response(self.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        sys.stderr.write("%.3f %s %s\n" % (time.time(), self.server.where, fmt % args))
        sys.stderr.flush()


class Server(ThreadingHTTPServer):
    allow_reuse_address = True  # restarting on the same port must work at once
    request_queue_size = 128  # every check fires at once: 5 drops SYNs
    daemon_threads = True

    def __init__(self, addr, port, tls, status):
        self.address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        self.where = "%s:%d" % (addr, port)
        handler = type("H", (Handler,), {"status": status})
        super().__init__((addr, port), handler, bind_and_activate=False)
        try:
            self.server_bind()
            self.server_activate()
        except OSError as e:
            bind_error(self.where, e)
        self.tls = tls

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, on the connection's own thread, so a
        # client that stalls in it holds up nobody else.
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        conn = self.tls.wrap_socket(request, server_side=True)
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()

    def handle_error(self, request, client_address):
        # A check that gives up on the TLS handshake (verify_tls) is normal.
        err = sys.exc_info()[1]
        sys.stderr.write("%.3f %s from %s: %s\n" % (time.time(), self.where,
                                                     client_address[0], err))
        sys.stderr.flush()


def hang_listener(addr, port):
    """Accepts connections and keeps them open, silent, until exit."""
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, port))
        s.listen(64)
    except OSError as e:
        bind_error("%s:%d" % (addr, port), e)
    held = []

    def run():
        while True:
            try:
                conn, peer = s.accept()
            except OSError:
                return
            held.append(conn)
            sys.stderr.write("%.3f %s:%d accepted %s, not answering\n"
                             % (time.time(), addr, port, peer[0]))
            sys.stderr.flush()

    return run


def main(argv):
    if argv and argv[0] == "pick-port":
        pick_port(argv[1:])
        return 0
    tls = None
    status = 200
    hang = False
    listeners = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--tls" and i + 2 < len(argv):
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(argv[i + 1], argv[i + 2])
            i += 3
            continue
        if a == "--status" and i + 1 < len(argv):
            status = int(argv[i + 1])
            i += 2
            continue
        if a == "--hang":
            hang = True
        elif a.startswith("-"):
            raise SystemExit(__doc__)
        else:
            listeners.append(split_addr(a))
        i += 1
    if not listeners:
        raise SystemExit(__doc__)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())

    runs = []
    for addr, port in listeners:
        if hang:
            runs.append(hang_listener(addr, port))
        else:
            runs.append(Server(addr, port, tls, status).serve_forever)
    for run in runs:
        threading.Thread(target=run, daemon=True).start()
    print("ready " + " ".join("%s:%d" % lp for lp in listeners), flush=True)
    while not done.wait(3600):
        pass
    # Daemon threads die with the process; the kernel closes the sockets.
    sys.stderr.write("%.3f backend: SIGTERM, exiting\n" % time.time())
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
