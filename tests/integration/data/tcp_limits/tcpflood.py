#!/usr/bin/env python3
"""tcpflood: many DNS-over-TCP connections from one source, for tcp_limits.sh.

  tcpflood.py hold PORT SOURCE N NAME [SECONDS]
      Opens N connections from SOURCE one after another; on each asks NAME/A
      once and waits up to 2 s for the answer. Prints "served S refused R"
      (refused: closed or reset by the server before an answer), then keeps
      the served ones open for SECONDS (default 60) or until killed.

  tcpflood.py flood PORT SOURCE N NAME/TYPE K CHECK...
      Opens N connections from SOURCE; on each writes K queries for NAME/TYPE
      at once and never reads. Prints "sent N" once written, then at each
      CHECK (seconds after that) prints "at T: open O reset R" (reset: the
      server reset or closed the connection, as the kernel's TCP state says:
      nothing is read).
Exit status 0, or 2 on a usage or setup error.
"""
import socket
import struct
import sys
import time

TYPES = {"A": 1, "TXT": 16, "SOA": 6}


def query(name, qtype, qid):
    wire = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        wire += bytes([len(label)]) + label.encode()
    wire += b"\0" + struct.pack(">HH", TYPES[qtype], 1)
    return struct.pack(">H", len(wire)) + wire


def connect(port, source):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def answered(s):
    """True when a whole answer arrives within 2 s; False on EOF or reset."""
    s.settimeout(2)
    got = b""
    try:
        while len(got) < 2 or len(got) < 2 + struct.unpack(">H", got[:2])[0]:
            chunk = s.recv(65537)
            if not chunk:
                return False
            got += chunk
    except (ConnectionResetError, socket.timeout):
        return False
    return True


def hold(port, source, n, name, seconds=60.0):
    served, refused, keep = 0, 0, []
    for i in range(n):
        s = connect(port, source)
        try:
            s.sendall(query(name, "A", i & 0xFFFF))
        except (BrokenPipeError, ConnectionResetError):
            refused += 1
            s.close()
            continue
        if answered(s):
            served += 1
            keep.append(s)
        else:
            refused += 1
            s.close()
    print(f"served {served} refused {refused}", flush=True)
    time.sleep(seconds)


def state(s):
    """'open' while the connection is established, else 'reset' (the server
    reset or closed it), read from the kernel without consuming anything."""
    tcpi_state = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    return "open" if tcpi_state == 1 else "reset"  # 1: TCP_ESTABLISHED


def flood(port, source, n, what, k, checks):
    name, qtype = what.split("/")
    socks = []
    for i in range(n):
        s = connect(port, source)
        s.setblocking(False)
        socks.append((s, b"".join(query(name, qtype, (i * k + j) & 0xFFFF) for j in range(k))))
    # Write everything without ever reading: a server that stops reading
    # leaves the rest in our send buffer, which is what the test wants.
    deadline = time.monotonic() + 5
    pending = list(socks)
    while pending and time.monotonic() < deadline:
        left = []
        for s, data in pending:
            try:
                sent = s.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                continue
            if sent < len(data):
                left.append((s, data[sent:]))
        pending = left
        if pending:
            time.sleep(0.01)
    print(f"sent {n}", flush=True)
    start = time.monotonic()
    for t in checks:
        time.sleep(max(0.0, start + t - time.monotonic()))
        states = [state(s) for s, _ in socks]
        print(f"at {t:g}: open {states.count('open')} reset {states.count('reset')}", flush=True)


def main(argv):
    try:
        if argv[1] == "hold" and len(argv) in (6, 7):
            hold(int(argv[2]), argv[3], int(argv[4]), argv[5],
                 float(argv[6]) if len(argv) == 7 else 60.0)
        elif argv[1] == "flood" and len(argv) >= 8:
            flood(int(argv[2]), argv[3], int(argv[4]), argv[5], int(argv[6]),
                  [float(t) for t in argv[7:]])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except OSError as e:
        print(f"tcpflood: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
