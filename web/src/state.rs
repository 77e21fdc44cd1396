//! Application state as a [`Reducible`]: the chosen configurations and the latest results.

use rmaplab_core::config::{parse_entries_list, parse_era_list};
use rmaplab_core::replay::{config_matrix, ReplayOptions, ReplaySummary, Replayer};
use rmaplab_core::trace::decode_all;
use rmaplab_core::ModelConfig;
use std::rc::Rc;
use yew::Reducible;

/// The trace the playground opens with (see `web/assets/README.md` for its provenance).
pub const DEFAULT_TRACE: &[u8] = include_bytes!("../assets/default.rmap");
/// Array sizes compared by default.
pub const DEFAULT_ENTRIES: &str = "2,3,4,6,8,14,16";
/// Eras compared by default.
pub const DEFAULT_ERAS: &str = "head-insert,tail-append";

/// What the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct AppState {
    /// Array sizes as typed.
    pub entries: String,
    /// Eras as typed.
    pub eras: String,
    /// Latest results.
    pub summary: Option<Rc<ReplaySummary>>,
    /// Latest error, shown in the page.
    pub error: Option<String>,
}

impl Default for AppState {
    fn default() -> Self {
        AppState {
            entries: DEFAULT_ENTRIES.into(),
            eras: DEFAULT_ERAS.into(),
            summary: None,
            error: None,
        }
    }
}

/// State transitions.
#[derive(Debug, Clone)]
pub enum Action {
    /// New array-size list typed.
    SetEntries(String),
    /// New era list typed.
    SetEras(String),
    /// Replay finished.
    Loaded(Rc<ReplaySummary>),
    /// Something failed.
    Failed(String),
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::SetEntries(e) => s.entries = e,
            Action::SetEras(e) => s.eras = e,
            Action::Loaded(sum) => {
                s.summary = Some(sum);
                s.error = None;
            }
            Action::Failed(e) => s.error = Some(e),
        }
        Rc::new(s)
    }
}

/// Parse the typed configuration.
pub fn configs(entries: &str, eras: &str) -> Result<Vec<ModelConfig>, String> {
    let sizes = parse_entries_list(entries).map_err(|e| format!("array sizes: {e}"))?;
    let eras = parse_era_list(eras).map_err(|e| format!("eras: {e}"))?;
    if sizes.is_empty() || eras.is_empty() {
        return Err("give at least one array size and one era".into());
    }
    let kvm = ModelConfig::kvm_today();
    Ok(config_matrix(
        &sizes,
        &eras,
        kvm.cache_capacity,
        kvm.cache_min,
        kvm.recycle_threshold,
    ))
}

/// Decode and replay a whole trace.
pub fn replay_bytes(bytes: &[u8], configs: &[ModelConfig]) -> Result<ReplaySummary, String> {
    let (meta, events) = decode_all(bytes).map_err(|e| e.to_string())?;
    let mut r =
        Replayer::new(meta, configs, ReplayOptions::default()).map_err(|e| e.to_string())?;
    r.feed_all(&events).map_err(|e| e.to_string())?;
    Ok(r.finish())
}
