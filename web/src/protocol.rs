//! Messages between the page and the replay worker (encoded with serde-wasm-bindgen). The trace
//! travels beside the request: the embedded default trace as a `Uint8Array` (`bytes`), a user's
//! file as its `File` handle (`file`, which the worker reads in slices); an exported trace comes
//! back as a transferred `Uint8Array` (`exported`).

use rmaplab_core::config::ConfigRequest;
use rmaplab_core::replay::ReplaySummary;
use rmaplab_core::Event;
use serde::{Deserialize, Serialize};

/// What the page asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Replay the attached trace through the configurations asked for (resolved against the
    /// trace's header: the seed's rule needs its `tdp`), KVM today, and the recommendation's
    /// candidates.
    Replay {
        /// What to compare.
        request: ConfigRequest,
        /// Whether TDP was on, overriding the trace's metadata (`None`: as the trace says).
        tdp: Option<bool>,
        /// Keep one VM of a kvmmmu capture (its VMM's pid or a thread id).
        vm: Option<u64>,
        /// Hash the whole trace before answering (a link names the file by hash: it is checked
        /// before its results are shown); otherwise a large trace is hashed after.
        hash_all: bool,
    },
    /// Return the events of one rmap (for stepping through it), at most `limit`.
    Focus {
        /// The rmap id.
        rmap: u64,
        /// Most events returned.
        limit: usize,
        /// The VM kept, as in the replay.
        vm: Option<u64>,
    },
    /// Re-encode the trace as rmaplab binary (for download).
    Export {
        /// The VM kept, as in the replay.
        vm: Option<u64>,
    },
}

/// An rmap worth stepping through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongRmap {
    /// Its id.
    pub rmap: u64,
    /// Its gfn when known.
    pub gfn: Option<u64>,
    /// Its largest size in the trace.
    pub peak: u64,
    /// Events that touched it.
    pub events: u64,
}

/// What the worker answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// The worker's handler is installed (messages sent before this would be lost).
    Ready,
    /// Bytes decoded so far.
    Progress {
        /// Done.
        done: u64,
        /// Total.
        total: u64,
    },
    /// The replay finished.
    Done {
        /// Results.
        summary: Box<ReplaySummary>,
        /// How many of the first configurations were asked for (plus KVM today); the rest are
        /// the recommendation's candidates.
        shown: usize,
        /// The trace's hash (and bytes, when small) for share links; `None` for a large trace
        /// (its hash comes with [`Response::Candidates`]).
        shared: Option<crate::share::SharedTrace>,
        /// A second pass follows ([`Response::Candidates`]): the recommendation's candidates,
        /// and the hash of a large trace.
        candidates_pending: bool,
        /// Longest rmaps, longest first.
        longest: Vec<LongRmap>,
        /// Encoding detected.
        encoding: String,
    },
    /// The recommendation's candidates, replayed after the results (a second pass, so the
    /// results need not wait for them).
    Candidates {
        /// Their reports.
        configs: Vec<rmaplab_core::ConfigReport>,
        /// The trace's SHA-256, when the first pass did not take it.
        sha256: Option<String>,
    },
    /// The events of the requested rmap.
    Focused {
        /// The rmap.
        rmap: u64,
        /// Its events in order.
        events: Vec<FocusEvent>,
        /// True when more events existed than the limit.
        truncated: bool,
    },
    /// The trace as rmaplab binary (posted as a transferred `Uint8Array`, not through serde).
    Exported(Vec<u8>),
    /// Something failed; the message says where and what to do.
    Failed(String),
}

/// An rmap event (the serde-able subset of [`Event`] the stepper needs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FocusEvent {
    /// Add of an SPTE.
    Add(u64),
    /// Remove of an SPTE.
    Remove(u64),
    /// Whole-list zap.
    Zap,
}

impl FocusEvent {
    /// The focus event for `ev` if it concerns `rmap`.
    pub fn of(ev: &Event, rmap: u64) -> Option<Self> {
        use rmaplab_core::EventKind;
        match ev.kind {
            EventKind::Add { rmap: r, spte } if r == rmap => Some(FocusEvent::Add(spte)),
            EventKind::Remove { rmap: r, spte } if r == rmap => Some(FocusEvent::Remove(spte)),
            EventKind::Zap { rmap: r } if r == rmap => Some(FocusEvent::Zap),
            _ => None,
        }
    }
}

/// Encode a message for `postMessage`. 64-bit integers beyond 2^53 (rmap ids of large pages,
/// raw addresses) travel as `BigInt`s so nothing is rounded.
pub fn to_js<T: Serialize>(v: &T) -> Result<wasm_bindgen::JsValue, String> {
    let ser = serde_wasm_bindgen::Serializer::new().serialize_large_number_types_as_bigints(true);
    v.serialize(&ser).map_err(|e| e.to_string())
}

/// Decode a message from `postMessage`.
pub fn from_js<T: serde::de::DeserializeOwned>(v: wasm_bindgen::JsValue) -> Result<T, String> {
    serde_wasm_bindgen::from_value(v).map_err(|e| e.to_string())
}
