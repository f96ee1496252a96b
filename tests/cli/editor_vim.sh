# Vim support (editors/vim/README.md), in the real Vim, headless, with
# editors/vim first on its runtimepath: the syntax group at chosen places
# of the shared sample (tests/editors/sample.qlx) and of this test's own
# (tests/editors/vim/extra.qlx), one line per kind of word; every record,
# function, option and directive of lang/keywords.def highlighted as
# such; no error colour anywhere in the models of examples/, stdlib/ and
# docs/, where a broken model gets it; one fold per record; the
# formatter's indentation given back to each of them and typed afresh; the ftplugin's options; gq
# through `qlxc fmt -`; :make's quickfix list from a real `qlxc check`.
# Sourced by tests/run with QLXC and TMP set.
set -u
ok()  { echo "ok - vim: $*"; }
bad() { echo "FAIL - vim: $*"; }
V="$TMP/vim"
mkdir -p "$V"
if ! command -v vim >/dev/null 2>&1; then
    bad "vim is not installed (make deps installs it)"
    exit 0
fi
BIN=$(cd "$(dirname "$QLXC")" && pwd)
SAMPLE=tests/editors/sample.qlx
EXTRA=tests/editors/vim/extra.qlx

# runvim SCRIPT [LET...]: the script in Vim with each LET (`g:name = value`)
# set first; status 0 only when Vim met no error (-es exits 1 on one) and
# finished in time.  Its output (:make's) goes to $V/vim.out.
runvim() {
    local script=$1 a
    shift
    local pre=()
    for a in "$@"; do pre+=(--cmd "let $a"); done
    PATH="$BIN:$PATH" timeout 120 vim -N -u NONE -i NONE -es --cmd 'set rtp^=editors/vim' \
        --cmd 'filetype plugin indent on' --cmd 'syntax on' "${pre[@]}" -S "$script" \
        </dev/null >"$V/vim.out" 2>&1
}

# --- the syntax group at chosen places ----------------------------------------
# probe.vim: for each line FILE<tab>PATTERN of g:spec, the group at the first
# match of PATTERN in FILE (NOTFOUND when there is none), one line each
cat >"$V/probe.vim" <<'EOF'
let s:out = []
for s:line in readfile(g:spec)
  let [s:file, s:pat] = split(s:line, "\t", 1)
  if expand('%:p') !=# fnamemodify(s:file, ':p')
    execute 'edit' fnameescape(s:file)
  endif
  call cursor(1, 1)
  let s:found = search(s:pat, 'cW') > 0
  call add(s:out, s:found ? synIDattr(synID(line('.'), col('.'), 1), 'name') : 'NOTFOUND')
endfor
call writefile(s:out, g:out)
call writefile([v:errmsg], g:out . '.err')
qa!
EOF
# KIND | FILE (s: the sample, x: extra.qlx) | where (a Vim pattern, \zs at
# the place) | the group.  A plain name in code is in its record's region
# (qlxRecCode): the same word as a parameter or compartment only where
# it is declared.
cat >"$V/places" <<'EOF'
records|s|^\$THETA|qlxRecord
records|s|^\$ESTIMATION|qlxRecord
records|x|^\$THE\>|qlxRecord
records|x|^\$PROB|qlxRecord
records|x|^\$SIM|qlxRecord
parameters|s|^  \zstka|qlxParameter
parameters|s|^  \zswt_cl|qlxParameter
parameters|s|^  \zseta_cl \~|qlxParameter
parameters|s|^  \zseps_prop|qlxParameter
parameters|x|BLOCK(2) eta_cl \zseta_v|qlxParameter
parameters|x|^  \zstka \~ lognormal|qlxParameter
parameters|s|^  tv\zs1 |qlxParameter
parameters|s|exp(\zstka|qlxRecCode
compartments|s|\$COMPARTMENTS \zsdepot|qlxCompartment
compartments|s|observe) \zsperiph|qlxCompartment
compartments|s|d/dt(\zscentral)|qlxCompartment
compartments|x|COMP=(\zsDEPOT|qlxCompartment
compartments|s|depot(\zsdose)|qlxRole
compartments|x|DEPOT \zsDEFDOSE|qlxRole
compartments|s|= -KA\*\zsdepot|qlxRecCode
d/dt|s|\zsd/dt(depot)|qlxDdt
d/dt|s|d/\zsdt(periph)|qlxDdt
functions|s|KA = \zsexp(|qlxFunction
functions|x|\zsEXP(ETA|qlxFunction
functions|x|\zsmax(WT|qlxFunction
functions|x|\zslua\.ckd_epi|qlxFunction
functions|x|lua\.\zsckd_epi|qlxFunction
functions|x|\zsry(TIME)|qlxRecordFunc
functions|x|\zslinear(q)|qlxRecordFunc
functions|x|\zslognormal(|qlxDist
functions|x|\zsuniform(|qlxCall
numbers|s|tka   = \zs0\.5|qlxNumber
numbers|s|(0, \zs10)|qlxNumber
numbers|x|^  \zs1e-3|qlxNumber
numbers|x|^  1e-\zs3|qlxNumber
numbers|x|2\.5E+\zs2|qlxNumber
numbers|x|\zs1d-1|qlxNumber
numbers|x|\zs1\.5D0|qlxNumber
numbers|x|KA = \zs\.5|qlxNumber
numbers|x|^      \zs5\.$|qlxNumber
numbers|x|RTOL=\zs1e-6|qlxNumber
strings|s|FILE=\zs"sdtab|qlxString
strings|s|FILE="sdtab.cs\zsv"|qlxString
strings|x|"my data\zs; v2|qlxString
comments|s|^\zs; sample\.qlx|qlxComment
comments|s|\zs; log KA|qlxComment
comments|s|; log \zsKA (1/h)|qlxComment
comments|s|\$PROBLEM  \zsTwo|qlxTitle
keywords|s|^  \zsif (WT|qlxKeyword
keywords|s|3\.5 \zsFIX|qlxKeyword
keywords|s|DOSE=\zsDROP|qlxKeyword
keywords|x|\zsBLOCK(2)|qlxKeyword
keywords|x|\zsCORRELATION|qlxKeyword
keywords|x|\zsTRANSFORM=|qlxKeyword
keywords|x|^  \zsELSE IF|qlxKeyword
keywords|x|^  \zsENDIF|qlxKeyword
keywords|x|^  \zselse {|qlxKeyword
options|s|\zsMETHOD=FOCEI|qlxOption
options|s|\zsINTERACTION|qlxOption
options|s|\zsMAXEVAL|qlxOption
options|s|\$DATA .*\zsIGNORE=(|qlxOption
options|s|\zsDERIVED=|qlxOption
options|s|\zsNOPRINT|qlxOption
options|x|^  \zsINTEGRATOR=BDF|qlxOption
options|x|\$LOSS \zsNORMALIZE|qlxOption
options|x|\$SIM  \zsN=100|qlxOption
options|s|METHOD=\zsFOCEI|qlxOptionValue
options|x|FORMAT=\zsCSV|qlxOptionValue
options|x|TRANSFORM=\zssoftplus|qlxOptionValue
options|x|UNCERTAINTY=\zsno|qlxOptionValue
options|x|COMP\ze=(DEPOT|qlxCmtKey
data items|s|\$INPUT    \zsID|qlxDataItem
data items|s|\$INPUT.*\zsEVID|qlxDataItem
data items|x|ACCEPT=(\zsDVID|qlxDataItem
data items|x|REGIMEN    \zsAMT|qlxDataItem
data items|s|\$TABLE .*\zsCWRES|qlxTableItem
data items|s|\$INPUT.*CMT \zsWT|qlxRecInput
data items|x|+ \zsT\*0|qlxBuiltin
data items|x|ry(\zsTIME|qlxBuiltin
paths and names|s|\$DATA     \zsdata\.csv|qlxPath
paths and names|s|\$LUA      \zscovariates|qlxPath
paths and names|x|FILE=\zspatab|qlxValue
paths and names|x|\$QUANTUM \zsq|qlxBranch
paths and names|x|\zsTHETA(1)|qlxIndexed
paths and names|x|\zsDADT(2)|qlxIndexed
paths and names|x|WT\zs\.GT\.|qlxOperator
paths and names|x|^  \zsQUBITS|qlxDirective
paths and names|x|^  \zsPHYSICS|qlxDirective
paths and names|x|^  \zsPOPULATION WT|qlxDirective
paths and names|x|\zsrelu|qlxRecordWord
EOF
: >"$V/spec"
while IFS='|' read -r _ f pat _; do
    case $f in s) f=$SAMPLE ;; x) f=$EXTRA ;; esac
    printf '%s\t%s\n' "$f" "$pat" >>"$V/spec"
done <"$V/places"
runvim "$V/probe.vim" "g:spec = '$V/spec'" "g:out = '$V/probe.out'"; rc=$?
err=$(cat "$V/probe.out.err" 2>/dev/null)
if [ $rc != 0 ] || [ ! -s "$V/probe.out" ] || [ -n "$err" ]; then
    bad "the probe of the samples failed (vim exit $rc: $err)"
else
    # one line per kind: ok when every place of that kind has its group
    paste -d'|' "$V/places" "$V/probe.out" | awk -F'|' '
        !($1 in n) { order[++k] = $1 }
        { n[$1]++; if ($4 != $5) wrong[$1] = wrong[$1] sprintf(" [%s: %s, not %s]", $3, $5, $4) }
        END { for (i = 1; i <= k; i++) { c = order[i]
                  if (c in wrong) printf "FAIL - vim: %s:%s\n", c, wrong[c]
                  else printf "ok - vim: %s: the %d places of the samples have their groups\n", c, n[c] } }'
fi

# --- every word of keywords.def, in any case --------------------------------------
GEN=$BIN/gen_editors
if [ ! -x "$GEN" ]; then
    bad "$GEN is not built (make builds it with the tests)"
else
    words() { printf '@@%s:words@@\n' "$1" >"$V/w.in" && "$GEN" "$V/w.in" "$V/w" && tr ' ' '\n' <"$V/w"; }
    {
        for w in $(words RECORDS); do printf '$%s\n$%s\n' "$w" "$(echo "$w" | tr A-Z a-z)"; done
        echo '$PK'
        for w in $(words FUNCS); do printf '  X = %s(1)\n  X = %s (1)\n' "$w" "$(echo "$w" | tr a-z A-Z)"; done
        echo '$ESTIMATION'
        for w in $(words OPTIONS); do printf '  %s=1\n' "$w"; done
        echo '$SIMULATION'
        for w in $(words DIRECTIVES); do printf '  %s 1\n' "$w"; done
    } >"$V/words.qlx"
    : >"$V/wspec"; : >"$V/wwant"
    n=0
    while IFS= read -r line; do
        n=$((n + 1))
        case $line in
        '$PK'|'$ESTIMATION'|'$SIMULATION') want= ;;
        '$'*) want=qlxRecord ;;
        '  X = '*) want=qlxFunction ;;
        *=1) want=qlxOption ;;
        *) want=qlxDirective ;;
        esac
        [ -n "$want" ] || continue
        # the first letter of the word: line N, after `$`, `X = ` or the indent
        printf '%s\t\\%%%dl\\%%(\\$\\|  X = \\|  \\)\\zs\\a\n' "$V/words.qlx" $n >>"$V/wspec"
        printf '%s %s\n' "$want" "$line" >>"$V/wwant"
    done <"$V/words.qlx"
    runvim "$V/probe.vim" "g:spec = '$V/wspec'" "g:out = '$V/wprobe.out'"; rc=$?
    wrong=$(paste -d' ' "$V/wprobe.out" "$V/wwant" | awk '$1 != $2 { printf " [%s: %s]", $3 $4 $5 $6, $1 }')
    nw=$(wc -l <"$V/wwant")
    [ $rc = 0 ] && [ -z "$wrong" ] && [ "$nw" -gt 100 ] &&
        ok "every record (and alias, in either case), function, option and directive of keywords.def: $nw words" ||
        bad "keywords.def's words (vim exit $rc):$wrong"
fi

# --- no error colour in examples/, stdlib/, docs/; a broken model gets it ---------
# scan.vim: FILE:LINE:COL GROUP for the first place of each line whose group
# is shown as Error
cat >"$V/scan.vim" <<'EOF'
let s:out = []
for s:f in readfile(g:files)
  execute 'edit' fnameescape(s:f)
  if &filetype !=# 'qlx' || get(b:, 'current_syntax', '') !=# 'qlx'
    call add(s:out, s:f . ': not the qlx filetype and syntax')
  endif
  for s:l in range(1, line('$'))
    for s:c in range(1, len(getline(s:l)))
      let s:id = synID(s:l, s:c, 1)
      if synIDattr(synIDtrans(s:id), 'name') ==# 'Error'
        call add(s:out, printf('%s:%d:%d %s', s:f, s:l, s:c, synIDattr(s:id, 'name')))
        break
      endif
    endfor
  endfor
endfor
call writefile(s:out, g:out)
call writefile([v:errmsg], g:out . '.err')
qa!
EOF
find examples stdlib -name '*.qlx' ! -name '.*' | sort >"$V/files"
echo "$EXTRA" >>"$V/files"
# and the complete models of docs/ (```qlx blocks that start with $PROBLEM)
mkdir -p "$V/doc"
awk -v dir="$V/doc" '/^```qlx$/ { n++; on = 1; next } /^```/ { on = 0 }
    on { print > sprintf("%s/%03d.qlx", dir, n) }' docs/*.md
grep -l '^\$PROBLEM' "$V"/doc/*.qlx >"$V/dfiles" 2>/dev/null
nf=$(wc -l <"$V/files"); nd=$(wc -l <"$V/dfiles")
cat "$V/dfiles" >>"$V/files"
runvim "$V/scan.vim" "g:files = '$V/files'" "g:out = '$V/scan.out'"; rc=$?
[ $rc = 0 ] && [ -f "$V/scan.out" ] && [ ! -s "$V/scan.out" ] && [ -z "$(cat "$V/scan.out.err")" ] && [ "$nf" -gt 20 ] &&
    [ "$nd" -gt 20 ] &&
    ok "the $nf models of examples/, stdlib/ and extra.qlx and the $nd of docs/: no error colour anywhere, no Vim error" ||
    { bad "error colours in the examples (vim exit $rc, $(cat "$V/scan.out.err" 2>/dev/null))"; head -5 "$V/scan.out"; }
# a stray line, a line after the title, an unknown record, an unclosed string
printf 'stray\n$PROBLEM x ; note\nmore title\n$THET\n  tka = 1\n$PK\n  A = "abc\n  B = "ok"\n' >"$V/broken.qlx"
echo "$V/broken.qlx" >"$V/bfiles"
runvim "$V/scan.vim" "g:files = '$V/bfiles'" "g:out = '$V/bscan.out'"; rc=$?
want=$(printf '%s:1:1 qlxError\n%s:3:1 qlxError\n%s:4:1 qlxError\n%s:7:7 qlxBadString' "$V/broken.qlx" "$V/broken.qlx" "$V/broken.qlx" "$V/broken.qlx")
[ $rc = 0 ] && [ "$(cat "$V/bscan.out")" = "$want" ] &&
    ok "a broken model: the stray line, the line after the title, \$THET and the unclosed string, and nothing else, are errors" ||
    { bad "the error colours of a broken model (vim exit $rc)"; cat "$V/bscan.out"; }

# --- folds, the ftplugin's options, typed indentation -------------------------
cat >"$V/opts.vim" <<'EOF'
execute 'edit' fnameescape(g:sample)
setlocal foldlevel=0 foldminlines=0
" with every fold closed (one-line ones too), a line's fold starts at its
" record's line
let s:folds = map(range(1, line('$')), 'foldclosed(v:val)')
let s:o = ['folds ' . join(s:folds),
      \ 'commentstring ' . &l:commentstring, 'comments ' . &l:comments,
      \ 'foldmethod ' . &l:foldmethod, 'formatprg ' . &l:formatprg, 'makeprg ' . &l:makeprg,
      \ 'undo ' . (exists('b:undo_ftplugin') && b:undo_ftplugin =~# 'commentstring<' && b:undo_ftplugin =~# 'foldexpr<')]
enew
setfiletype qlx
execute "normal! i$PK\rif (WT > 1) {\rX = 1\r}\relse {\rX = 2\r}\rIF (A.EQ.1) THEN\rB = 1 +\r2\rELSE\rB = 2\rENDIF\r$DES\rd/dt(c) = 0"
call add(s:o, 'typed ' . join(map(range(1, line('$')), 'indent(v:val)')))
call writefile(s:o, g:out)
call writefile([v:errmsg], g:out . '.err')
qa!
EOF
runvim "$V/opts.vim" "g:sample = '$SAMPLE'" "g:out = '$V/opts.out'"; rc=$?
opt() { sed -n "s/^$1 //p" "$V/opts.out" 2>/dev/null; }
# the record at or above each line; -1 above the first
folds=$(awk '/^[ \t]*\$[A-Za-z_]/ { r = NR } { printf "%s%d", (NR > 1 ? " " : ""), (r ? r : -1) }' "$SAMPLE")
[ $rc = 0 ] && [ "$(opt folds)" = "$folds" ] && [ "$(echo "$folds" | tr ' ' '\n' | sort -u | wc -l)" -gt 10 ] &&
    ok "one fold per record: each of the sample's lines folds into its record's, from \$NAME to the next" ||
    { bad "folds (vim exit $rc)"; echo "  got:  $(opt folds)"; echo "  want: $folds"; }
[ "$(opt commentstring)" = '; %s' ] && [ "$(opt comments)" = ':;' ] && [ "$(opt foldmethod)" = expr ] &&
    [ "$(opt undo)" = 1 ] &&
    ok "ftplugin: commentstring '; %s', comments ':;', foldmethod expr, b:undo_ftplugin" ||
    bad "ftplugin options: $(tr '\n' '/' <"$V/opts.out" 2>/dev/null)"
[ "$(opt formatprg)" = 'qlxc fmt - 2>/dev/null' ] && [ "$(opt makeprg)" = 'qlxc check %:S' ] &&
    ok "ftplugin: formatprg 'qlxc fmt - 2>/dev/null', makeprg 'qlxc check %:S'" ||
    bad "formatprg/makeprg: '$(opt formatprg)' '$(opt makeprg)'"
[ "$(opt typed)" = '0 2 4 2 2 4 2 2 4 8 2 4 2 0 2' ] &&
    ok "indent while typing: \$NAME at 0, a body at 2, { } and IF THEN ELSE ENDIF blocks 2 more, a continued line 4 more" ||
    bad "indent while typing: $(opt typed)"

# --- = gives the formatter's layout back ---------------------------------------
# every example, library model and docs/ model as `qlxc fmt` writes it, and
# extra.qlx, with all indentation taken away, then `gg=G`
mkdir -p "$V/ind"
: >"$V/ifiles"
for m in $(cat "$V/files"); do
    n=$(echo "$m" | tr / _)
    if [ "$m" = "$EXTRA" ]; then cp "$m" "$V/ind/$n.want"; else "$QLXC" fmt "$m" >"$V/ind/$n.want" 2>/dev/null || continue; fi
    sed 's/^[[:space:]]*//' "$V/ind/$n.want" >"$V/ind/$n"
    echo "$V/ind/$n" >>"$V/ifiles"
done
cat >"$V/reindent.vim" <<'EOF'
for s:f in readfile(g:files)
  execute 'edit' fnameescape(s:f)
  normal! gg=G
  write
endfor
call writefile([v:errmsg], g:files . '.err')
qa!
EOF
runvim "$V/reindent.vim" "g:files = '$V/ifiles'"; rc=$?
ni=0; diffs=
for f in $(cat "$V/ifiles"); do
    cmp -s "$f" "$f.want" && ni=$((ni + 1)) || diffs="$diffs $(basename "$f")"
done
[ $rc = 0 ] && [ -z "$diffs" ] && [ $ni -gt 20 ] && grep -q '^    ' "$V/ind/$(echo "$EXTRA" | tr / _)" &&
    ok "gg=G on the $ni models with their indentation taken away gives back qlxc fmt's layout" ||
    { bad "gg=G differs from the formatter (vim exit $rc):$diffs"; d=$(echo $diffs | cut -d' ' -f1); [ -n "$d" ] && diff "$V/ind/$d.want" "$V/ind/$d" | head -6; }

# --- gq through qlxc fmt - -----------------------------------------------------------
cat >"$V/gq.vim" <<'EOF'
for s:f in readfile(g:files)
  execute 'edit' fnameescape(s:f)
  normal! gggqG
  write
endfor
call writefile([v:errmsg], g:files . '.err')
qa!
EOF
sed -e 's/ = / =   /' -e 's/^  //' examples/estimation/fit.qlx >"$V/messy.qlx"
printf '$PROBLEM x\n$THETA\n  a = = 1\n' >"$V/nofmt.qlx"
cp "$V/nofmt.qlx" "$V/nofmt.want"
printf '%s\n' "$V/messy.qlx" "$V/nofmt.qlx" >"$V/gfiles"
runvim "$V/gq.vim" "g:files = '$V/gfiles'"; rc=$?
"$QLXC" fmt examples/estimation/fit.qlx >"$V/messy.want"
[ $rc = 0 ] && cmp -s "$V/messy.qlx" "$V/messy.want" && cmp -s "$V/nofmt.qlx" "$V/nofmt.want" &&
    ok "gq formats through qlxc fmt -; on a syntax error the buffer stays as it was, without the message" ||
    { bad "gq (vim exit $rc)"; diff "$V/messy.want" "$V/messy.qlx" | head -5; diff "$V/nofmt.want" "$V/nofmt.qlx"; }

# --- :make and the quickfix list ----------------------------------------------------
cat >"$V/make.vim" <<'EOF'
execute 'edit' fnameescape(g:model)
silent make!
let s:o = []
for s:e in getqflist()
  if s:e.valid
    call add(s:o, printf('%s:%d:%d: %s: %s', fnamemodify(bufname(s:e.bufnr), ':p'), s:e.lnum, s:e.col, s:e.type, s:e.text))
  endif
endfor
call writefile(s:o, g:out)
qa!
EOF
mkdir -p "$V/qf"
sed -e 's/IPRED = central/IPRED = centrl/' -e 's/^  tq    = 2.5 .*/&\n  tka = 3/' examples/estimation/fit.qlx >"$V/qf/broken.qlx"
(cd "$V/qf" && "$BIN/$(basename "$QLXC")" check broken.qlx >check.out 2>&1)
lc=$(grep -n 'IPRED = centrl' "$V/qf/broken.qlx" | cut -d: -f1)
ld=$(grep -n '^  tka = 3' "$V/qf/broken.qlx" | cut -d: -f1)
l1=$(grep -n '^  tka ' "$V/qf/broken.qlx" | head -1 | cut -d: -f1)
runvim "$V/make.vim" "g:model = '$V/qf/broken.qlx'" "g:out = '$V/qf.out'"; rc=$?
q=$V/qf/broken.qlx
want=$(printf '%s\n' "$q:$ld:3: E: 'tka' is already declared" "$q:$l1:3: N: 'tka' was first declared here, as a THETA" \
    "$q:$lc:11: E: undefined name 'centrl'")
got=$(tr '\000' '\n' <"$V/qf.out" 2>/dev/null | grep -v '^hint:')
[ $rc = 0 ] && [ "$got" = "$want" ] && grep -q "^broken.qlx:$lc:11: error: undefined name 'centrl'" "$V/qf/check.out" &&
    tr '\000' '\n' <"$V/qf.out" | grep -q "^hint: did you mean 'central'?" &&
    ok ":make runs qlxc check: the quickfix list has the error's file, line $lc, column 11, the note, and the hint" ||
    { bad ":make's quickfix list (vim exit $rc)"; echo "  got:"; echo "$got"; echo "  want:"; echo "$want"; }
true
