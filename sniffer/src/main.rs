//! `secura-sniffer`: the presence daemon, and the `scan`/`replay`/`probe` commands.

use clap::Parser;
use secura_sniffer::cli::{Cli, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    secura_bus::cli::init_logging("sniffer", cli.common.debug);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("secura-sniffer: {e}");
            e.exit_code()
        }
    }
}
