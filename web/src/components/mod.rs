//! One component per file.

pub mod controls;
pub mod provenance;
pub mod results_table;
