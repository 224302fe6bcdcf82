// Starts `settle lsp` for `.settle` files: diagnostics as `settle check` reports them with
// quick fixes, hover, go to definition, references, rename, outline, completion, signature
// help, inlay hints, lenses that run a test, formatting (on save by default) and semantic
// highlighting. `settle: Restart the language server` restarts it (after rebuilding `settle`,
// say); `settle.trace.server` logs the protocol. The server asks the client to watch the
// policy files on disk, so that editing a base re-checks the open policies extending it.

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

function start() {
  const command = vscode.workspace.getConfiguration('settle').get('path') || 'settle';
  const server = { command, args: ['lsp'] };
  const options = {
    documentSelector: [
      { scheme: 'file', language: 'settle' },
      { scheme: 'untitled', language: 'settle' },
    ],
  };
  // The client reads `settle.trace.server` itself: its id is `settle`.
  client = new LanguageClient('settle', 'settle', server, options);
  return client.start();
}

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('settle.restartServer', async () => {
      if (client) {
        await client.stop();
      }
      await start();
    }),
    { dispose: () => (client ? client.stop() : undefined) },
  );
  return start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
