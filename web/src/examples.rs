//! The examples menu: the default trace, a fork storm, an alias past the recycle threshold and a
//! real trace-cmd capture. Generated examples are made by core's generator on demand, so they
//! cost nothing until chosen; the share link names an example instead of carrying it.

use crate::state::{DEFAULT_TRACE, DEFAULT_TRACE_NAME};
use rmaplab_core::gen::{generate_vec, meta_for, GenOptions, Workload};
use rmaplab_core::trace::binary::encode_all;

/// `trace-cmd report -R` of a fork storm recorded on a shadow-paging host while `rmaplab
/// collect` recorded the same run (see `core/tests/fixtures/captures/README.md`).
const TRACE_CMD_FORK: &[u8] =
    include_bytes!("../../core/tests/fixtures/captures/tc-fork16v2.report-R.txt.gz");

/// One entry of the menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Example {
    /// Its name in links (`example=NAME`).
    pub key: &'static str,
    /// What the menu says.
    pub title: &'static str,
}

/// The menu, in order.
pub const EXAMPLES: [Example; 4] = [
    Example {
        key: "default",
        title: "the default trace (spread, captured with rmaplab collect)",
    },
    Example {
        key: "fork",
        title: "a fork storm (48 address spaces sharing 200 pages, generated)",
    },
    Example {
        key: "alias1500",
        title: "one page mapped 1500 times: past the recycle threshold (generated)",
    },
    Example {
        key: "trace-cmd-fork",
        title: "a real trace-cmd capture of a fork storm (trace-cmd report -R text)",
    },
];

fn generated(w: &Workload, vcpus: u32) -> Vec<u8> {
    let o = GenOptions { vcpus, seed: 1 };
    encode_all(&meta_for(w, &o, "rmaplab playground"), &generate_vec(w, &o))
}

/// The example's file name and bytes, or `None` for an unknown key.
pub fn example(key: &str) -> Option<(String, Vec<u8>)> {
    Some(match key {
        "default" => (DEFAULT_TRACE_NAME.to_string(), DEFAULT_TRACE.to_vec()),
        "fork" => (
            "example: fork storm (generated)".to_string(),
            generated(
                &Workload::Fork {
                    procs: 48,
                    pages: 200,
                    private: 24,
                },
                4,
            ),
        ),
        "alias1500" => (
            "example: alias past the recycle threshold (generated)".to_string(),
            generated(&Workload::Alias { aliases: 1500 }, 1),
        ),
        "trace-cmd-fork" => (
            "example: tc-fork16v2.report-R.txt.gz (real trace-cmd capture)".to_string(),
            TRACE_CMD_FORK.to_vec(),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_decodes() {
        for e in EXAMPLES {
            let (_, bytes) = example(e.key).unwrap();
            assert!(!bytes.is_empty(), "{}", e.key);
        }
        assert!(example("nope").is_none());
    }
}
