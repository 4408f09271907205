# shellcheck shell=bash
# prepare.sh: sourced by geo.sh, explain.sh and unbound.sh after lib.sh.
#
# geo_prepare: copies this directory into $WORKDIR/geo (sets GEO_DIR),
# links countries.csv there to the project's geoip/countries.csv and builds
# $GEO_DIR/geo.mmdb from geo.csv with geoip/csv2mmdb, so that the configs'
# relative paths resolve. Skips (77) when csv2mmdb's Perl module
# (libmaxmind-db-writer-perl) is missing; a CSV error is a hard error.
# shellcheck disable=SC2154 # top_srcdir, DATA, WORKDIR: set by lib.sh
geo_prepare() {
    local src="$DATA/geo" rc=0 out
    GEO_DIR="$WORKDIR/geo"
    mkdir -p "$GEO_DIR"
    cp "$src"/*.yaml "$src"/*.zone "$src"/*.txt "$src"/*.csv "$GEO_DIR/"
    ln -sf "$top_srcdir/geoip/countries.csv" "$GEO_DIR/countries.csv"
    [ -x "$top_srcdir/geoip/csv2mmdb" ] || hard_error "no $top_srcdir/geoip/csv2mmdb"
    require_cmd perl
    out=$(CSV2MMDB_QUIET=1 perl "$top_srcdir/geoip/csv2mmdb" "$GEO_DIR/geo.csv" \
        "$GEO_DIR/geo.mmdb" 2>&1) || rc=$?
    case $rc in
    0) ;;
    3) skip "csv2mmdb cannot run: $out" ;;
    *) hard_error "csv2mmdb $GEO_DIR/geo.csv failed (exit $rc): $out" ;;
    esac
}
