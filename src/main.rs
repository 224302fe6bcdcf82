//! `settle`: check, format, test, run and explain medical-insurance reimbursement policies.

mod cli;
mod files;
mod lsp;
mod run;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
