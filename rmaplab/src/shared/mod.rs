//! What two or more commands share, each in its own room, so that the commands in
//! [`crate::commands`] are leaves that never import each other: the exit statuses, the output format, the capture options and checks,
//! the replay's command-line arguments, reading and replaying a trace, and writing traces.

pub mod capture_args;
pub mod exit;
pub mod format;
pub mod replay_args;
pub mod replay_run;
pub mod trace_writer;
