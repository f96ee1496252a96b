#!/usr/bin/env node
// tokenize.js -- the VS Code grammar of .qlx, run by VS Code's own tokenizer.
//
// vscode-textmate is the TextMate engine of VS Code and vscode-oniguruma its
// regular expressions (onig.wasm), so what this script prints is what the
// editor colours: no editor, no network, only node_modules of this folder
// (npm ci, run by make deps).
//
//   node tokenize.js [--grammar G] dump [--json] FILE...
//       every token: file, line, column (both 1-based), text, scopes (TSV)
//   node tokenize.js [--grammar G] expect FILE SPEC
//       SPEC holds lines "LINE<TAB>TEXT<TAB>SCOPE[<TAB>NTH]": the NTH (1 by
//       default) occurrence of TEXT on LINE of FILE must lie in tokens that
//       all have a scope containing SCOPE (none, for !SCOPE).  Prints "ok<TAB>what" or
//       "FAIL<TAB>what: the scopes found" per line; exit 1 if any failed.
//   node tokenize.js [--grammar G] invalid FILE...
//       every token with a scope containing "invalid", then a last line
//       "files N tokens N invalid N"; exit 1 if any was found.
//   node tokenize.js [--config C] fold FILE
//       the folding ranges VS Code computes from indentation and the
//       markers of language-configuration.json, "START<TAB>END" (1-based)
//   node tokenize.js snippets FILE DIR
//       writes each snippet of the snippets file FILE, its placeholders
//       filled with their defaults, to DIR/KEY.qlx and prints "KEY<TAB>path";
//       exit 1 if a snippet lacks a prefix or body or its body is not
//       snippet syntax (an unescaped $PK would be a variable, not text)
//
// The grammar defaults to editors/vscode/syntaxes/qlx.tmLanguage.json and
// the configuration to editors/vscode/language-configuration.json.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
let grammarPath = path.join(root, 'editors/vscode/syntaxes/qlx.tmLanguage.json');
let configPath = path.join(root, 'editors/vscode/language-configuration.json');

function die(msg) {
    process.stderr.write('tokenize.js: ' + msg + '\n');
    process.exit(2);
}

function lines(file) {
    const text = fs.readFileSync(file, 'utf8');
    const ls = text.split(/\r?\n/);
    if (ls.length && ls[ls.length - 1] === '') ls.pop();
    return ls;
}

async function loadGrammar() {
    let vsctm, onig;
    try {
        vsctm = require('vscode-textmate');
        onig = require('vscode-oniguruma');
    } catch (e) {
        die('vscode-textmate or vscode-oniguruma is missing: run make deps (npm ci in tests/editors)');
    }
    const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm')).buffer;
    const onigLib = onig.loadWASM(wasm).then(() => ({
        createOnigScanner: (patterns) => new onig.OnigScanner(patterns),
        createOnigString: (s) => new onig.OnigString(s),
    }));
    const raw = fs.readFileSync(grammarPath, 'utf8');
    const scopeName = JSON.parse(raw).scopeName;
    const registry = new vsctm.Registry({
        onigLib,
        loadGrammar: async (scope) =>
            scope === scopeName ? vsctm.parseRawGrammar(raw, grammarPath) : null,
    });
    const grammar = await registry.loadGrammar(scopeName);
    if (!grammar) die('cannot load ' + grammarPath);
    return { grammar, INITIAL: vsctm.INITIAL };
}

// Every token of a file: { line, col, text, scopes } with 1-based line and
// column.  A line the engine gave up on (its time limit) is an error: the
// colours after it would be wrong.
function tokenize(g, file) {
    const out = [];
    let stack = g.INITIAL;
    lines(file).forEach((text, i) => {
        const r = g.grammar.tokenizeLine(text, stack, 1000);
        if (r.stoppedEarly) die(`${file}:${i + 1}: the tokenizer stopped early (a slow pattern)`);
        for (const t of r.tokens) {
            const end = Math.min(t.endIndex, text.length);
            if (end <= t.startIndex) continue;   // the empty token of an empty line
            out.push({ line: i + 1, col: t.startIndex + 1, text: text.slice(t.startIndex, end),
                       scopes: t.scopes });
        }
        stack = r.ruleStack;
    });
    return out;
}

async function dump(args) {
    const json = args[0] === '--json';
    if (json) args = args.slice(1);
    const g = await loadGrammar();
    const all = [];
    for (const f of args) {
        for (const t of tokenize(g, f)) {
            if (json) all.push(Object.assign({ file: f }, t));
            else console.log([f, t.line, t.col, JSON.stringify(t.text), t.scopes.join(' ')].join('\t'));
        }
    }
    if (json) console.log(JSON.stringify(all, null, 1));
}

async function expect(file, spec) {
    const g = await loadGrammar();
    const toks = tokenize(g, file);
    const src = lines(file);
    let failed = 0;
    for (const row of lines(spec)) {
        if (row === '' || row.startsWith('#')) continue;
        const [ln, find, scope, nth = '1'] = row.split('\t');
        const what = `line ${ln} '${find}' is ${scope}` + (nth !== '1' ? ` (occurrence ${nth})` : '');
        const text = src[Number(ln) - 1];
        let col = -1;
        for (let k = 0; text !== undefined && k < Number(nth); k++) {
            col = text.indexOf(find, col + 1);
            if (col < 0) break;
        }
        if (!find || !scope || col < 0) {
            failed++;
            console.log(`FAIL\t${what}: not found in ${file}`);
            continue;
        }
        // the tokens that overlap the text found
        const over = toks.filter((t) => t.line === Number(ln) &&
            t.col - 1 < col + find.length && t.col - 1 + t.text.length > col);
        // SCOPE: every token has it; !SCOPE: no token has it
        const neg = scope.startsWith('!');
        const want = neg ? scope.slice(1) : scope;
        const bad = over.filter((t) => t.scopes.some((s) => s.includes(want)) === neg);
        if (over.length && !bad.length) {
            console.log(`ok\t${what}`);
        } else {
            failed++;
            console.log(`FAIL\t${what}: ` +
                over.map((t) => `'${t.text}' ${t.scopes.slice(1).join(' ')}`).join('; '));
        }
    }
    process.exitCode = failed ? 1 : 0;
}

async function invalid(files) {
    const g = await loadGrammar();
    let ntok = 0, nbad = 0;
    for (const f of files) {
        for (const t of tokenize(g, f)) {
            ntok++;
            if (t.scopes.some((s) => s.includes('invalid'))) {
                nbad++;
                console.log(`${f}:${t.line}:${t.col}: '${t.text}' ${t.scopes.join(' ')}`);
            }
        }
    }
    console.log(`files ${files.length} tokens ${ntok} invalid ${nbad}`);
    process.exitCode = nbad ? 1 : 0;
}

// VS Code's indentation folding with the configuration's offSide and
// markers (the algorithm of its IndentRangeProvider, written afresh): lines
// are read bottom up; a deeper-indented run below a line folds into it; an
// end marker opens a region that the nearest start marker above closes.
function fold(file) {
    let cfg;
    try {
        cfg = JSON.parse(fs.readFileSync(configPath, 'utf8'));
    } catch (e) {
        die(configPath + ': ' + e.message);
    }
    const rules = cfg.folding || {};
    const offSide = !!rules.offSide;
    const start = rules.markers && new RegExp(rules.markers.start);
    const end = rules.markers && new RegExp(rules.markers.end);
    const src = lines(file);
    const indentOf = (s) => {
        let n = 0;
        for (const c of s) {
            if (c === ' ') n++;
            else if (c === '\t') n += 4 - (n % 4);
            else return n;
        }
        return -1;                               // blank
    };
    const ranges = [];
    const stack = [{ indent: -1, endAbove: src.length + 1, line: src.length + 1 }];
    for (let ln = src.length; ln > 0; ln--) {
        const s = src[ln - 1];
        const indent = indentOf(s);
        let top = stack[stack.length - 1];
        if (indent < 0) {
            if (offSide) top.endAbove = ln;
            continue;
        }
        if (start && start.test(s)) {
            let i = stack.length - 1;
            while (i > 0 && stack[i].indent !== -2) i--;
            if (i > 0) {
                stack.length = i + 1;
                ranges.push([ln, stack[i].line]);
                Object.assign(stack[i], { line: ln, indent, endAbove: ln });
                continue;
            }
        } else if (end && end.test(s)) {
            stack.push({ indent: -2, endAbove: ln, line: ln });
            continue;
        }
        if (top.indent > indent) {
            do { stack.pop(); top = stack[stack.length - 1]; } while (top.indent > indent);
            if (top.endAbove - 1 - ln >= 1) ranges.push([ln, top.endAbove - 1]);
        }
        if (top.indent === indent) top.endAbove = ln;
        else stack.push({ indent, endAbove: ln, line: ln });
    }
    ranges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    for (const [a, b] of ranges) console.log(`${a}\t${b}`);
}

// A snippet body as VS Code would insert it with every placeholder left at
// its default: ${1:x} -> x (nested), ${1|a,b|} -> a, $1 ${1} $0 -> nothing;
// \\$ \\} \\\\ are the escapes.  Variables ($NAME, ${NAME}) are refused:
// these snippets use none, so one is a record name missing its backslash.
function expandSnippet(body) {
    let i = 0;
    const fail = (msg) => { throw new Error(`${msg} at offset ${i} of ${JSON.stringify(body)}`); };
    function seq(stop) {                 // text up to an unescaped char of stop
        let out = '';
        while (i < body.length && !stop.includes(body[i])) {
            const c = body[i];
            if (c === '\\' && i + 1 < body.length && '$}\\,|'.includes(body[i + 1])) {
                out += body[i + 1]; i += 2;
            } else if (c === '$') {
                out += dollar();
            } else {
                out += c; i++;
            }
        }
        return out;
    }
    function dollar() {
        i++;                                      // the '$'
        let m = /^\d+/.exec(body.slice(i));
        if (m) { i += m[0].length; return ''; }   // $1, $0
        if (body[i] !== '{') fail('a variable or a bare $ (write \\\\$ for a record)');
        i++;
        m = /^\d+/.exec(body.slice(i));
        if (!m) fail('a variable ${NAME}');
        i += m[0].length;
        if (body[i] === '}') { i++; return ''; }  // ${1}
        if (body[i] === ':') {                    // ${1:default}
            i++;
            const d = seq('}');
            if (body[i] !== '}') fail('an unclosed placeholder');
            i++;
            return d;
        }
        if (body[i] === '|') {                    // ${1|a,b|}
            i++;
            const first = seq(',|');
            while (i < body.length && body[i] !== '|') { i++; seq(',|'); }
            if (body.slice(i, i + 2) !== '|}') fail('an unclosed choice');
            i += 2;
            return first;
        }
        fail('a malformed placeholder');
    }
    const out = seq('');
    return out;
}

function snippets(file, dir) {
    let s;
    try {
        s = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
        die(file + ': ' + e.message);
    }
    let bad = 0;
    fs.mkdirSync(dir, { recursive: true });
    for (const [key, sn] of Object.entries(s)) {
        try {
            const prefixes = [].concat(sn.prefix || []);
            if (!prefixes.length || prefixes.some((p) => typeof p !== 'string' || !p))
                throw new Error('no prefix');
            if (typeof sn.description !== 'string' || !sn.description) throw new Error('no description');
            const body = [].concat(sn.body || []);
            if (!body.length) throw new Error('no body');
            const text = expandSnippet(body.join('\n'));
            const out = path.join(dir, key.replace(/[^A-Za-z0-9_]+/g, '_') + '.qlx');
            fs.writeFileSync(out, text.endsWith('\n') ? text : text + '\n');
            console.log(`${key}\t${out}`);
        } catch (e) {
            bad++;
            console.log(`FAIL\t${key}: ${e.message}`);
        }
    }
    process.exitCode = bad ? 1 : 0;
}

async function main() {
    let args = process.argv.slice(2);
    while (args[0] === '--grammar' || args[0] === '--config') {
        if (args.length < 2) die(args[0] + ' needs a path');
        if (args[0] === '--grammar') grammarPath = path.resolve(args[1]);
        else configPath = path.resolve(args[1]);
        args = args.slice(2);
    }
    const [mode, ...rest] = args;
    if (mode === 'dump' && rest.length) return dump(rest);
    if (mode === 'expect' && rest.length === 2) return expect(rest[0], rest[1]);
    if (mode === 'invalid' && rest.length) return invalid(rest);
    if (mode === 'fold' && rest.length === 1) return fold(rest[0]);
    if (mode === 'snippets' && rest.length === 2) return snippets(rest[0], rest[1]);
    die('usage: tokenize.js [--grammar G] [--config C] dump [--json] FILE... | ' +
        'expect FILE SPEC | invalid FILE... | fold FILE | snippets FILE DIR');
}

main().catch((e) => die(e.stack || String(e)));
