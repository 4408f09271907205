#!/usr/bin/env bash
# ctl.sh: meridianctl against a running meridiand, over server.control.
#
# Covers: status (text and --json, which must parse); reload with a new
# zone record (dig sees it) and with a broken zone (exit 1, file:line
# shown, the old data still served); drain and undrain (dig shows the
# other data center, then the first again); force up/down/auto; explain
# against the live health; status columns stay aligned whatever their
# content ("down, forced"); errors: unknown data center, unknown and bad
# addresses (exit 1); the command line (usage, help, unknown command,
# wrong argument count, bad options: exit 2, before any config is read;
# -j before or after the command); a missing socket (exit 3, naming the
# path); a daemon that never answers (exit 4); -c CONFIG finds the socket;
# a second daemon on the same socket refuses to start; the socket is 0660
# and removed when the daemon stops.
#
# Data: data/ctl/ (meridian.yaml, example.com.zone), copied to $WORKDIR.
. "$(dirname "$0")/lib.sh"
: "${MERIDIANCTL:=$top_builddir/meridianctl}"
[ -x "$MERIDIANCTL" ] || hard_error "no meridianctl at $MERIDIANCTL (build it first)"
require_cmd dig

DIR="$WORKDIR/ctl"
mkdir -p "$DIR"
cp "$DATA/ctl/meridian.yaml" "$DATA/ctl/example.com.zone" "$DIR/"
CONF="$DIR/meridian.yaml"
SOCK="$DIR/ctl.sock"
start_meridiand "$CONF"

# ctl ARGS...: runs meridianctl -s $SOCK (bounded to 10 s); R_RC, R_OUT
# (stdout and stderr together), R_STDOUT.
ctl() {
    ctl_raw -s "$SOCK" "$@"
}

# ctl_raw ARGS...: the same without -s.
ctl_raw() {
    R_CMD="meridianctl $*"
    R_RC=0
    R_STDOUT=$(timeout 10 "$MERIDIANCTL" "$@" 2>"$WORKDIR/ctl.err") || R_RC=$?
    R_STDERR=$(cat "$WORKDIR/ctl.err")
    R_OUT=$(printf '%s\n%s' "$R_STDOUT" "$R_STDERR")
}

# aligned TABLE: every row of the status table under the line "TABLE:"
# has its cells where the header has its column: left-aligned cells start
# with their header word, right-aligned ones end with it.
aligned() {
    "$PYTHON" - "$1" "$R_STDOUT" <<'PY'
import re, sys
title, text = sys.argv[1], sys.argv[2].split("\n")
i = text.index(title + ":") + 1
cols = [(m.start(), m.end()) for m in re.finditer(r"\S+(?: \S+)*", text[i])]
bad = []
for row in text[i + 1:]:
    if not row.strip():
        break
    cells = [(m.start(), m.end()) for m in re.finditer(r"\S+(?: \S+)*", row)]
    ok = len(cells) == len(cols)
    for (hs, he), (cs, ce) in zip(cols, cells):
        ok = ok and (cs == hs or ce == he)
    if not ok:
        bad.append(row)
if bad:
    print("header: " + text[i])
    print("\n".join("row:    " + r for r in bad))
    sys.exit(1)
PY
}

expect_aligned() { # TABLE
    local why
    if why=$(aligned "$1"); then
        pass "$R_CMD: the $1 columns are aligned"
    else
        local -a show
        mapfile -t show <<<"$why"
        fail "$R_CMD: the $1 columns are aligned" "${show[@]}"
    fi
}

# answer NAME TYPE: the answer's addresses, sorted, space separated.
answer() {
    q "$1" "$2"
    awk '{print $5}' "$Q_DIR/answer" | sort | tr '\n' ' ' | sed 's/ $//'
}

expect_answer() { # NAME TYPE WANT DESCRIPTION
    local got
    got=$(answer "$1" "$2")
    if [ "$got" = "$3" ]; then
        pass "$4: $1 $2 -> $got"
    else
        fail "$4: $1 $2" "expected: $3" "got:      $got"
    fi
}

# ---- the socket itself
mode=$(stat -c %a "$SOCK" 2>/dev/null || echo missing)
if [ "$mode" = 660 ]; then pass "socket mode 0660"; else fail "socket mode" "got: $mode"; fi

# ---- status
ctl status
expect_rc 0
expect_output '^meridiand [0-9.]+' "version line"
expect_output "listeners: 127\.0\.0\.1:$PORT" "listener"
expect_output 'example\.com\. +2026120101' "zone and serial"
expect_output '^  eu-west +2 +2 +0' "data center eu-west"
expect_output '192\.0\.2\.10 +eu-west +- +unknown +auto' "target line"
expect_aligned zones
expect_aligned "data centers"
expect_aligned services
expect_aligned "health targets"

ctl status --json
expect_rc 0
if "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); assert d["zones"][0]["serial"]==2026120101; assert len(d["targets"])==3' <<<"$R_STDOUT"; then
    pass "status --json parses and holds zones and targets"
else
    fail "status --json" "$R_STDOUT"
fi

# -c CONFIG finds the socket through server.control
R_CMD="meridianctl -c meridian.yaml status"
R_RC=0
R_OUT=$(timeout 10 "$MERIDIANCTL" -c "$CONF" status 2>&1) || R_RC=$?
expect_rc 0
expect_output 'example\.com\.' "status through -c"

# ---- stats: counted queries, by transport, rcode and type; per service
ctl stats --json
expect_rc 0
printf '%s\n' "$R_STDOUT" >"$WORKDIR/stats0.json"
# Exactly these queries between the two snapshots (dig +tries=1: one each).
for _ in 1 2 3; do q www.example.com A >/dev/null; done
q nothere.example.com A >/dev/null
q www.example.com AAAA +tcp >/dev/null 2>&1 || true
ctl stats --json
printf '%s\n' "$R_STDOUT" >"$WORKDIR/stats.json"
if "$PYTHON" - "$WORKDIR/stats0.json" "$WORKDIR/stats.json" <<'PY'; then
import json, sys
with open(sys.argv[1]) as f:
    d0 = json.load(f)
with open(sys.argv[2]) as f:
    d = json.load(f)
def delta(*path):
    a, b = d0, d
    for k in path:
        a = a.get(k, 0) if isinstance(a, dict) else 0
        b = b.get(k, 0) if isinstance(b, dict) else 0
    return b - a
def svc(doc):
    return {s["name"]: s for s in doc["services"]}
got = {
    "udp queries": delta("udp", "queries"),
    "udp NOERROR": delta("udp", "rcodes", "NOERROR"),
    "udp NXDOMAIN": delta("udp", "rcodes", "NXDOMAIN"),
    "udp A": delta("udp", "types", "A"),
    "tcp queries": delta("tcp", "queries"),
    "tcp NOERROR": delta("tcp", "rcodes", "NOERROR"),
    "tcp AAAA": delta("tcp", "types", "AAAA"),
    "www answers eu-west": svc(d)["www.example.com."]["answers"].get("eu-west", 0)
    - svc(d0)["www.example.com."]["answers"].get("eu-west", 0),
}
want = {"udp queries": 4, "udp NOERROR": 3, "udp NXDOMAIN": 1, "udp A": 4,
        "tcp queries": 1, "tcp NOERROR": 1, "tcp AAAA": 1, "www answers eu-west": 4}
if got != want:
    print("expected:", want)
    print("got:     ", got)
    sys.exit(1)
PY
    pass "stats count queries by transport, rcode and type, and answers per data center"
else
    fail "stats --json: exactly the queries asked are counted" "$R_STDOUT"
fi
ctl stats
expect_rc 0
expect_output '^udp: [0-9]+ queries' "stats as text"

# ---- drain, undrain, force
expect_answer www.example.com A "192.0.2.10" "before drain"
ctl drain eu-west
expect_rc 0
expect_output 'eu-west: down' "drain says so"
expect_answer www.example.com A "198.51.100.10" "drained eu-west"
ctl status
expect_output '192\.0\.2\.10 +eu-west +- +down +down' "status shows the drain"
expect_output '^  eu-west +2 +0 +2 +down, forced +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +override: datacenter eu-west forced down' \
    "the data center's state, since when and why"
expect_aligned "data centers"
expect_aligned "health targets"
ctl explain www.example.com 192.0.2.1/24
expect_rc 0
expect_output '^answer: +us-east: 198\.51\.100\.10' "explain sees live health"
expect_output '^client: +192\.0\.2\.0/24' "explain cuts the client to its prefix"
ctl undrain eu-west
expect_rc 0
expect_answer www.example.com A "192.0.2.10" "undrained eu-west"
if grep -q 'datacenter eu-west' "$DIR/ctl.state" 2>/dev/null; then
    fail "undrain clears the state file" "$(cat "$DIR/ctl.state")"
else
    pass "undrain clears the state file"
fi

ctl force 192.0.2.10 down
expect_rc 0
# eu-west stays up through its IPv6 address (min_up 1): no A is served
expect_answer www.example.com A "" "forced 192.0.2.10 down"
expect_answer www.example.com AAAA "2001:db8::10" "forced 192.0.2.10 down"
ctl force 192.0.2.10 auto
expect_rc 0
expect_answer www.example.com A "192.0.2.10" "released 192.0.2.10"

# ---- errors
ctl drain nowhere
expect_rc 1
expect_output 'no data center nowhere' "unknown data center"
ctl force 203.0.113.99 down
expect_rc 1
expect_output 'no address 203\.0\.113\.99' "unknown address"
ctl force not-an-address down
expect_rc 1
expect_output 'not a valid' "bad address"
ctl force 192.0.2.10 sideways
expect_rc 1
expect_output 'expected up, down or auto' "bad state"
ctl explain www.example.com 192.0.2.1/33
expect_rc 1
expect_output 'not an address or address/prefix' "bad explain address"
ctl explain static.example.com 192.0.2.1
expect_rc 1
expect_output 'is not a service' "explain of a static name"

# ---- the command line: checked before any config is read or socket
# opened, so none of these needs either (the config named does not exist)
NOCONF="$DIR/no-such.yaml"
ctl_raw -c "$NOCONF" help
expect_rc 0
expect_output '^Usage: meridianctl ' "help prints the usage"
[ -z "$R_STDERR" ] && pass "help: nothing on stderr" || fail "help: stderr" "got: $R_STDERR"
ctl_raw --help
expect_rc 0
expect_output '^  explain NAME ADDRESS\[/PREFIX\] ' "--help lists the commands"
ctl_raw -c "$NOCONF"
expect_rc 2
expect_output 'no command given' "no command"
expect_output '^Usage: meridianctl ' "no command: usage"
ctl_raw -c "$NOCONF" frobnicate
expect_rc 2
expect_output "unknown command 'frobnicate'" "unknown command"
for cmd in "drain" "undrain" "force 192.0.2.10" "explain www.example.com"; do
    # shellcheck disable=SC2086
    ctl_raw -c "$NOCONF" $cmd
    expect_rc 2
    expect_output "^meridianctl: ${cmd%% *}: missing argument" "missing argument"
    expect_output "^Usage: meridianctl \[OPTIONS\] ${cmd%% *} [A-Z]" "its usage"
done
for cmd in "status x" "stats x" "reload x" "drain a b" "force a up b" "explain a b c"; do
    # shellcheck disable=SC2086
    ctl_raw -c "$NOCONF" $cmd
    expect_rc 2
    expect_output "^meridianctl: ${cmd%% *}: too many arguments" "too many arguments"
done
for bad in "-t 0 status" "-t x status" "-t -1 status" "--no-such-option status" \
    "-s a -c b status" "-s" "status -t 3"; do
    # shellcheck disable=SC2086
    ctl_raw $bad
    expect_rc 2
done
ctl_raw -V
expect_rc 0
expect_output '^meridianctl [0-9.]+$' "version"
# -j before the command, after it, or after its arguments
for form in "-j drain eu-west" "drain -j eu-west" "drain eu-west --json" "--json drain eu-west"; do
    # shellcheck disable=SC2086
    ctl $form
    expect_rc 0
    if "$PYTHON" -c 'import json,sys; assert json.load(sys.stdin)["persisted"] is True' \
        <<<"$R_STDOUT"; then
        pass "$R_CMD: JSON"
    else
        fail "$R_CMD: JSON" "$R_STDOUT"
    fi
done
ctl undrain eu-west
expect_rc 0
# after "--" a -j is an argument, not the option
ctl drain -- -j
expect_rc 1
expect_output 'no data center -j' "-- ends the options"
R_CMD="meridianctl -s missing.sock status"
R_RC=0
R_OUT=$(timeout 10 "$MERIDIANCTL" -s "$DIR/missing.sock" status 2>&1) || R_RC=$?
expect_rc 3
expect_output "missing\.sock.*meridiand running" "missing socket names the path"
# a socket that accepts and never answers: exit 4
"$PYTHON" - "$DIR/silent.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(4)
c = s.accept()[0]
time.sleep(5)
PY
silent=$!
for _ in $(seq 50); do [ -S "$DIR/silent.sock" ] && break; sleep 0.1; done
ctl_raw -s "$DIR/silent.sock" -t 0.5 status
expect_rc 4
expect_output 'no answer within the timeout' "a daemon that does not answer"
kill "$silent" 2>/dev/null || true
wait "$silent" 2>/dev/null || true

# ---- reload
printf 'new     A       192.0.2.77\n' >>"$DIR/example.com.zone"
ctl reload
expect_rc 0
expect_output 'reloaded .*1 zones' "reload summary"
expect_answer new.example.com A "192.0.2.77" "reload added a record"
cp "$DIR/example.com.zone" "$DIR/good.zone"
printf 'broken  A       999.0.0.1\n' >>"$DIR/example.com.zone"
line=$(wc -l <"$DIR/example.com.zone")
ctl reload
expect_rc 1
expect_output "example\.com\.zone:$line: " "broken zone: file:line"
expect_output 'still serving the previous configuration' "broken zone: old data kept"
expect_answer new.example.com A "192.0.2.77" "old data still served"
cp "$DIR/good.zone" "$DIR/example.com.zone"

# ---- a second daemon on the same socket
R_CMD="second meridiand on the same control socket"
R_RC=0
R_OUT=$(timeout 10 "$MERIDIAND" -c "$CONF" --listen "127.0.0.1:$(free_port)" 2>&1) || R_RC=$?
expect_rc 1
expect_output 'another meridiand answers on the control socket' "second daemon refused"
[ -S "$SOCK" ] && pass "the first daemon's socket survived" || fail "socket gone after refusal"

# ---- stop removes the socket
# not in $(): wait needs this shell, the daemon's parent
stop_pid "$MERIDIAND_PID" >"$WORKDIR/stop.rc"
rc=$(cat "$WORKDIR/stop.rc")
if [ "$rc" = 0 ] && [ ! -e "$SOCK" ]; then
    pass "stop: exit 0, socket removed"
else
    fail "stop" "exit: $rc" "socket: $(ls -l "$SOCK" 2>&1)"
fi

finish
