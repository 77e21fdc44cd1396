//! The output format of the commands that print results (`replay`, `report`'s siblings,
//! `sizes`).

use clap::ValueEnum;

/// How results are printed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned text for people.
    Table,
    /// JSON: an array with one object per configuration.
    Json,
    /// CSV with a header row.
    Csv,
}
