//! `datacollect-bench`: see the library documentation and `docs/benchmarks.md`.

use std::process::ExitCode;

use clap::Parser;
use datacollect_bench::cli::{run, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("datacollect-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("datacollect-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
