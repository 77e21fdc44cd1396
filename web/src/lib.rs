//! The rmaplab playground (Yew): replays a trace through many `pte_list_desc` configurations
//! in a web worker and compares them side by side. All computation is `rmaplab-core`'s.

pub mod app;
pub mod client;
pub mod components;
pub mod downloads;
pub mod examples;
pub mod file_blocks;
pub mod hooks;
pub mod protocol;
pub mod settings;
pub mod share;
pub mod state;
pub mod worker;
#[cfg(target_arch = "wasm32")]
pub mod worker_glue;
