// Compiles the TextMate grammar as VS Code does (vscode-textmate over the Oniguruma engine)
// and tokenizes a file with it, for tests/editors.rs.
//
//   node test/grammar.js <file>
//
// Prints JSON: `regexes`, how many patterns compiled; `errors`, the patterns Oniguruma refused
// with its message; `lines`, each line's tokens as [text, innermost scope].

const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const grammarPath = path.join(__dirname, '..', 'syntaxes', 'settle.tmLanguage.json');

function patterns(node, out) {
  if (Array.isArray(node)) {
    node.forEach((n) => patterns(n, out));
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'match' || key === 'begin' || key === 'end') && typeof value === 'string') {
        out.push(value);
      } else {
        patterns(value, out);
      }
    }
  }
  return out;
}

async function main() {
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve('vscode-oniguruma')), 'onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const onigLib = Promise.resolve({
    createOnigScanner: (sources) => new oniguruma.OnigScanner(sources),
    createOnigString: (s) => new oniguruma.OnigString(s),
  });
  const text = fs.readFileSync(grammarPath, 'utf8');
  const errors = [];
  const all = patterns(JSON.parse(text), []);
  for (const source of all) {
    try {
      new oniguruma.OnigScanner([source]).dispose();
    } catch (e) {
      errors.push([source, String(e.message || e)]);
    }
  }
  const registry = new vsctm.Registry({
    onigLib,
    loadGrammar: async (scope) =>
      scope === 'source.settle' ? vsctm.parseRawGrammar(text, grammarPath) : null,
  });
  const grammar = await registry.loadGrammar('source.settle');
  const lines = [];
  let stack = vsctm.INITIAL;
  for (const line of fs.readFileSync(process.argv[2], 'utf8').split('\n')) {
    const result = grammar.tokenizeLine(line, stack);
    lines.push(result.tokens.map((t) => [line.slice(t.startIndex, t.endIndex), t.scopes[t.scopes.length - 1]]));
    stack = result.ruleStack;
  }
  process.stdout.write(JSON.stringify({ regexes: all.length, errors, lines }));
}

main().catch((e) => {
  process.stderr.write(String(e.stack || e));
  process.exit(1);
});
