#!/usr/bin/env python3
"""dnswire: hand-built DNS packets for the integration tests.

dig cannot send a packet with two OPT records, QDCOUNT 0 or 2, QR=1 or
fewer than 12 bytes, and it hides how names were compressed. This helper
builds such packets, sends them over UDP or TCP and prints the reply in a
line-per-fact form that the shell tests grep:

  dnswire.py ask --port P [--tcp] [--id N] [--qr] [--opcode N] [--rd]
                 [--q NAME[/TYPE[/CLASS]]]... [--noq] [--opt SPEC]...
                 [--truncate N] [--hex HEX] [--timeout S]

--q may be repeated (QDCOUNT = number of --q, 0 with --noq). --opt adds one
OPT record: SPEC is comma separated udp=N, version=N, do, nsid (repeat
--opt for two OPTs). --truncate sends only the first N bytes. --hex sends
the given bytes instead of building a packet.

Output: "sent N bytes", then "reply none" or:
  reply id=.. qr=.. opcode=.. aa=.. tc=.. rd=.. ra=.. rcode=NAME qd=.. an=.. ns=.. ar=.. size=..
  question NAME TYPE CLASS
  answer|authority|additional OWNER TTL CLASS TYPE RDATA owner_compressed=yes|no|na
      rdata_names_compressed=yes|no|na   (na: nothing earlier to point to, or
      a type whose RDATA names must not be compressed)
  opt udp=.. version=.. do=.. extended_rcode=.. nsid=HEX|none
The rcode NAME includes the OPT's extended bits (BADVERS is 16).
Test tooling only: no escapes in names, little validation.
"""
import argparse
import socket
import struct
import sys

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "HINFO": 13, "MX": 15,
         "TXT": 16, "AAAA": 28, "SRV": 33, "NAPTR": 35, "DNAME": 39, "OPT": 41,
         "DS": 43, "SSHFP": 44, "TLSA": 52, "CAA": 257, "ANY": 255, "AXFR": 252,
         "IXFR": 251}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
CLASSES = {"IN": 1, "CH": 3, "CHAOS": 3, "HS": 4, "NONE": 254, "ANY": 255}
CLASS_NAMES = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
          5: "REFUSED", 9: "NOTAUTH", 16: "BADVERS", 23: "BADCOOKIE"}
# types whose RDATA names may be compressed (RFC 1035 / RFC 3597)
COMPRESSIBLE = {2, 5, 6, 12, 15}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def build(args):
    flags = (args.opcode & 0xF) << 11
    if args.qr:
        flags |= 0x8000
    if args.rd:
        flags |= 0x0100
    questions = [] if args.noq else (args.q or ["example.com/SOA"])
    body = b""
    for q in questions:
        parts = q.split("/")
        qtype = TYPES.get(parts[1].upper(), None) if len(parts) > 1 else 1
        if qtype is None:
            qtype = int(parts[1].upper().lstrip("TYPE"))
        qclass = CLASSES[parts[2].upper()] if len(parts) > 2 else 1
        body += encode_name(parts[0]) + struct.pack("!HH", qtype, qclass)
    opts = args.opt or []
    for spec in opts:
        udp, version, do, rdata = 1232, 0, 0, b""
        for item in filter(None, spec.split(",")):
            key, _, value = item.partition("=")
            if key == "udp":
                udp = int(value)
            elif key == "version":
                version = int(value)
            elif key == "do":
                do = 1
            elif key == "nsid":
                rdata += struct.pack("!HH", 3, 0)
            else:
                raise SystemExit("unknown --opt item " + item)
        body += b"\0" + struct.pack("!HHBBHH", 41, udp, 0, version, do << 15, len(rdata)) + rdata
    header = struct.pack("!HHHHHH", args.id, flags, len(questions), 0, 0, len(opts))
    return header + body


def read_name(msg, off, seen=None):
    """Returns (name, offset after the name in place, compressed).

    compressed is True/False, or None when no suffix of the name (other
    than the root) occurred earlier in the message, so that it could not
    have been compressed. seen collects the suffixes met so far."""
    labels, jumped, end, hops = [], False, None, 0
    while True:
        if off >= len(msg):
            raise ValueError("name runs past the end")
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumped = True
            hops += 1
            if hops > 64:
                raise ValueError("compression loop")
            continue
        if n == 0:
            off += 1
            break
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    name = ".".join(labels) + "."
    if seen is not None:
        suffixes = [".".join(labels[i:]).lower() for i in range(len(labels))]
        if not jumped and not any(x in seen for x in suffixes):
            jumped = None
        seen.update(suffixes)
    return name, (end if end is not None else off), jumped


def yes_no(compressed):
    return "na" if compressed is None else ("yes" if compressed else "no")


def rdata_text(msg, rtype, off, rdlen, seen):
    """Presentation text of the RDATA and whether its names were compressed."""
    end = off + rdlen
    rd = msg[off:end]
    if rtype == 1 and rdlen == 4:
        return socket.inet_ntop(socket.AF_INET, rd), "na"
    if rtype == 28 and rdlen == 16:
        return socket.inet_ntop(socket.AF_INET6, rd), "na"
    if rtype in (2, 5, 12, 39):
        name, _, comp = read_name(msg, off, seen if rtype in COMPRESSIBLE else None)
        return name, yes_no(comp) if rtype in COMPRESSIBLE else "na"
    if rtype == 15:
        name, _, comp = read_name(msg, off + 2, seen)
        return "%d %s" % (struct.unpack("!H", rd[:2])[0], name), yes_no(comp)
    if rtype == 6:
        mname, o, c1 = read_name(msg, off, seen)
        rname, o, c2 = read_name(msg, o, seen)
        nums = struct.unpack("!IIIII", msg[o:o + 20])
        both = "no" if (c1 is False or c2 is False) else ("na" if c1 is None and c2 is None else "yes")
        return "%s %s %s" % (mname, rname, " ".join(map(str, nums))), both
    if rtype == 16:
        parts, i = [], 0
        while i < len(rd):
            n = rd[i]
            parts.append('"%s"' % rd[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        return " ".join(parts), "na"
    return "\\# %d %s" % (rdlen, rd.hex()), "na"


def parse(msg):
    out = []
    if len(msg) < 12:
        return ["reply short %d bytes: %s" % (len(msg), msg.hex())]
    ident, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    rcode = flags & 0xF
    off = 12
    questions = []
    seen = set()
    for _ in range(qd):
        name, off, _ = read_name(msg, off, seen)
        qtype, qclass = struct.unpack("!HH", msg[off:off + 4])
        off += 4
        questions.append("question %s %s %s" % (name, TYPE_NAMES.get(qtype, "TYPE%d" % qtype),
                                                CLASS_NAMES.get(qclass, "CLASS%d" % qclass)))
    records, opt_lines = [], []
    for section, count in (("answer", an), ("authority", ns), ("additional", ar)):
        for _ in range(count):
            owner, off2, owner_comp = read_name(msg, off, seen)
            rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", msg[off2:off2 + 10])
            rdoff = off2 + 10
            if rtype == 41:
                ercode = (ttl >> 24) & 0xFF
                rcode |= ercode << 4
                nsid = "none"
                i = rdoff
                while i + 4 <= rdoff + rdlen:
                    code, olen = struct.unpack("!HH", msg[i:i + 4])
                    if code == 3:
                        nsid = msg[i + 4:i + 4 + olen].hex()
                    i += 4 + olen
                opt_lines.append("opt owner=%s udp=%d version=%d do=%d extended_rcode=%d nsid=%s"
                                 % (owner, rclass, (ttl >> 16) & 0xFF, (ttl >> 15) & 1,
                                    ercode, nsid))
            else:
                text, rcomp = rdata_text(msg, rtype, rdoff, rdlen, seen)
                records.append("%s %s %d %s %s %s owner_compressed=%s rdata_names_compressed=%s"
                               % (section, owner, ttl, CLASS_NAMES.get(rclass, "CLASS%d" % rclass),
                                  TYPE_NAMES.get(rtype, "TYPE%d" % rtype), text,
                                  yes_no(owner_comp), rcomp))
            off = rdoff + rdlen
    out.append("reply id=%d qr=%d opcode=%d aa=%d tc=%d rd=%d ra=%d rcode=%s qd=%d an=%d ns=%d "
               "ar=%d size=%d" % (ident, flags >> 15, (flags >> 11) & 0xF, (flags >> 10) & 1,
                                  (flags >> 9) & 1, (flags >> 8) & 1, (flags >> 7) & 1,
                                  RCODES.get(rcode, str(rcode)), qd, an, ns, ar, len(msg)))
    return out + questions + records + opt_lines


def send(packet, port, tcp, timeout):
    if tcp:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(packet)) + packet)
            try:
                head = s.recv(2, socket.MSG_WAITALL)
                if len(head) < 2:
                    return None
                return s.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
            except socket.timeout:
                return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.send(packet)
        try:
            return s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            return None


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("ask")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--tcp", action="store_true")
    a.add_argument("--timeout", type=float, default=1.0)
    a.add_argument("--id", type=int, default=0x4D52)
    a.add_argument("--qr", action="store_true")
    a.add_argument("--rd", action="store_true")
    a.add_argument("--opcode", type=int, default=0)
    a.add_argument("--q", action="append")
    a.add_argument("--noq", action="store_true")
    a.add_argument("--opt", action="append")
    a.add_argument("--truncate", type=int)
    a.add_argument("--hex")
    args = p.parse_args()

    packet = bytes.fromhex(args.hex) if args.hex else build(args)
    if args.truncate is not None:
        packet = packet[:args.truncate]
    print("sent %d bytes: %s" % (len(packet), packet.hex()))
    reply = send(packet, args.port, args.tcp, args.timeout)
    if reply is None:
        print("reply none")
        return 0
    try:
        print("\n".join(parse(reply)))
    except (ValueError, struct.error, IndexError) as e:
        print("reply unparsable (%s): %s" % (e, reply.hex()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
