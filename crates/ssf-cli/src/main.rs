//! The `ssf` command: keys and SETs from the command line (see `ssf --help`).

mod caep;
mod cli;
mod input;
mod keys;
mod set;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
        Err(e) => e.exit(),
    };
    ssf_jose::install_crypto_provider();
    let result = match cli.command {
        Command::Keys(cmd) => keys::run(cmd),
        Command::Set(cmd) => set::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}
