//! `roomcore-bench` binary: parses the command line and runs one scenario or the report
//! (everything lives in the library; see `lib.rs`).

use clap::Parser;

fn main() {
    let cli = roomcore_bench::cli::Cli::parse();
    roomcore_bench::procstat::prepare_process();
    if let Err(e) = roomcore_bench::cli::run(cli) {
        eprintln!("roomcore-bench: {e}");
        std::process::exit(1);
    }
}
