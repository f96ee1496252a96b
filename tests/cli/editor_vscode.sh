# VS Code extension (editors/vscode/README.md): its TextMate grammar, run
# by VS Code's own tokenizer (vscode-textmate and vscode-oniguruma in
# tests/editors/node_modules, which make deps installs with npm ci), gives
# the expected scope at chosen places of the samples and no invalid scope
# on any valid model; every record name and alias of lang/keywords.def
# opens its record's rule; the extension's files are valid JSON and name
# each other; every snippet, filled with its defaults, parses (the whole
# model passes qlxc check); records and ;region markers fold.
# Sourced by tests/run with QLXC and TMP set; needs no network.
set -u
ok()  { echo "ok - vscode: $*"; }
bad() { echo "FAIL - vscode: $*"; }
V=editors/vscode
TOK=tests/editors/tokenize.js
NM=tests/editors/node_modules
D=$TMP/vscode
mkdir -p "$D"

if ! command -v node >/dev/null 2>&1; then
    bad "node is not installed: run make deps"
elif [ ! -f "$NM/vscode-textmate/package.json" ] || [ ! -f "$NM/vscode-oniguruma/release/onig.wasm" ]; then
    bad "$NM lacks vscode-textmate or vscode-oniguruma: run make deps (npm ci in tests/editors)"
else   # the rest of the file: the checks, which need node and the tokenizer

# --- the extension's files: valid JSON that name each other ----------------------
node - "$V" tests/editors >"$D/json.out" 2>&1 <<'EOF'
const fs = require('fs'), path = require('path');
const [dir, tdir] = process.argv.slice(2);
const errs = [];
const load = (f) => {
    try { return JSON.parse(fs.readFileSync(f, 'utf8')); }
    catch (e) { errs.push(`${f}: ${e.message}`); return null; }
};
const pkg = load(path.join(dir, 'package.json')) || {};
const c = pkg.contributes || {};
const lang = (c.languages || [])[0] || {};
const gram = (c.grammars || [])[0] || {};
const snip = (c.snippets || [])[0] || {};
if (pkg.name !== 'qlx' || pkg.publisher !== 'qlynix' || !pkg.version || !(pkg.engines || {}).vscode)
    errs.push('package.json: name qlx, publisher qlynix, a version and engines.vscode');
if (lang.id !== 'qlx' || !(lang.extensions || []).includes('.qlx') || !(lang.aliases || []).length)
    errs.push('package.json: the language qlx, its .qlx extension and aliases');
if (gram.language !== lang.id || snip.language !== lang.id)
    errs.push(`package.json: the grammar and the snippets are for '${gram.language}' and '${snip.language}', not '${lang.id}'`);
const conf = lang.configuration && load(path.join(dir, lang.configuration));
const g = gram.path && load(path.join(dir, gram.path));
const s = snip.path && load(path.join(dir, snip.path));
if (!conf || !g || !s) errs.push('package.json: the configuration, grammar and snippets files');
load(path.join(dir, 'syntaxes/qlx.tmLanguage.json.in'));
if (g) {
    if (g.scopeName !== gram.scopeName || g.scopeName !== 'source.qlx')
        errs.push(`grammar: scopeName '${g.scopeName}', package.json '${gram.scopeName}', want source.qlx`);
    const text = JSON.stringify(g);
    if (text.includes('@@')) errs.push('grammar: a placeholder left unexpanded');
    // vscode-textmate skips an include it cannot resolve, silently
    for (const m of text.matchAll(/"include":"#([^"]*)"/g))
        if (!(g.repository || {})[m[1]]) errs.push(`grammar: include #${m[1]} has no repository entry`);
}
if (conf) {
    if ((conf.comments || {}).lineComment !== ';') errs.push('configuration: the line comment is ;');
    // VS Code compiles these with JavaScript's RegExp, not Oniguruma
    const rx = [conf.wordPattern, ...Object.values(conf.indentationRules || {}),
                ...Object.values((conf.folding || {}).markers || {})];
    for (const r of rx) { try { new RegExp(r); } catch (e) { errs.push(`configuration: ${e.message}`); } }
}
// npm ci installed what the lock file pins
const tp = load(path.join(tdir, 'package.json')) || {};
for (const [n, v] of Object.entries(tp.devDependencies || {})) {
    if (!/^\d+\.\d+\.\d+$/.test(v)) errs.push(`${tdir}/package.json: ${n} ${v} is not an exact version`);
    const got = (load(path.join(tdir, 'node_modules', n, 'package.json')) || {}).version;
    if (got !== v) errs.push(`${tdir}/node_modules: ${n} ${got}, package.json pins ${v} (run make deps)`);
}
console.log(errs.join('\n'));
process.exitCode = errs.length ? 1 : 0;
EOF
[ $? = 0 ] &&
    ok "package.json, language-configuration.json, the grammar and the snippets are valid JSON and name each other (language qlx, .qlx, source.qlx); every include resolves; the configuration's regexes compile; npm ci installed the pinned tokenizer" ||
    { bad "the extension's files"; cat "$D/json.out"; }

# the example tasks.json: a task runs qlxc fmt -w ${file}, and its problem
# matcher reads qlxc's diagnostics (file, line, column, severity)
printf '$PROBLEM x\n$THETA\n  a = = 1\n' >"$D/task.qlx"
"$QLXC" check "$D/task.qlx" >"$D/task.err" 2>&1
node - "$V/tasks.json" "$D/task.err" "$D/task.qlx" >"$D/task.out" 2>&1 <<'EOF'
const fs = require('fs');
const [file, errfile, model] = process.argv.slice(2);
const t = JSON.parse(fs.readFileSync(file, 'utf8'));
const fmt = t.tasks.find((k) => k.command === 'qlxc' && (k.args || []).join(' ') === 'fmt -w ${file}');
if (!fmt) throw new Error('no task runs qlxc fmt -w ${file}');
const p = fmt.problemMatcher.pattern;
const line = fs.readFileSync(errfile, 'utf8').split('\n')[0];
const m = new RegExp(p.regexp).exec(line);
const got = m && [m[p.file], m[p.line], m[p.column], m[p.severity]].join(':');
if (got !== `${model}:3:7:error`) throw new Error(`the problem matcher reads '${line}' as ${got}`);
EOF
[ $? = 0 ] && ok "tasks.json: a task runs qlxc fmt -w \${file}; its problem matcher reads qlxc's file:line:col: error" ||
    { bad "tasks.json"; cat "$D/task.out"; }

# --- expected scopes at chosen places ------------------------------------------
for pair in sample:tests/editors/sample.qlx extra:tests/editors/vscode/extra.qlx pinn:tests/editors/vscode/pinn.qlx; do
    spec=tests/editors/vscode/${pair%%:*}.expect; file=${pair#*:}
    node $TOK expect "$file" "$spec" >"$D/expect.out" 2>&1; rc=$?
    n=$(grep -c '^ok' "$D/expect.out")
    if [ $rc = 0 ] && [ "$n" -gt 0 ]; then
        ok "$file: the expected scope at each of $n places ($spec)"
    else
        bad "$file: scopes (exit $rc)"; grep -v '^ok' "$D/expect.out" | sed 's/^/  /'
    fi
done
# every category of scope is among the expectations, on valid code
missing=
for s in keyword.other.record variable.parameter entity.name.type.compartment support.constant.role \
         support.function.derivative support.function.qlx support.function.record entity.name.function.lua \
         constant.numeric string.quoted.double comment.line.semicolon keyword.control \
         variable.other.option constant.language.qlx variable.language.data-item variable.language.indexed \
         keyword.other.directive; do
    cat tests/editors/vscode/*.expect | grep -v '^#' | cut -f3 | grep -q "^$s" || missing="$missing $s"
done
[ -z "$missing" ] && ok "the expectations cover records, parameters, compartments and roles, d/dt, functions, numbers, strings, comments, keywords, options and their values, data items, indexed aliases and directives" ||
    bad "no expectation of:$missing"
"$QLXC" check tests/editors/vscode/extra.qlx >"$D/c1" 2>&1 && "$QLXC" check tests/editors/vscode/pinn.qlx >"$D/c2" 2>&1 &&
    ok "tests/editors/vscode/extra.qlx and pinn.qlx are valid models (qlxc check)" ||
    { bad "tests/editors/vscode samples do not check"; cat "$D/c1" "$D/c2"; }

# every record and alias of keywords.def, as written there and in lower case
sed -n 's/^RECORD(\([A-Z]*\),.*/\1 \1/p; s/^RECORD_ALIAS(\([A-Z]*\), *\([A-Z]*\)).*/\1 \2/p' lang/keywords.def >"$D/recs"
: >"$D/recs.qlx"; : >"$D/recs.expect"; n=0
while read -r name rec; do
    for w in "$name" "$(echo "$name" | tr A-Z a-z)"; do
        n=$((n + 1)); echo "\$$w" >>"$D/recs.qlx"
        low=$(echo "$rec" | tr A-Z a-z)
        printf '%s\t$%s\tmeta.record.%s.qlx\n%s\t$%s\tkeyword.other.record.qlx\n' $n "$w" "$low" $n "$w" >>"$D/recs.expect"
    done
done <"$D/recs"
node $TOK expect "$D/recs.qlx" "$D/recs.expect" >"$D/recs.out" 2>&1; rc=$?
[ $rc = 0 ] && [ $n -ge 2 ] &&
    ok "all $((n / 2)) record names and aliases of lang/keywords.def, upper and lower case, open their record's rule (meta.record.NAME.qlx)" ||
    { bad "record names (exit $rc)"; grep -v '^ok' "$D/recs.out" | sed 's/^/  /'; }

# --- no invalid scope on valid models --------------------------------------------
scan() {   # scan WHAT FILE...: no token of the files has an "invalid" scope
    what=$1; shift
    node $TOK invalid "$@" >"$D/inv.out" 2>&1; rc=$?
    sum=$(tail -1 "$D/inv.out")
    set -- $sum
    if [ $rc = 0 ] && [ "${1:-}" = files ] && [ "$2" -gt 0 ]; then
        ok "the $2 $what tokenize with no invalid scope ($4 tokens)"
    else
        bad "invalid scopes in the $what (exit $rc)"; head -20 "$D/inv.out"
    fi
}
scan ".qlx files of examples/ and stdlib/" $(find examples stdlib -name '*.qlx' ! -name '.*' | sort)
mkdir -p "$D/doc"
for doc in README.md docs/*.md; do
    awk -v dir="$D/doc" -v base="$(basename "$doc" .md)" '
        /^```qlx(-fragment)?[ \t]*$/ { inb = 1; n++; file = sprintf("%s/%s_%02d.qlx", dir, base, n); next }
        /^```/ { if (inb) close(file); inb = 0; next }
        inb { print > file }' "$doc"
done
scan "qlx blocks of README.md and docs/ and the editor samples" "$D"/doc/*.qlx tests/editors/sample.qlx tests/editors/vscode/*.qlx
# and the scan can fail: a misspelt record and an unclosed string are invalid
printf '$PROBLEM x\n$THET\n  a = 1\n$DATA "d.csv\n' >"$D/broken.qlx"
node $TOK invalid "$D/broken.qlx" >"$D/broken.out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "broken.qlx:2:1: '\$THET' .*invalid" "$D/broken.out" &&
    grep -q "broken.qlx:4:7: '\"d.csv' .*invalid" "$D/broken.out" &&
    ok "a misspelt record (\$THET) and an unclosed string are marked invalid" ||
    { bad "the invalid scan on a broken model (exit $rc)"; cat "$D/broken.out"; }

# --- snippets: each, filled with its defaults, parses; the model checks ----------
node $TOK snippets $V/snippets/qlx.json "$D/snip" >"$D/snip.out" 2>&1; rc=$?
if [ $rc != 0 ]; then
    bad "snippets (exit $rc)"; grep -v "$D" "$D/snip.out"
else
    have=$(node -e 'const s = require(process.argv[1]); console.log(Object.values(s).map((x) => [].concat(x.prefix).join(" ")).join(" "))' "$PWD/$V/snippets/qlx.json")
    want="model \$THETA \$OMEGA \$PK \$DES \$ERROR \$ESTIMATION \$TABLE \$SIMULATION"
    miss=; for w in $want; do case " $have " in *" $w "*) ;; *) miss="$miss $w" ;; esac; done
    [ -z "$miss" ] && ok "snippets for a whole model and for $(echo "$want" | cut -d' ' -f2-)" ||
        bad "no snippet with the prefix:$miss"
    while IFS="$(printf '\t')" read -r key f; do
        case $key in
        model)  how="qlxc check"
                "$QLXC" check "$f" >"$D/s.out" 2>&1 ;;
        ddt)    how="qlxc fmt - (inside \$DES)"
                { echo '$DES'; cat "$f"; } | "$QLXC" fmt - >"$D/s.out" 2>&1 ;;
        if)     how="qlxc fmt - (inside \$PK)"
                { echo '$PK'; cat "$f"; } | "$QLXC" fmt - >"$D/s.out" 2>&1 ;;
        *)      how="qlxc fmt -"
                "$QLXC" fmt - <"$f" >"$D/s.out" 2>&1 ;;
        esac
        rc=$?
        [ $rc = 0 ] && ok "snippet '$key', filled with its defaults, passes $how" ||
            { bad "snippet '$key', filled with its defaults, fails $how (exit $rc)"; cat "$f" "$D/s.out"; }
    done <"$D/snip.out"
fi

# --- folding: each record with an indented body folds; so does a ;region ----------
node $TOK fold tests/editors/sample.qlx >"$D/fold.out" 2>&1
awk 'function flush() { if (rec && ind && last > rec) print rec "\t" last }
     /^\$/ { flush(); rec = NR; last = NR; first = 1; ind = 0; next }
     /^[ \t]*$/ { next }
     { if (first) ind = /^[ \t]/; first = 0; last = NR }
     END { flush() }' tests/editors/sample.qlx >"$D/fold.want"
n=$(wc -l <"$D/fold.want")
[ "$n" -ge 3 ] && [ -z "$(grep -vxFf "$D/fold.out" "$D/fold.want")" ] &&
    ok "the $n records of sample.qlx with an indented body fold from their \$ line to their last line" ||
    { bad "folding by record"; echo "  want:"; cat "$D/fold.want"; echo "  got:"; cat "$D/fold.out"; }
node $TOK fold tests/editors/vscode/extra.qlx | grep -qx "$(printf '11\t22')" &&
    ok "a ; region ... ; endregion pair folds" || bad "the ; region marker does not fold (extra.qlx 11-22)"
fi
true
