//! `secura-sniffer`: the presence daemon, and the `scan`/`replay`/`probe` commands.

use clap::Parser;

fn main() -> std::process::ExitCode {
    secura_sniffer::cli::run(secura_sniffer::cli::Cli::parse())
}
