//! One module per subcommand: its arguments and what it does.

#[cfg(target_os = "linux")]
pub mod collect;
pub mod compare;
pub mod convert;
pub mod gen;
pub mod import;
pub mod replay;
pub mod report;
pub mod sizes;
