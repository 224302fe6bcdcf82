//! `settle`: check, format, test, run and explain medical-insurance reimbursement policies.

mod cli;
mod coverage;
mod encoding;
mod files;
mod lsp;
mod parquet;
mod period;
mod report;
mod run;
mod serve;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
