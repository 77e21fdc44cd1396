//! One component per file; `chart` holds the shared SVG helpers and `field` the form-field
//! reading.

pub mod chart;
pub mod chart_labels;
pub mod comparison;
pub mod controls;
pub mod examples_menu;
pub mod export;
pub mod field;
pub mod histogram_chart;
pub mod how_to_capture;
pub mod loader;
pub mod memory_chart;
pub mod provenance;
pub mod recommendation;
pub mod results_table;
pub mod seed_check;
pub mod stepper;
pub mod tradeoff_chart;
pub mod trust_line;
pub mod vcpus_chart;
pub mod verdict;
