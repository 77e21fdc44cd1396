//! The exit statuses rmaplab uses besides 0 (success), 1 (an error: its message on stderr) and
//! 2 (bad arguments, from clap).

use std::process::ExitCode;

/// `--strict` refused the result: counters not reproduced, figures not exact, events lost.
pub const REFUSED: u8 = 3;
/// Interrupted (Ctrl-C), as shells report SIGINT (128 + 2).
pub const INTERRUPTED: u8 = 130;

/// [`REFUSED`] as an exit code.
pub fn refused() -> ExitCode {
    ExitCode::from(REFUSED)
}

/// [`INTERRUPTED`] as an exit code.
pub fn interrupted() -> ExitCode {
    ExitCode::from(INTERRUPTED)
}
