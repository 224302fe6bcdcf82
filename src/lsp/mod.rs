//! `settle lsp`: the language server editors start, over standard input and output.
//!
//! Diagnostics are `settle check`'s, published on open and once edits pause; hover, go to
//! definition, references, rename, the outline, completion, signature help, quick fixes,
//! inlay hints, lenses that run tests, formatting (`settle fmt`'s) and semantic tokens work
//! from the front end's result and its name index (`settle_lang::ide::index`).

mod actions;
mod analysis;
mod completion;
mod convert;
mod diagnostics;
mod hints;
mod hover;
mod lenses;
mod navigation;
mod rename;
mod server;
mod signature;
mod tokens;

#[cfg(test)]
mod tests;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use lsp_server::Connection;
use settle_lang::date::Date;

use crate::cli::EXIT_USAGE;

/// Serve the editor on standard input and output until it shuts the server down.
pub fn main() -> ExitCode {
    let (connection, io_threads) = Connection::stdio();
    let served = server::serve(&connection, today());
    drop(connection);
    let joined = io_threads.join();
    match (served, joined) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Err(e), _) => {
            eprintln!("error: the language server stopped: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        (_, Err(e)) => {
            eprintln!("error: the editor's connection failed: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Today's date (UTC), which decides the parameter values hovers mark as in force.
fn today() -> Date {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    Date(i32::try_from(days).unwrap_or(i32::MAX))
}
