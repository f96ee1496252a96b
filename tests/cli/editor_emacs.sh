# The Emacs mode (editors/emacs/qlx-mode.el), in the real Emacs in batch
# mode: it byte-compiles without warnings; a .qlx file opens in qlx-mode;
# each kind of word gets its face (tests/editors/sample.qlx and
# tests/editors/emacs/faces.qlx); imenu lists the records; indent-region
# gives back qlxc fmt's layout of every example and the layout of
# tests/editors/emacs/indent.qlx; qlx-format-buffer formats through
# `qlxc fmt -` and keeps a broken buffer; the compilation regexp reads
# qlxc check's diagnostics; every model of examples/ and stdlib/
# fontifies without an error.  The helpers that print what the mode did
# are tests/editors/emacs/qlx-test.el; the expectations are here.
# Sourced by tests/run with QLXC and TMP set.
set -u
ok()  { echo "ok - emacs: $*"; }
bad() { echo "FAIL - emacs: $*"; }
T=$TMP/emacs
mkdir -p "$T"
MODE=editors/emacs/qlx-mode.el
HELP=tests/editors/emacs/qlx-test.el
QLXC_ABS=$(cd "$(dirname "$QLXC")" && pwd)/$(basename "$QLXC")
E() { emacs --batch -Q -l "$MODE" -l "$HELP" "$@"; }

# --- faces: p LABEL EXPECTED-FACE REGEXP (the face at group 1, or at the match)
probes=
p() {
    printf '%s\t%s\n' "$1" "$3" >>"$probes.re"
    printf '%s\t%s\n' "$1" "$2" >>"$probes.want"
}
faces() {   # faces FILE: compare the faces of the probes written since start_probes
    E --eval "(qlx-test-faces \"$1\" \"$probes.re\")" >"$probes.got" 2>"$probes.err"
    if [ ! -s "$probes.got" ]; then
        bad "no faces printed for $1"; tail -5 "$probes.err"; return
    fi
    paste "$probes.want" "$probes.got" | while IFS="$(printf '\t')" read -r label want label2 got; do
        if [ "$label" = "$label2" ] && [ "$want" = "$got" ]; then
            ok "$1: $label: $want"
        else
            bad "$1: $label: $got, want $want"
        fi
    done
}
start_probes() { probes=$T/$1; : >"$probes.re"; : >"$probes.want"; }

emacs_checks() {
    # byte-compiles cleanly (in a copy: no .elc in the tree)
    cp "$MODE" "$T/qlx-mode.el"
    emacs --batch -Q --eval '(setq byte-compile-error-on-warn t)' \
        -f batch-byte-compile "$T/qlx-mode.el" >"$T/bc.log" 2>&1; rc=$?
    if [ $rc = 0 ] && [ -s "$T/qlx-mode.elc" ] && ! grep -qi 'warning' "$T/bc.log"; then
        ok "qlx-mode.el byte-compiles without warnings"
    else
        bad "qlx-mode.el byte-compiles with warnings or errors (exit $rc)"; cat "$T/bc.log"
    fi
    emacs --batch -Q -l "$T/qlx-mode.elc" --eval '(progn (find-file "tests/editors/sample.qlx") (font-lock-ensure) (princ major-mode))' \
        >"$T/elc.out" 2>"$T/elc.err"
    [ "$(cat "$T/elc.out")" = qlx-mode ] && ok "the compiled mode loads and fontifies" ||
        { bad "the compiled mode: $(cat "$T/elc.out")"; tail -5 "$T/elc.err"; }

    # the mode's settings
    cp tests/editors/sample.qlx "$T/sample.qlx"
    E --eval "(qlx-test-misc \"$T/sample.qlx\")" >"$T/misc.out" 2>"$T/misc.err"
    want_misc() {   # want_misc LINE DESCRIPTION
        grep -qxF "$1" "$T/misc.out" && ok "$2" || { bad "$2: want '$1'"; cat "$T/misc.out"; tail -3 "$T/misc.err"; }
    }
    want_misc 'mode: qlx-mode' "a .qlx file opens in qlx-mode (auto-mode-alist)"
    want_misc 'C-c C-f: qlx-format-buffer' "C-c C-f is qlx-format-buffer"
    want_misc 'C-c C-c: qlx-check' "C-c C-c is qlx-check"
    want_misc 'comment-start: "; "' 'comment-start is "; "'
    want_misc 'commented:   ; V1 = exp(tv1)' "comment-region comments a line with '; '"
    want_misc 'word: eta_ka' "'_' is part of a word: forward-word crosses eta_ka"
    want_misc 'in comment: t' "';' starts a comment (syntax table)"
    want_misc 'brace pairs with: }' "braces pair: forward-sexp from { stops after its }"

    # every alias of keywords.def names its record (the mode derives them)
    pairs=$(sed -n 's/^RECORD_ALIAS(\([A-Za-z_]*\), *\([A-Za-z_]*\)).*/\1:\2/p' lang/keywords.def)
    E --eval "(qlx-test-aliases $(for a in $pairs; do printf '"%s" ' "$a"; done))" >"$T/alias.out" 2>&1
    n=$(echo "$pairs" | wc -w)
    wrong=$(awk '$2 != $3' "$T/alias.out")
    [ "$n" -gt 0 ] && [ "$(wc -l <"$T/alias.out")" = "$n" ] && [ -z "$wrong" ] &&
        ok "each of the $n RECORD_ALIASes of keywords.def is read as its record" ||
        { bad "record aliases (alias record mode's-reading):"; echo "$wrong"; }

    # faces in the shared sample
    start_probes sample
    p 'a record ($THETA)'                          qlx-record-face              '^\$THETA'
    p 'the $PROBLEM title'                         font-lock-doc-face           '^\$PROBLEM +\(Two\)'
    p 'a THETA where declared (tka =)'             font-lock-variable-name-face '^  \(tka\) '
    p 'a THETA where declared (wt_cl =)'           font-lock-variable-name-face '^  \(wt_cl\) '
    p 'an OMEGA where declared (eta_ka ~)'         font-lock-variable-name-face '^  \(eta_ka\) ~'
    p 'a SIGMA where declared (eps_prop ~)'        font-lock-variable-name-face '^  \(eps_prop\) ~'
    p 'a compartment where declared (depot)'       font-lock-type-face          '\(depot\)(dose)'
    p 'a compartment without a role (periph)'      font-lock-type-face          'observe) \(periph\)'
    p 'a compartment role (dose)'                  font-lock-constant-face      'depot(\(dose\))'
    p 'd/dt'                                       font-lock-keyword-face       '\(d/dt\)(central)'
    p 'the compartment of d/dt(central)'           font-lock-type-face          'd/dt(\(central\))'
    p 'a function (exp)'                           font-lock-function-name-face '= \(exp\)(tka'
    p 'a number (0.5)'                             qlx-number-face              'tka   = \(0\.5\)'
    p 'a number in bounds (10)'                    qlx-number-face              '(0, \(10\))'
    p 'a string ("sdtab.csv")'                     font-lock-string-face        'FILE=\("\)sdtab'
    p 'a comment'                                  font-lock-comment-face       '; \(log\) KA'
    p 'a keyword (if)'                             font-lock-keyword-face       '^  \(if\) (WT'
    p 'a keyword (FIX)'                            font-lock-keyword-face       '\(FIX\)'
    p 'a keyword in $INPUT (DROP)'                 font-lock-keyword-face       'DOSE=\(DROP\)'
    p 'a record option (METHOD=)'                  font-lock-builtin-face       '\(METHOD\)='
    p 'a flag option (INTERACTION)'                font-lock-builtin-face       '\(INTERACTION\)'
    p 'an option value (FOCEI)'                    font-lock-constant-face      'METHOD=\(FOCEI\)'
    p 'a $DATA option (IGNORE=)'                   font-lock-builtin-face       '\(IGNORE\)=@'
    p 'a $LUA option (DERIVED=)'                   font-lock-builtin-face       '\(DERIVED\)='
    p 'the path of $DATA'                          font-lock-string-face        '\(data\.csv\)'
    p 'a data item in $INPUT (AMT)'                font-lock-constant-face      '^\$INPUT .*\(AMT\)'
    p 'a $TABLE item (CWRES)'                      font-lock-constant-face      '\(CWRES\)'
    p 'a variable where assigned: plain (KA =)'    nil                          '^  \(KA\) = exp'
    p 'a THETA where used: plain (exp(tka))'       nil                          'exp(\(tka\)'
    p 'a compartment where used: plain (*depot)'   nil                          '-KA\*\(depot\)'
    p 'a covariate: plain (WT)'                    nil                          'if (\(WT\)'
    p 'a covariate in $INPUT: plain (WT)'          nil                          '^\$INPUT .* \(WT\) '
    p 'the digits of a name are no number (tv1)'   nil                          'exp(tv\(1\))'
    faces tests/editors/sample.qlx

    # faces in the words the sample lacks
    start_probes faces
    p 'an alias in lower case ($prob)'             qlx-record-face              '^\$prob'
    p 'a record in lower case ($pk)'               qlx-record-face              '^\$pk'
    p 'an alias ($EST)'                            qlx-record-face              '^\$EST '
    p 'an alias NONMEM-style ($MODEL)'             qlx-record-face              '^\$MODEL'
    p 'an unknown record ($THET)'                  font-lock-warning-face       '^\$THET$'
    p "a ';' in the title is not a comment"        font-lock-doc-face           'title; \(with\)'
    p 'a quote in the title is not a string'       font-lock-doc-face           '"\(quote\)"'
    p 'a path ($LUA)'                              font-lock-string-face        '\(hooks\.lua\)'
    p 'an enum value (FORMAT=CSV)'                 font-lock-constant-face      'FORMAT=\(CSV\)'
    p "NONMEM's COMP="                             font-lock-builtin-face       '\(COMP\)=(DEPOT'
    p 'a compartment in COMP=(DEPOT ...)'          font-lock-type-face          '(\(DEPOT\) '
    p "a NONMEM role (DEFDOSE)"                    font-lock-constant-face      '\(DEFDOSE\)'
    p 'a THETA where declared under $THE'          font-lock-variable-name-face '^  \(ka\) = 1'
    p 'TRANSFORM'                                  font-lock-keyword-face       '\(TRANSFORM\)='
    p 'a transform (softplus)'                     font-lock-constant-face      'TRANSFORM=\(softplus\)'
    p 'BLOCK'                                      font-lock-keyword-face       '\(BLOCK\)(2)'
    p 'the first name of a BLOCK'                  font-lock-variable-name-face 'BLOCK(2) \(eta_cl\)'
    p 'the second name of a BLOCK'                 font-lock-variable-name-face 'eta_cl \(eta_v\) ~'
    p 'a value of a BLOCK'                         qlx-number-face              '~ 0\.1 \(0\.01\)'
    p 'SD'                                         font-lock-keyword-face       '0\.5 \(SD\)'
    p 'a prior (lognormal)'                        font-lock-function-name-face '\(lognormal\)('
    p 'the THETA of a prior: plain'                nil                          '^  \(ka\) ~'
    p 'IF'                                         font-lock-keyword-face       '^  \(IF\) ('
    p 'THEN'                                       font-lock-keyword-face       '\(THEN\)$'
    p 'ENDIF'                                      font-lock-keyword-face       '\(ENDIF\)'
    p 'a lua call (lua.ratio)'                     font-lock-function-name-face '\(lua\)\.ratio('
    p 'the name of a lua call'                     font-lock-function-name-face 'lua\.\(ratio\)('
    p 'an indexed alias (THETA(2))'                font-lock-builtin-face       '\*\(THETA\)(2)'
    p 'an indexed alias (DADT(1))'                 font-lock-builtin-face       '\(DADT\)(1)'
    p 'an indexed alias (A(1))'                    font-lock-builtin-face       '\*\(A\)(1)\*T'
    p "the integrator's time T"                    font-lock-builtin-face       'A(1)\*\(T\)$'
    p 'a number with an exponent (1e-3)'           qlx-number-face              '\(1e-3\)'
    p 'a number without a leading digit (.5)'      qlx-number-face              '\(\.5\)$'
    p 'the compartment of d/dt(CENTRAL)'           font-lock-type-face          'd/dt(\(CENTRAL\))'
    p 'the name of a $QUANTUM'                     font-lock-variable-name-face '\$QUANTUM \(q\)'
    p 'a directive (QUBITS)'                       font-lock-builtin-face       '\(QUBITS\)'
    p 'a gate (ry)'                                font-lock-function-name-face '\(ry\)(TIME)'
    p 'TIME'                                       font-lock-builtin-face       'ry(\(TIME\))'
    p 'a gate as an argument (rz)'                 font-lock-function-name-face 'euler(\(rz\)'
    p 'a template (euler)'                         font-lock-function-name-face '\(euler\)('
    p 'a measurement (z)'                          font-lock-function-name-face '\(z\)(0)'
    p 'the name of a $NETWORK'                     font-lock-variable-name-face '\$NETWORK \(net\)'
    p 'an activation (tanh)'                       font-lock-function-name-face '\(tanh\)'
    p 'linear'                                     font-lock-function-name-face '\(linear\)(q)'
    p 'an option value (METHOD=SAEM)'              font-lock-constant-face      'METHOD=\(SAEM\)'
    p 'an option on the $SIMULATION header'        font-lock-builtin-face       '\(RESIDUAL\)='
    p 'its value (NO)'                             font-lock-constant-face      'RESIDUAL=\(NO\)'
    p 'a directive of $SIMULATION (REGIMEN)'       font-lock-builtin-face       '\(REGIMEN\)'
    p 'a data item in a directive (AMT=)'          font-lock-constant-face      'REGIMEN \(AMT\)'
    p 'a $TABLE item (NPDE)'                       font-lock-constant-face      '\(NPDE\)'
    p 'the path of FILE='                          font-lock-string-face        'FILE=\(out\.csv\)'
    faces tests/editors/emacs/faces.qlx

    # imenu: the records, in order; choosing $PK goes to its line
    E --eval '(qlx-test-imenu "tests/editors/sample.qlx")' >"$T/imenu.out" 2>"$T/imenu.err"
    want=$(grep -o '^\$[A-Za-z]*' tests/editors/sample.qlx)
    got=$(grep '^\$' "$T/imenu.out")
    [ -n "$want" ] && [ "$got" = "$want" ] &&
        ok "imenu lists the $(echo "$want" | wc -l) records of the sample, in order" ||
        { bad "imenu index:"; cat "$T/imenu.out" "$T/imenu.err"; }
    pk=$(grep -n '^\$PK' tests/editors/sample.qlx | cut -d: -f1)
    grep -qx "jump: line $pk: \$PK" "$T/imenu.out" && ok "imenu's \$PK goes to line $pk" ||
        { bad "imenu jump to \$PK (line $pk):"; grep jump "$T/imenu.out"; }

    # indentation: from every line indented by three blanks, indent-region
    # gives back qlxc fmt's layout of each model, and indent.qlx's
    mkdir -p "$T/ind"
    n=0; list=
    for m in $(find examples stdlib -name '*.qlx' ! -name '.*' | sort) tests/editors/sample.qlx; do
        n=$((n + 1))
        f="$T/ind/$n-$(basename "$m")"
        "$QLXC" fmt "$m" >"$f" 2>/dev/null || { bad "qlxc fmt $m failed"; continue; }
        list="$list \"$f\""
    done
    cp tests/editors/emacs/indent.qlx "$T/indent.qlx"
    E --eval "(qlx-test-indent 3 $list \"$T/indent.qlx\")" >"$T/ind.out" 2>&1
    diffs=
    for f in "$T"/ind/*.qlx; do cmp -s "$f" "$f.ind" || diffs="$diffs $f"; done
    [ $n -gt 40 ] && [ -z "$diffs" ] && ! grep -q . "$T/ind.out" &&
        ok "indent-region gives back qlxc fmt's layout of the $n models of examples/, stdlib/ and the sample" ||
        { bad "indent-region differs from qlxc fmt:$diffs"; cat "$T/ind.out";
          for f in $diffs; do diff "$f" "$f.ind" | head -6; done; }
    if cmp -s tests/editors/emacs/indent.qlx "$T/indent.qlx.ind"; then
        ok "indent-region lays out indent.qlx: IF/THEN/ENDIF, braces, ( ), continued lines, notes"
    else
        bad "indent-region on indent.qlx:"; diff tests/editors/emacs/indent.qlx "$T/indent.qlx.ind" | head -20
    fi
    line=$(grep -n '^      FWT = 1.3$' tests/editors/emacs/indent.qlx | cut -d: -f1)
    [ -n "$line" ] && sed -n "${line}p" "$T/indent.qlx.ind" | grep -qx '      FWT = 1.3' &&
        ok "a line two IF/THEN blocks deep is indented 6 after indent-region" ||
        bad "line $line of indent.qlx after indent-region: '$(sed -n "${line:-1}p" "$T/indent.qlx.ind")'"

    # qlx-format-buffer: a messy buffer is formatted by `qlxc fmt -`; a
    # broken one stays as it was, its errors shown where next-error finds them
    sed -e 's/^ *//' -e 's/  */ /g' -e 's/ = /=/' tests/editors/sample.qlx >"$T/messy.qlx"
    printf '$PROBLEM x\n$THETA\n  a = = 1\n' >"$T/broken.qlx"
    E --eval "(qlx-test-format \"$QLXC_ABS\" \"$T/messy.qlx\" \"$T/broken.qlx\")" >"$T/fmt.out" 2>"$T/fmt.err"
    "$QLXC" fmt "$T/messy.qlx" >"$T/messy.want" 2>/dev/null
    grep -qx 'messy: t' "$T/fmt.out" && ! cmp -s "$T/messy.qlx" "$T/messy.want" &&
        cmp -s "$T/messy.qlx.out" "$T/messy.want" &&
        ok "qlx-format-buffer formats a messy buffer as qlxc fmt does" ||
        { bad "qlx-format-buffer on a messy buffer:"; cat "$T/fmt.out"; tail -5 "$T/fmt.err";
          diff "$T/messy.want" "$T/messy.qlx.out" | head; }
    grep -qx 'broken: nil modified nil' "$T/fmt.out" && cmp -s "$T/broken.qlx" "$T/broken.qlx.out" &&
        ok "qlx-format-buffer keeps a broken buffer as it was, unmodified" ||
        { bad "qlx-format-buffer on a broken buffer:"; cat "$T/fmt.out"; tail -5 "$T/fmt.err"; }
    grep -q "^$T/broken.qlx:3:7: error: " "$T/fmt.out" && grep -qx 'goto: broken.qlx:3:7' "$T/fmt.out" &&
        ok "its errors name the file (not <stdin>) and lead to line 3, column 7" ||
        { bad "the errors of qlx-format-buffer:"; cat "$T/fmt.out"; }

    # qlx-check: qlxc check in a compilation buffer, read by the mode's regexp
    "$QLXC" check "$T/broken.qlx" >"$T/check.txt" 2>&1
    at=$(sed -n 's/^[^ ]*broken\.qlx:\([0-9]*\):\([0-9]*\): error: .*/\1:\2/p' "$T/check.txt" | head -1)
    E --eval "(qlx-test-check \"$QLXC_ABS\" \"$T/broken.qlx\")" >"$T/qcheck.out" 2>"$T/qcheck.err"
    [ -n "$at" ] && grep -qx 'type: 2' "$T/qcheck.out" && grep -qx "goto: broken.qlx:$at" "$T/qcheck.out" &&
        ok "qlx-check: qlxc check's error ($(sed -n 's/.*: error: //p' "$T/check.txt" | head -1)) leads to broken.qlx:$at" ||
        { bad "qlx-check on broken.qlx (qlxc says $at):"; cat "$T/qcheck.out"; tail -5 "$T/qcheck.err"; }
    printf '$PROBLEM w\n$THETA\n  a = 1\n  b = 2\n$ERROR\n  Y = b\n' >"$T/warn.qlx"
    E --eval "(qlx-test-check \"$QLXC_ABS\" \"$T/warn.qlx\")" >"$T/qwarn.out" 2>"$T/qwarn.err"
    grep -qx 'type: 1' "$T/qwarn.out" && grep -qx "goto: warn.qlx:3:3" "$T/qwarn.out" &&
        ok "qlx-check: a warning of qlxc check is read as a warning, at warn.qlx:3:3" ||
        { bad "qlx-check on warn.qlx:"; cat "$T/qwarn.out"; tail -5 "$T/qwarn.err"; }

    # every model of examples/ and stdlib/ fontifies without an error
    files=$(find examples stdlib -name '*.qlx' ! -name '.*' | sort)
    E --eval "(qlx-test-fontify-all $(for f in $files; do printf '"%s" ' "$f"; done))" >"$T/all.out" 2>"$T/all.err"
    n=$(echo "$files" | wc -l)
    nok=$(grep -c '^ok ' "$T/all.out")
    [ "$nok" = "$n" ] && ! grep -q . "$T/all.err" &&
        ok "all $n models of examples/ and stdlib/ fontify without an error" ||
        { bad "fontifying examples/ and stdlib/: $nok of $n"; grep -v '^ok ' "$T/all.out"; tail -5 "$T/all.err"; }
}

if command -v emacs >/dev/null 2>&1; then
    emacs_checks
else
    bad "emacs is not installed (make deps installs emacs-nox)"
fi
true
