//! Messages between the page and the replay worker (encoded with serde-wasm-bindgen). The trace
//! travels beside the request: the embedded default trace as a `Uint8Array` (`bytes`), a user's
//! file as its `File` handle (`file`, which the worker reads in slices); an exported trace comes
//! back as a transferred `Uint8Array` (`exported`).

use rmaplab_core::config::ConfigRequest;
use rmaplab_core::replay::ReplayPart;
#[cfg(doc)]
use rmaplab_core::replay::ReplaySummary;
use rmaplab_core::trace::{RmapId, SpteId};
use rmaplab_core::Event;
use serde::{Deserialize, Serialize};

// The message envelope between the page and a worker: its keys, named once for both sides.
/// Key of the page's [`Request`] (serde-encoded).
pub const REQ: &str = "req";
/// Key of the trace's bytes (a `Uint8Array`: the embedded default trace, an example).
pub const TRACE_BYTES: &str = "bytes";
/// Key of the user's `File` handle (the worker reads it by offset).
pub const TRACE_FILE: &str = "file";
/// Key of an exported trace's bytes (a transferred `Uint8Array`, not serde).
pub const EXPORTED: &str = "exported";
/// Key of the message that carries a [`Response::Plan`] with a kept import beside it.
pub const PLAN: &str = "plan";
/// Key of a kept import's bytes (a `Uint8Array`), from the leader to the page and from the
/// page to the other workers.
pub const KEPT_BYTES: &str = "kept";
/// Key of a kept import's [`KeptMeta`].
pub const KEPT_META: &str = "kept_meta";

/// What the page asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Replay the attached trace through the configurations asked for (resolved against the
    /// trace's header: the seed's rule needs its `tdp`), KVM today, and the recommendation's
    /// candidates.
    Replay(ReplayJob),
    /// Return the events of one rmap (for stepping through it), at most `limit`.
    Focus {
        /// The rmap to step through (a 4K gfn rmap's id is its gfn).
        rmap: RmapId,
        /// Most events returned (the page's `FOCUS_LIMIT`); the answer says when there were more.
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

/// A replay request: the attached trace through the configurations asked for (resolved against
/// the trace's header: the seed's rule needs its `tdp`), KVM today, and the recommendation's
/// candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayJob {
    /// What to compare.
    pub request: ConfigRequest,
    /// Whether TDP was on, overriding the trace's metadata (`None`: as the trace says).
    pub tdp: Option<bool>,
    /// Keep one VM of a kvmmmu capture (its VMM's pid or a thread id).
    pub vm: Option<u64>,
    /// Hash the whole trace before answering (a link names the file by hash: it is checked
    /// before its results are shown); otherwise a large trace is hashed after.
    pub hash_all: bool,
    /// Whether this worker leads the replay or replays a share the leader chose.
    pub split: Split,
    /// KVM's counters at the end of the run, as the user typed them: replayed as `stat` events
    /// after the trace's last, so the replay is checked against them.
    #[serde(default)]
    pub kvm_stats: Vec<(String, u64)>,
}

/// How a replay is shared between workers. The page sends the request to worker 0 as the
/// leader; once the trace's header says how many configurations there are, the leader answers
/// [`Response::Plan`] and goes on with its share, and the page sends the other shares to as
/// many more workers (none when there are fewer configurations than that, so a small request
/// never has idle workers reading the trace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// Worker 0: share the replay among at most `workers` workers, itself included.
    Lead {
        /// Workers the page has.
        workers: usize,
    },
    /// One share, as the leader's plan gave it.
    Share(Part),
}

/// One worker's share of a replay: the configurations at positions `index`, `index + of`,
/// `index + 2 × of`, … of the list the trace's header resolves to. Worker 0 also finds the
/// longest rmaps, takes the hash for share links and answers the page's other requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// This worker's number, from 0 (the leader).
    pub index: usize,
    /// How many workers share the replay.
    pub of: usize,
}

impl Part {
    /// The whole replay in one worker.
    pub const WHOLE: Part = Part { index: 0, of: 1 };

    /// The positions of this share among `n` configurations (none when `n <= index`).
    pub fn positions(self, n: usize) -> Vec<usize> {
        (self.index..n).step_by(self.of.max(1)).collect()
    }

    /// Whether this is worker 0's share.
    pub fn is_first(self) -> bool {
        self.index == 0
    }

    /// This worker's share of the second pass (the recommendation's candidates): when several
    /// workers share the replay, the last one sits the second pass out, so that a core stays
    /// free for the page to render the results that just arrived.
    pub fn second_pass(self) -> Option<Part> {
        match self.of {
            0 | 1 => Some(Part::WHOLE),
            of if self.index + 1 == of => None,
            of => Some(Part {
                index: self.index,
                of: of - 1,
            }),
        }
    }
}

impl Split {
    /// The share of `configs` configurations this worker replays: the leader's is the first of
    /// `min(workers, configs)`.
    pub fn part(self, configs: usize) -> Part {
        match self {
            Split::Lead { workers } => Part {
                index: 0,
                of: workers.min(configs).max(1),
            },
            Split::Share(p) => p,
        }
    }
}

/// What a kept import is, beside its bytes when it travels from the leader to the other
/// workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptMeta {
    /// The VM choice it was imported with.
    pub vm: Option<u64>,
    /// The original's encoding.
    pub encoding: rmaplab_core::input::Encoding,
}

/// An rmap worth stepping through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongRmap {
    /// Its id in the trace.
    pub rmap: RmapId,
    /// Its gfn when known.
    pub gfn: Option<u64>,
    /// Its largest size in the trace.
    pub peak: u64,
    /// Events that touched it.
    pub events: u64,
}

/// What a worker's pass is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// The configurations asked for (a capture's import passes come first).
    Replay,
    /// The recommendation's candidates (N = 2..16), after the results are shown.
    Recommendation,
}

/// Where the leader's pass stands, for the page's progress display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressReport {
    /// What the pass is for.
    pub phase: Phase,
    /// What the reader does now, in core's words (`reading`, `import: counting`, …).
    pub stage: String,
    /// This pass over the input, from 1.
    pub pass: u32,
    /// Passes over the input in all (a capture's import takes several).
    pub passes: u32,
    /// Bytes of the input read in this pass.
    pub bytes: u64,
    /// Bytes of the input, when known.
    pub of_bytes: Option<u64>,
    /// Events replayed so far.
    pub events: u64,
    /// Whether the pass reads the worker's kept import (no capture is imported again).
    pub kept: bool,
    /// The share of the whole job done, all passes counted: `done` of `total`.
    pub done: u64,
    /// See `done`.
    pub total: u64,
}

impl ProgressReport {
    /// What the pass is doing, in words.
    pub fn label(&self) -> String {
        match self.phase {
            Phase::Recommendation => {
                "working out the recommendation (replaying N = 2..16)".to_string()
            }
            Phase::Replay if self.kept => "replaying the kept import".to_string(),
            Phase::Replay if self.pass < self.passes => {
                format!("{} (pass {} of {})", self.stage, self.pass, self.passes)
            }
            Phase::Replay if self.passes > 1 => format!(
                "{} and replaying (pass {} of {})",
                self.stage, self.pass, self.passes
            ),
            Phase::Replay => "reading and replaying".to_string(),
        }
    }

    /// The share done, 0..=1.
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            (self.done as f64 / self.total as f64).clamp(0.0, 1.0)
        }
    }
}

/// What the worker answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// The worker's handler is installed (messages sent before this would be lost).
    Ready,
    /// The leader's split: `of` workers share the replay (the page starts shares 1 to `of - 1`).
    /// A leader that imports a capture sends it once the import is done, with its kept copy,
    /// so the other workers replay their shares from the copy and the capture is imported once
    /// (a leader that read its kept copy sends the copy too: a worker that missed the import,
    /// or was started after it, gets it).
    Plan {
        /// Workers sharing it, the leader included.
        of: usize,
        /// The leader's kept import, for the shares (it travels beside the message as a
        /// transferred `Uint8Array` and [`KeptMeta`], never through serde).
        #[serde(skip)]
        kept: Option<crate::worker::Kept>,
    },
    /// Where the leader's pass stands.
    Progress(ProgressReport),
    /// This worker's share of the replay finished.
    Done {
        /// Its part of the results (`None` when its share was empty: fewer configurations than
        /// workers); the page assembles the parts with [`ReplaySummary::assemble`].
        part: Option<Box<ReplayPart>>,
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
        /// Encoding detected (the original's, when a kept copy was read).
        encoding: Option<rmaplab_core::input::Encoding>,
        /// Whether this worker imported a capture in this pass (rather than reading rmaplab's
        /// binary or a kept copy): the page counts imports, so a settings change that
        /// imported again would show.
        #[serde(default)]
        imported: bool,
    },
    /// This worker's share of the recommendation's candidates, replayed after the results (a
    /// second pass, so the results need not wait for them).
    Candidates {
        /// Its part of their reports (`None` for an empty share); assembled like `Done`'s.
        part: Option<Box<ReplayPart>>,
        /// The trace's SHA-256, when the first pass did not take it (worker 0 only).
        sha256: Option<String>,
    },
    /// The events of the requested rmap.
    Focused {
        /// The rmap asked for.
        rmap: RmapId,
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

impl Response {
    /// A `Done`'s part, taken out (leaving `None`), with whether a second pass follows and
    /// whether this worker imported a capture; `None` for any other answer.
    pub fn take_done_part(&mut self) -> Option<(Option<Box<ReplayPart>>, bool, bool)> {
        match self {
            Response::Done {
                part,
                candidates_pending,
                imported,
                ..
            } => Some((part.take(), *candidates_pending, *imported)),
            _ => None,
        }
    }
}

/// An rmap event (the serde-able subset of [`Event`] the stepper needs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FocusEvent {
    /// Add of an SPTE.
    Add(SpteId),
    /// Remove of an SPTE.
    Remove(SpteId),
    /// Whole-list zap.
    Zap,
}

impl FocusEvent {
    /// The focus event for `ev` if it concerns `rmap`.
    pub fn of(ev: &Event, rmap: RmapId) -> Option<Self> {
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
