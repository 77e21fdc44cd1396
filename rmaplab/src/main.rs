//! `rmaplab`: replay KVM rmap traces through many `pte_list_desc` configurations, convert
//! between trace encodings, generate synthetic traces and print the seed patch's arithmetic.

/// Write to stdout; a closed pipe (e.g. `| head`) ends the program quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut so = std::io::stdout().lock();
        if let Err(e) = write!(so, $($arg)*).and_then(|_| so.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

macro_rules! outln {
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

mod cli;
#[cfg(target_os = "linux")]
mod collect;
mod commands;
mod input;
mod interrupt;
mod output;
mod parallel;
mod render;
mod shared;
mod zstd_frames;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = interrupt::install() {
        eprintln!("warning: cannot install the Ctrl-C handler: {e}");
    }
    let r = match &cli.cmd {
        Command::Replay(a) => commands::replay::replay(a),
        Command::Report(a) => commands::report::report(a),
        Command::Compare(a) => commands::compare::compare(a),
        Command::Convert(a) => commands::convert::convert(a),
        Command::Sizes(a) => commands::sizes::sizes_cmd(a),
        Command::Gen(a) => commands::gen::gen_cmd(a),
        Command::Import(a) => commands::import::import(a),
        #[cfg(target_os = "linux")]
        Command::Collect(a) => commands::collect::collect_cmd(a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<input::InputError>()
                .is_some_and(|i| matches!(i, input::InputError::Interrupted))
            {
                eprintln!("interrupted; no output file was written");
                return shared::exit::interrupted();
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
