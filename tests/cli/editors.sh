# Editor grammars (docs/editors.md): every generated file under editors/
# is what lang/gen_editors makes from its template and lang/keywords.def,
# so the editors cannot drift from the lexer; gen_editors refuses a
# placeholder it does not know; `qlxc fmt -` (the editors' filter) formats
# stdin and gives a broken model back unchanged.
# Sourced by tests/run with QLXC and TMP set.
set -u
ok()  { echo "ok - editors: $*"; }
bad() { echo "FAIL - editors: $*"; }
GEN=$(dirname "$QLXC")/gen_editors
mkdir -p "$TMP/editors"
if [ ! -x "$GEN" ]; then
    bad "$GEN is not built (make builds it with the tests)"
else
    n=0; stale=
    for t in $(find editors -name '*.in' | sort); do
        out="$TMP/editors/$(echo "${t%.in}" | tr / _)"
        if "$GEN" "$t" "$out" && cmp -s "$out" "${t%.in}"; then n=$((n + 1)); else stale="$stale ${t%.in}"; fi
    done
    [ -z "$stale" ] && [ $n -ge 1 ] &&
        ok "the $n generated grammars are what gen_editors makes from their templates and lang/keywords.def" ||
        bad "out of date (run make editors):$stale"
    # a grammar made from a table with one more function would differ: the
    # check can fail (the word comes from keywords.def, not from the template)
    printf 'x @@FUNCS:words@@ y\n' >"$TMP/editors/t.in"
    "$GEN" "$TMP/editors/t.in" "$TMP/editors/t" &&
        grep -q '^x exp log .* phi y$' "$TMP/editors/t" &&
        ok "a placeholder expands to keywords.def's words, in its order" ||
        { bad "FUNCS:words"; cat "$TMP/editors/t"; }
    # a record with its aliases, and each alias with its record
    printf '@@RECORD=THETA+ERROR:vimregex@@\n@@ALIAS_PAIRS:alist@@\n' >"$TMP/editors/r.in"
    "$GEN" "$TMP/editors/r.in" "$TMP/editors/r" &&
        [ "$(sed -n 1p "$TMP/editors/r")" = 'THETA\|ERROR\|PRED\|THE\|ERR' ] &&
        sed -n 2p "$TMP/editors/r" | grep -q '("MODEL" . "COMPARTMENTS").*("SUBROUTINES" . "SOLVER")' &&
        ok "RECORD=THETA+ERROR gives those records and their aliases, longest first; ALIAS_PAIRS each alias's record" ||
        { bad "RECORD= or ALIAS_PAIRS"; cat "$TMP/editors/r"; }
    printf 'a\n@@NOPE:words@@\n' >"$TMP/editors/u.in"
    "$GEN" "$TMP/editors/u.in" "$TMP/editors/u" 2>"$TMP/editors/u.err"; rc=$?
    [ $rc = 1 ] && grep -q "u.in:2: error: unknown kind 'NOPE'" "$TMP/editors/u.err" && [ ! -e "$TMP/editors/u" ] &&
        ok "an unknown placeholder is an error at its line; nothing is written" ||
        { bad "an unknown placeholder (exit $rc)"; cat "$TMP/editors/u.err"; }
fi

# qlxc fmt -: stdin to stdout
printf '$PROBLEM x\n$THETA\n  a   =   1\n' | "$QLXC" fmt - >"$TMP/editors/f.out" 2>"$TMP/editors/f.err"; rc=$?
[ $rc = 0 ] && [ "$(cat "$TMP/editors/f.out")" = "$(printf '$PROBLEM x\n\n$THETA\n  a = 1')" ] &&
    ok "qlxc fmt - formats stdin to stdout" || { bad "qlxc fmt - (exit $rc)"; cat "$TMP/editors/f.out" "$TMP/editors/f.err"; }
printf '$PROBLEM x\n$THETA\n  a = = 1\n' >"$TMP/editors/broken.qlx"
"$QLXC" fmt - <"$TMP/editors/broken.qlx" >"$TMP/editors/b.out" 2>"$TMP/editors/b.err"; rc=$?
[ $rc = 1 ] && cmp -s "$TMP/editors/b.out" "$TMP/editors/broken.qlx" &&
    grep -q '^<stdin>:3:7: error: ' "$TMP/editors/b.err" &&
    ok "qlxc fmt - on a broken model: exit 1, the input back unchanged, the error at <stdin>:3:7" ||
    { bad "qlxc fmt - on a broken model (exit $rc)"; cat "$TMP/editors/b.out" "$TMP/editors/b.err"; }
"$QLXC" fmt -w - </dev/null >/dev/null 2>"$TMP/editors/w.err"; rc=$?
[ $rc = 2 ] && grep -q "fmt -w writes files" "$TMP/editors/w.err" &&
    ok "qlxc fmt -w - is a usage error" || { bad "fmt -w - (exit $rc)"; cat "$TMP/editors/w.err"; }
true
