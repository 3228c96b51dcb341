//! The `cutover` binary: parses the command line and hands over to `cutover::cli`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    cutover::cli::main(cutover::cli::Cli::parse())
}
