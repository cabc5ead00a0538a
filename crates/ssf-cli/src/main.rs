//! The `ssf` command: keys and SETs from the command line, `ssf serve` (transmitter, receiver
//! with enforcement, ticket bridge), `ssf jit` (the bridge's operator commands), and clients
//! for any transmitter (`ssf emit`, `ssf stream`, `ssf tail`); see `ssf --help`.

mod caep;
mod cli;
mod demo;
mod emit;
mod input;
mod jit;
mod keys;
mod migrate;
mod remote;
mod serve;
mod set;
mod stream;
mod tail;

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
        Command::Serve(args) => serve::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Emit(args) => emit::run(args),
        Command::Stream(cmd) => stream::run(cmd),
        Command::Tail(args) => tail::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Jit(args) => jit::run(args),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}
