//! The subcommands that replay a trace: `replay` and `report`.

pub mod replay;
pub mod report;
