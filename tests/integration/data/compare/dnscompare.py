#!/usr/bin/env python3
"""dnscompare: the query list and the verdict of compare_nsd.sh.

  dnscompare.py queries ORIGIN=ZONEFILE...   > queries.txt
      Every owner name of the zones and every empty non-terminal above one,
      times the full type list; a nonexistent child of each of those names
      and a few hand-picked names (other case, outside every zone) times a
      short list. One "name type" per line, for dig -f.

  dnscompare.py compare QUERIES NSD_OUT MERIDIAN_OUT [NSD_REF_OUT...]
      Reads two dig batch outputs (+noall +comments +question +answer
      +authority +additional) and compares each reply. Exit 0 when every
      reply agrees (under the rules below), 1 otherwise, listing each
      difference with both replies.

Rules (the documented differences are the only exceptions):
  - rcode, the AA and TC flags, and the answer and authority sections must
    be equal: records compared as sets, owner names case-insensitively,
    TTLs and RDATA exactly (as dig prints them).
  - Additional, referrals (AA clear, NOERROR, NS in authority, empty
    answer): must be equal (the glue).
  - Additional, other replies: NSD runs with minimal-responses and adds
    little; meridiand adds A/AAAA of in-zone NS, MX and SRV targets. So
    NSD's additional must be a subset of meridiand's, and each record only
    meridiand adds must be an A or AAAA whose owner is the target of an NS,
    MX or SRV record in the answer or authority section.  [difference A1]
  - ANY (RFC 8482): both may answer with one RRset of their choice. Rcode
    and flags must agree; meridiand's answer must be exactly one RRset, and
    equal to that RRset as NSD returns it for a query of that type at that
    name (in this pass or in a reference output); DNAME and CNAME records
    leading to it must be equal; authority must agree when the answer is
    empty.  [difference ANY1]
  - Names in RDATA (CNAME, DNAME, NS, PTR, MX, SRV, SOA) are compared
    without regard to case: NSD lower-cases the labels a DNAME substitutes,
    meridiand keeps the case of the query; both are correct.

With DNSCOMPARE_PEER=knot the reference is Knot DNS (compare_knot.sh), and
one more difference is allowed:
  - K1: Knot does not follow a CNAME (or the CNAME a DNAME synthesizes)
    out of the zone it starts in, also into a zone it serves (into a child
    zone it answers with the parent's referral); meridiand (and NSD) go
    on. Required: Knot's reply is NOERROR with an answer of CNAME/DNAME
    records only and no authority but that referral; meridiand's answer starts
    with exactly those records and goes on at the last CNAME's target
    (records owned by it, or a negative answer there: an SOA alone in the
    authority section).
"""
import collections
import os
import re
import sys

TYPES_FULL = ["A", "AAAA", "NS", "SOA", "MX", "TXT", "CNAME", "SRV", "CAA", "PTR", "NAPTR",
              "SSHFP", "TLSA", "DNAME", "DS", "ANY"]
TYPES_SHORT = ["A", "AAAA", "TXT", "MX", "NS", "CNAME", "DS", "ANY"]


def zone_names(origin, path):
    origin = origin.rstrip(".").lower() + "."
    names = set()
    cur_origin = origin
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line[0] in ";\t " or line.startswith("$TTL"):
                continue
            if line.startswith("$ORIGIN"):
                cur_origin = line.split()[1].lower()
                continue
            owner = line.split()[0].lower()
            if owner == "@":
                owner = cur_origin
            elif not owner.endswith("."):
                owner = owner + "." + cur_origin
            names.add(owner)
    # the empty non-terminals between each owner and the origin
    for name in list(names):
        labels = name.rstrip(".").split(".")
        for i in range(1, len(labels)):
            parent = ".".join(labels[i:]) + "."
            if len(parent) < len(origin) or not parent.endswith(origin):
                break
            names.add(parent)
    return names


def cmd_queries(args):
    names = set()
    origins = []
    for spec in args:
        origin, _, path = spec.partition("=")
        origins.append(origin.rstrip(".").lower() + ".")
        names |= zone_names(origin, path)
    out = []
    for name in sorted(names):
        for t in TYPES_FULL:
            out.append((name, t))
    nx, nx_full = set(), set()
    for name in names:
        if ("*." + name) in names:
            nx_full.add("zz-nx." + name)  # matches a wildcard: ask everything
        else:
            nx.add("zz-nx." + name)
    for name in sorted(nx_full):
        for t in TYPES_FULL:
            out.append((name, t))
    for origin in origins:
        nx.add("nothere." + origin)
        nx.add("a.b.c.nothere." + origin)
    first = origins[0]
    extra = ["HoSt001." + first, "FOO.WILD." + first, "X.Legacy." + first, "Sub01." + first,
             "WWW.Nested." + first, first.upper(),
             "example.", "outside.example.", "www.outside.example.", "com.", ".",
             "x" + first, first.split(".", 1)[1]]
    for name in sorted(nx) + extra:
        for t in TYPES_SHORT:
            out.append((name, t))
    for name, t in out:
        print("%s %s" % (name, t))
    return 0


Reply = collections.namedtuple("Reply", "rcode flags qr question answer authority additional text")


# Types whose RDATA is made of names (and numbers) only: compared without
# regard to case, as DNS compares names. TXT, CAA, NAPTR... stay exact.
NAME_RDATA = {"CNAME", "DNAME", "NS", "PTR", "MX", "SRV", "SOA"}


def norm_record(line):
    f = line.split(None, 4)
    f[0] = f[0].lower()
    if len(f) == 5 and f[3] in NAME_RDATA:
        f[4] = f[4].lower()
    return " ".join(f)


def parse_dig(path):
    """Returns {(qname as asked, qtype): Reply} from a dig batch output."""
    replies = {}
    blocks = re.split(r"^;; Got answer:\n", open(path).read(), flags=re.M)
    for block in blocks[1:]:
        rcode, flags, question, sec = None, set(), None, None
        sections = {"answer": [], "authority": [], "additional": []}
        for line in block.splitlines():
            m = re.match(r";; ->>HEADER<<- opcode: \w+, status: (\w+),", line)
            if m:
                rcode = m.group(1)
                continue
            m = re.match(r";; flags:([^;]*);", line)
            if m:
                flags = set(m.group(1).split())
                continue
            if line.startswith(";; QUESTION SECTION:"):
                sec = "question"
            elif line.startswith(";; ANSWER SECTION:"):
                sec = "answer"
            elif line.startswith(";; AUTHORITY SECTION:"):
                sec = "authority"
            elif line.startswith(";; ADDITIONAL SECTION:"):
                sec = "additional"
            elif not line.strip() or line.startswith(";; "):
                sec = None if not line.strip() else sec
            elif sec == "question" and line.startswith(";"):
                f = line[1:].split()
                question = (f[0], f[-1].upper())
            elif sec in sections and not line.startswith(";"):
                sections[sec].append(norm_record(line))
        if question is None:
            continue
        replies[question] = Reply(rcode, frozenset(flags & {"aa", "tc"}), "qr" in flags, question,
                                  sorted(sections["answer"]), sorted(sections["authority"]),
                                  sorted(sections["additional"]), block.strip())
    return replies


def rrsets(records):
    sets = collections.defaultdict(list)
    for r in records:
        f = r.split(None, 4)
        sets[(f[0], f[3])].append(r)
    return sets


def split_chain(qname, answer):
    """Splits an answer into the DNAME/CNAME records that lead from qname
    to the final name, and the rest."""
    cur = qname.lower()
    chain = [r for r in answer if r.split()[3] == "DNAME" and r.split()[0] != cur]
    for _ in range(32):
        cnames = [r for r in answer if r.split()[3] == "CNAME" and r.split()[0] == cur]
        if not cnames:
            break
        target = cnames[0].split()[4].lower()
        if not any(r.split()[0] == target for r in answer) or cnames[0] in chain:
            break
        chain += cnames
        cur = target
    return sorted(chain), sorted(r for r in answer if r not in chain)


def is_referral(rep):
    return (rep.rcode == "NOERROR" and "aa" not in rep.flags and not rep.answer and
            any(r.split()[3] == "NS" for r in rep.authority))


def additional_ok(nsd, mer):
    """Difference A1: why meridiand's additional section is acceptable, or
    None if it is not."""
    if not set(nsd.additional) <= set(mer.additional):
        return None
    targets = set()
    for r in mer.answer + mer.authority:
        f = r.split()
        if f[3] == "NS":
            targets.add(f[4].lower())
        elif f[3] == "MX":
            targets.add(f[5].lower())
        elif f[3] == "SRV":
            targets.add(f[7].lower())
    for r in set(mer.additional) - set(nsd.additional):
        f = r.split()
        if f[3] not in ("A", "AAAA") or f[0] not in targets:
            return None
    return "A1" if set(mer.additional) != set(nsd.additional) else "same"


PEER = os.environ.get("DNSCOMPARE_PEER", "nsd")


def chain_out_of_zone(peer, mer):
    """Difference K1 (Knot): the peer stopped a chain at a zone boundary
    that meridiand crossed."""
    if peer.rcode != "NOERROR" or not peer.answer or peer.flags != mer.flags:
        return False
    if any(r.split()[3] not in ("CNAME", "DNAME") for r in peer.answer):
        return False
    if mer.rcode not in ("NOERROR", "NXDOMAIN") or not set(peer.answer) <= set(mer.answer):
        return False
    owners = {r.split()[0] for r in peer.answer}
    targets = [r.split()[4].lower() for r in peer.answer
               if r.split()[3] == "CNAME" and r.split()[4].lower() not in owners]
    if len(targets) != 1:
        return False
    # the target below a delegation of the first zone (to a child zone both
    # serve): the peer adds that referral
    if any(r.split()[3] != "NS" or not ("." + targets[0]).endswith("." + r.split()[0])
           for r in peer.authority):
        return False
    rest = set(mer.answer) - set(peer.answer)
    negative = [r for r in mer.authority if r.split()[3] == "SOA"]
    return all(r.split()[0] == targets[0] or r.split()[3] == "CNAME" for r in rest) and (
        any(r.split()[0] == targets[0] for r in rest) or negative == mer.authority != [])


def compare_one(key, nsd, mer, refs):
    """Returns (problems, notes) for one query."""
    problems, notes = [], []
    if PEER == "knot" and chain_out_of_zone(nsd, mer):
        return problems, ["K1"]
    if not mer.qr:
        problems.append("QR clear: meridiand's reply is not a response (the query sent back?)")
    if nsd.rcode != mer.rcode:
        problems.append("rcode: nsd %s, meridiand %s" % (nsd.rcode, mer.rcode))
    if nsd.flags != mer.flags:
        problems.append("flags: nsd [%s], meridiand [%s]" % (" ".join(sorted(nsd.flags)),
                                                             " ".join(sorted(mer.flags))))
    if key[1] == "ANY" and mer.answer:
        # DNAME redirection and CNAMEs on the way are not the ANY answer:
        # compare them exactly, then the final RRset by the ANY rule.
        chain_n, _ = split_chain(key[0], nsd.answer)
        chain_m, final = split_chain(key[0], mer.answer)
        if chain_n != chain_m:
            problems.append("ANY: the DNAME/CNAME records before the answer differ")
        sets = rrsets(final)
        if len(sets) != 1:
            problems.append("ANY: meridiand answered %d RRsets, expected one" % len(sets))
        else:
            (owner, rtype), records = next(iter(sets.items()))
            direct = None
            for ref in refs:  # the first untruncated NSD reply for that type
                rep = ref.get((key[0], rtype)) or ref.get((key[0].lower(), rtype))
                if rep is not None and "tc" not in rep.flags:
                    direct = rep
                    break
            if direct is None:
                problems.append("ANY: no NSD reply to %s %s to check meridiand's RRset against"
                                % (key[0], rtype))
            else:
                want = sorted(r for r in direct.answer
                              if r.split()[0] == owner and r.split()[3] == rtype)
                if sorted(records) != want:
                    problems.append("ANY: meridiand's %s RRset differs from NSD's answer to %s %s"
                                    % (rtype, key[0], rtype))
                elif sorted(mer.answer) != nsd.answer:
                    notes.append("ANY1")
        return problems, notes
    if key[1] == "ANY" and nsd.answer:
        problems.append("ANY: meridiand's answer is empty, NSD's is not")
    if nsd.answer != mer.answer:
        problems.append("answer differs")
    if nsd.authority != mer.authority:
        problems.append("authority differs")
    if key[1] == "ANY":
        return problems, notes
    if is_referral(nsd) or is_referral(mer):
        if nsd.additional != mer.additional:
            problems.append("additional (glue) differs")
    else:
        why = additional_ok(nsd, mer)
        if why is None:
            problems.append("additional differs beyond difference A1")
        elif why != "same":
            notes.append(why)
    return problems, notes


def show(label, rep):
    if rep is None:
        return ["  %s: no reply" % label]
    return ["  %s:" % label] + ["    " + x for x in rep.text.splitlines() if x.strip()]


def cmd_compare(queries_path, nsd_path, mer_path, ref_paths):
    queries = []
    for line in open(queries_path):
        name, qtype = line.split()
        queries.append((name, qtype.upper()))
    nsd_all, mer_all = parse_dig(nsd_path), parse_dig(mer_path)
    refs = [parse_dig(p) for p in ref_paths]
    limit = int(os.environ.get("COMPARE_SHOW", "40"))
    bad, notes = 0, collections.Counter()
    kinds = collections.Counter()
    for key in queries:
        nsd, mer = nsd_all.get(key), mer_all.get(key)
        if nsd is None:
            problems = ["NSD gave no reply"]
            n = []
        elif mer is None:
            problems = ["meridiand gave no reply"]
            n = []
        else:
            problems, n = compare_one(key, nsd, mer, [nsd_all] + refs)
        notes.update(n)
        if problems:
            bad += 1
            for p in problems:
                kinds[p.split(":")[0]] += 1
            if bad <= limit:
                print("DIFF %s %s: %s" % (key[0], key[1], "; ".join(problems)))
                print("\n".join(show(PEER, nsd)))
                print("\n".join(show("meridiand", mer)))
    print("compared %d queries: %d agree, %d differ" % (len(queries), len(queries) - bad, bad))
    if notes:
        print("documented differences seen: " +
              ", ".join("%s x%d" % kv for kv in sorted(notes.items())))
    if bad:
        if bad > limit:
            print("(only the first %d differences shown; COMPARE_SHOW=N shows more)" % limit)
        print("differences by kind: " + ", ".join("%s x%d" % kv for kv in kinds.most_common()))
    return 1 if bad else 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "queries":
        return cmd_queries(argv[2:])
    if len(argv) >= 5 and argv[1] == "compare":
        return cmd_compare(argv[2], argv[3], argv[4], argv[5:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
