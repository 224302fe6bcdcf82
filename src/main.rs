//! `settle`: check, format, test, run and explain medical-insurance reimbursement policies.

mod cli;
mod coverage;
mod encoding;
mod files;
mod lsp;
mod report;
mod run;
mod serve;

use std::process::ExitCode;

fn main() -> ExitCode {
    // On Ctrl-C or SIGTERM, remove any output still being written, then stop: the output path
    // keeps its previous content or stays absent.
    let _ = ctrlc::set_handler(|| {
        settle_runtime::io::remove_partial_files();
        std::process::exit(130);
    });
    cli::main()
}
