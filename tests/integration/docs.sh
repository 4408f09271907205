#!/usr/bin/env bash
# docs.sh: the default config path is the same everywhere.
#
# meridiand --help and meridianctl --help name the default config file
# (SYSCONFDIR/meridian/meridian.yaml, fixed at build time); the man pages
# this build installs (made from docs/ with the build's sysconfdir) must
# name the same file wherever they speak of a default config, and the
# sources (docs/*.8, docs/*.5, docs/*.md, README.md) the default build's,
# /usr/local/etc/meridian/meridian.yaml.
#
# Data: none (the binaries, the built man pages, the docs).
. "$(dirname "$0")/lib.sh"
require_meridiand
: "${MERIDIANCTL:=$top_builddir/meridianctl}"
[ -x "$MERIDIANCTL" ] || hard_error "no meridianctl at $MERIDIANCTL (build it first)"

default_in_help() { # PROGRAM: the path in its --help's "(default ...)"
    "$1" --help | grep -oE '\(default [^)]*/meridian\.yaml\)' | sed 's/^(default //; s/)$//'
}
d=$(default_in_help "$MERIDIAND")
c=$(default_in_help "$MERIDIANCTL")
if [ -n "$d" ] && [ "$d" = "$c" ]; then
    pass "meridiand and meridianctl --help name the same default: $d"
else
    fail "the default config in --help" "meridiand:   $d" "meridianctl: $c"
fi

# defaults FILE...: every config path a text names as a default, one per
# line ("FILE: PATH"). Man pages are reduced to their words first.
defaults() {
    "$PYTHON" - "$@" <<'PY'
import re, shlex, sys
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8").read()
    if re.search(r"\.[0-9]$", path):
        words = []
        for line in text.split("\n"):
            if line.startswith(".\\\""):
                continue
            if line.startswith("."):
                macro, _, rest = line[1:].partition(" ")
                try:
                    args = shlex.split(rest)
                except ValueError:
                    args = rest.split()
                # alternating-font macros join their arguments
                line = "".join(args) if len(macro) == 2 and macro.isupper() else " ".join(args)
            words.append(line)
        text = " ".join(words)
        text = re.sub(r"\\f[BIRP]", "", text).replace("\\-", "-")
    text = re.sub(r"[`*]", "", re.sub(r"\s+", " ", text))
    for m in re.finditer(r"default[^.;]{0,80}?(/[\w./-]*/meridian/meridian\.yaml)", text):
        print("%s: %s" % (path, m.group(1)))
PY
}

check_defaults() { # WANT WHAT FILE...
    local want=$1 what=$2 line bad=() n=0
    shift 2
    while IFS= read -r line; do
        n=$((n + 1))
        [ "${line##*: }" = "$want" ] || bad+=("$line")
    done < <(defaults "$@")
    if [ "$n" -gt 0 ] && [ "${#bad[@]}" -eq 0 ]; then
        pass "$what: $n mentions of a default config, all $want"
    else
        fail "$what: every default config named is $want" "mentions: $n" "${bad[@]}"
    fi
}

built=()
for page in meridiand.8 meridianctl.8; do
    [ -f "$top_builddir/$page" ] || hard_error "no $top_builddir/$page (make builds it)"
    built+=("$top_builddir/$page")
    # each page must say it, not just not contradict it
    if defaults "$top_builddir/$page" | grep -q .; then
        pass "$page names the default config"
    else
        fail "$page names the default config" "no 'default ... /meridian/meridian.yaml' in it"
    fi
done
check_defaults "$d" "the man pages this build installs" "${built[@]}" "$top_builddir/meridian.yaml.5"
check_defaults /usr/local/etc/meridian/meridian.yaml "the sources" \
    "$top_srcdir"/docs/*.8 "$top_srcdir"/docs/*.5 "$top_srcdir"/docs/*.md "$top_srcdir/README.md"

finish
