// Starts `settle lsp` for `.settle` files: diagnostics as `settle check` reports them, hover,
// go to definition, references, outline, completion, formatting and semantic highlighting.

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration('settle').get('path') || 'settle';
  const server = { command, args: ['lsp'] };
  const options = {
    documentSelector: [
      { scheme: 'file', language: 'settle' },
      { scheme: 'untitled', language: 'settle' },
    ],
  };
  client = new LanguageClient('settle', 'settle', server, options);
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
