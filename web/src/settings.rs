//! What the page compares — sizes, the seed's rule, eras, top-up policies, caches, host shape,
//! TDP, recycle threshold, tolerance — and its share-link fragment.

use rmaplab_core::config::{
    parse_entries_list, parse_topup_list, ConfigRequest, EntriesChoice, TopupPolicy,
    KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE, PTE_LIST_DESC_CACHE_MIN, RMAP_RECYCLE_THRESHOLD,
};
use rmaplab_core::memory::HostShape;
use rmaplab_core::recommend::DEFAULT_WITHIN_PCT;
use rmaplab_core::replay::ReplaySummary;
use rmaplab_core::Era;

/// What a replay depends on ([`Settings::replay_key`]): the request, TDP, the VM kept, KVM's
/// counters typed.
pub type ReplayKey = (
    Result<ConfigRequest, String>,
    Option<bool>,
    Option<u64>,
    Vec<(String, u64)>,
);

/// Array sizes compared by default.
pub const DEFAULT_ENTRIES: &str = "2,3,4,6,8,14,16";

/// What to compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Array sizes as typed.
    pub entries: String,
    /// Also compare the seed's own rule (2 entries with TDP, 14 without).
    pub seed: bool,
    /// Eras compared.
    pub eras: Vec<Era>,
    /// Top-up policies compared (KVM's `always`, the seed's patch 4 `when-rmaps-used`).
    pub topups: Vec<TopupPolicy>,
    /// Per-vCPU cache capacity.
    pub cache_capacity: usize,
    /// Per-vCPU cache top-up minimum.
    pub cache_min: usize,
    /// vCPUs per VM for the memory figures; `None` = the trace's own count.
    pub vcpus: Option<u64>,
    /// VMs per host for the host figures; `None` = the trace's own (a capture's VMs, each with
    /// its vCPUs, when its import found several; else 1).
    pub vms: Option<u64>,
    /// Whether TDP was on; `None` = as the trace says.
    pub tdp: Option<bool>,
    /// Recycle threshold (`None` = off).
    pub recycle: Option<u64>,
    /// Recommendation tolerance: percent more work per operation than 14 entries.
    pub within_pct: u32,
    /// The VM kept from a capture holding several (its VMM's pid or a thread id); `None` =
    /// all. Reset whenever a new trace is loaded.
    pub vm: Option<u64>,
    /// KVM's counters at the end of the run, typed by the user (`NAME=VALUE`): the replay is
    /// checked against them.
    pub kvm_stats: Vec<(String, u64)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            entries: DEFAULT_ENTRIES.into(),
            seed: false,
            eras: vec![Era::HeadInsert, Era::TailAppend],
            topups: vec![TopupPolicy::Always],
            cache_capacity: KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE,
            cache_min: PTE_LIST_DESC_CACHE_MIN,
            vcpus: None,
            vms: None,
            tdp: None,
            recycle: Some(RMAP_RECYCLE_THRESHOLD),
            within_pct: DEFAULT_WITHIN_PCT,
            vm: None,
            kvm_stats: Vec::new(),
        }
    }
}

/// Largest vCPU count the page accepts.
pub const MAX_VCPUS: u64 = 4096;
/// Largest VM count the page accepts.
pub const MAX_VMS: u64 = 100_000;

impl Settings {
    /// What to ask the worker for, or why not.
    /// What a replay depends on: the configurations asked for, TDP and the VM kept. The other
    /// settings (vCPUs, VMs per host, the recommendation's tolerance) only change arithmetic
    /// on results already replayed, so changing them replays nothing.
    pub fn replay_key(&self) -> ReplayKey {
        (self.request(), self.tdp, self.vm, self.kvm_stats.clone())
    }

    /// The typed KVM counters as the field shows them.
    pub fn kvm_stats_text(&self) -> String {
        self.kvm_stats
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The configurations asked for, or why the settings cannot be replayed.
    pub fn request(&self) -> Result<ConfigRequest, String> {
        let sizes = parse_entries_list(&self.entries).map_err(|e| format!("array sizes: {e}"))?;
        if sizes.is_empty() && !self.seed {
            return Err("give at least one array size (2..64)".into());
        }
        if self.eras.is_empty() {
            return Err("choose at least one era".into());
        }
        if self.topups.is_empty() {
            return Err("choose at least one top-up policy".into());
        }
        if self.cache_min > self.cache_capacity {
            return Err(format!(
                "cache top-up minimum {} exceeds capacity {}",
                self.cache_min, self.cache_capacity
            ));
        }
        let mut entries: Vec<EntriesChoice> = sizes.into_iter().map(EntriesChoice::Fixed).collect();
        if self.seed {
            entries.push(EntriesChoice::Seed);
        }
        Ok(ConfigRequest {
            entries,
            eras: self.eras.clone(),
            topups: self.topups.clone(),
            cache_capacity: self.cache_capacity,
            cache_min: self.cache_min,
            recycle_threshold: self.recycle,
        })
    }

    /// The host the memory figures are for: the trace's vCPUs unless overridden.
    pub fn host(&self, s: &ReplaySummary) -> HostShape {
        HostShape::of_summary(s, self.vcpus, self.vms)
    }

    /// The share-link fragment (settings only), e.g.
    /// `n=2,3,14&era=head-insert&topup=always&cache=40/14&vcpus=trace&vms=1&recycle=1000&within=10`.
    pub fn to_hash(&self) -> String {
        let eras: Vec<&str> = self.eras.iter().map(|e| e.name()).collect();
        let topups: Vec<&str> = self.topups.iter().map(|t| t.name()).collect();
        let mut h = format!(
            "n={}&era={}&topup={}&cache={}/{}&vcpus={}&vms={}&recycle={}&within={}",
            self.entries.replace(' ', ""),
            eras.join(","),
            topups.join(","),
            self.cache_capacity,
            self.cache_min,
            self.vcpus
                .map_or_else(|| "trace".to_string(), |v| v.to_string()),
            self.vms
                .map_or_else(|| "trace".to_string(), |v| v.to_string()),
            self.recycle
                .map_or_else(|| "off".to_string(), |r| r.to_string()),
            self.within_pct
        );
        if self.seed {
            h.push_str("&seed=1");
        }
        if let Some(t) = self.tdp {
            h.push_str(if t { "&tdp=on" } else { "&tdp=off" });
        }
        if let Some(v) = self.vm {
            h.push_str(&format!("&vm={v}"));
        }
        if !self.kvm_stats.is_empty() {
            h.push_str("&kvm=");
            h.push_str(&self.kvm_stats_text().replace(", ", ","));
        }
        h
    }

    /// Settings from a fragment; unknown or bad parts keep their defaults (parts that are not
    /// settings, such as the shared trace, are ignored here).
    pub fn from_hash(hash: &str) -> Self {
        let mut s = Settings::default();
        for part in hash.trim_start_matches('#').split('&') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            match k {
                "n" if parse_entries_list(v).is_ok_and(|l| !l.is_empty()) => {
                    s.entries = v.to_string()
                }
                "seed" => s.seed = v == "1",
                "era" => {
                    let eras: Vec<Era> = v.split(',').filter_map(|e| e.parse().ok()).collect();
                    if !eras.is_empty() {
                        s.eras = eras;
                    }
                }
                "topup" => {
                    if let Ok(t) = parse_topup_list(v) {
                        if !t.is_empty() {
                            s.topups = t;
                        }
                    }
                }
                "cache" => {
                    if let Ok((c, m)) = rmaplab_core::config::parse_cache_spec(v) {
                        s.cache_capacity = c;
                        s.cache_min = m;
                    }
                }
                "vcpus" => {
                    s.vcpus = v
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (1..=MAX_VCPUS).contains(n));
                }
                "vms" => s.vms = v.parse::<u64>().ok().filter(|n| (1..=MAX_VMS).contains(n)),
                "tdp" => {
                    s.tdp = match v {
                        "on" => Some(true),
                        "off" => Some(false),
                        _ => None,
                    }
                }
                "recycle" => {
                    s.recycle = if v == "off" {
                        None
                    } else {
                        v.parse().ok().or(s.recycle)
                    }
                }
                "within" => s.within_pct = v.parse().unwrap_or(s.within_pct).min(1000),
                "vm" => s.vm = v.parse().ok(),
                "kvm" => {
                    s.kvm_stats = v
                        .split(',')
                        .filter_map(|kv| rmaplab_core::exactness::parse_kvm_stat(kv).ok())
                        .collect();
                }
                _ => {}
            }
        }
        s
    }
}

/// A settings field typed by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// Array sizes.
    Entries,
    /// Per-vCPU cache capacity.
    CacheCapacity,
    /// Per-vCPU cache top-up minimum.
    CacheMin,
    /// vCPUs per VM (empty: the trace's).
    Vcpus,
    /// VMs per host (empty: the trace's).
    Vms,
    /// Recycle threshold (`off` or a number).
    Recycle,
    /// The recommendation's tolerance.
    Within,
    /// KVM's counters at the end of the run (`NAME=VALUE, …`; empty: none).
    KvmStats,
}

/// Largest per-vCPU cache capacity the page accepts.
pub const MAX_CACHE: usize = 4096;
/// Largest tolerance the page accepts, in percent.
pub const MAX_WITHIN_PCT: u32 = 1000;

impl Field {
    /// The form element's id (its message's is `{id}-error`).
    pub fn id(self) -> &'static str {
        match self {
            Field::Entries => "entries",
            Field::CacheCapacity => "cache-cap",
            Field::CacheMin => "cache-min",
            Field::Vcpus => "vcpus",
            Field::Vms => "vms",
            Field::Recycle => "recycle",
            Field::Within => "within",
            Field::KvmStats => "kvm-stats",
        }
    }

    /// The field's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Field::Entries => "array sizes",
            Field::CacheCapacity => "cache capacity",
            Field::CacheMin => "top-up minimum",
            Field::Vcpus => "vCPUs per VM",
            Field::Vms => "VMs per host",
            Field::Recycle => "recycle threshold",
            Field::Within => "tolerance",
            Field::KvmStats => "KVM's counters",
        }
    }
}

/// `text` as a whole number in `min..=max`, or why not.
fn number<T>(text: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let t = text.trim();
    match t.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        Ok(_) => Err(format!("{t} is outside {min}..{max}")),
        Err(_) if t.is_empty() => Err(format!("give a number ({min}..{max})")),
        Err(_) => Err(format!("{t:?} is not a whole number ({min}..{max})")),
    }
}

impl Settings {
    /// These settings with `text` typed into `field`, or every reason it cannot be taken as
    /// typed (nothing is coerced: an out-of-range or half-typed value is an error, not a
    /// clamp or a silent revert).
    pub fn with_field(&self, field: Field, text: &str) -> Result<Settings, Vec<String>> {
        let mut n = self.clone();
        let one = |e: String| vec![e];
        match field {
            Field::Entries => {
                let sizes = rmaplab_core::config::check_entries_list(text)
                    .map_err(|es| es.iter().map(ToString::to_string).collect::<Vec<_>>())?;
                if sizes.is_empty() && !self.seed {
                    return Err(one(
                        "give at least one array size (2..64), or tick the seed's rule".into(),
                    ));
                }
                n.entries = text.trim().to_string();
            }
            Field::CacheCapacity | Field::CacheMin => {
                let capacity = field == Field::CacheCapacity;
                let v = number(text, usize::from(capacity), MAX_CACHE).map_err(one)?;
                if capacity {
                    n.cache_capacity = v;
                } else {
                    n.cache_min = v;
                }
                // The pair is checked from whichever side was typed.
                if n.cache_min > n.cache_capacity {
                    return Err(one(if capacity {
                        format!(
                            "{} is below the top-up minimum {}: kvm_mmu_topup_memory_cache fills to capacity whenever fewer than the minimum remain",
                            n.cache_capacity, n.cache_min
                        )
                    } else {
                        format!(
                            "{} exceeds the cache capacity {}",
                            n.cache_min, n.cache_capacity
                        )
                    }));
                }
            }
            Field::Vcpus => {
                n.vcpus = if text.trim().is_empty() {
                    None
                } else {
                    Some(number(text, 1, MAX_VCPUS).map_err(one)?)
                };
            }
            Field::Vms => {
                n.vms = if text.trim().is_empty() {
                    None
                } else {
                    Some(number(text, 1, MAX_VMS).map_err(one)?)
                };
            }
            Field::Recycle => {
                n.recycle = if text.trim() == "off" {
                    None
                } else {
                    Some(number(text, 1, u64::MAX).map_err(|_| {
                        one(format!(
                            "{:?}: give a number (KVM: {RMAP_RECYCLE_THRESHOLD}) or off",
                            text.trim()
                        ))
                    })?)
                };
            }
            Field::Within => n.within_pct = number(text, 0, MAX_WITHIN_PCT).map_err(one)?,
            Field::KvmStats => {
                let (mut stats, mut errors) = (Vec::new(), Vec::new());
                for item in text.split(',').filter(|i| !i.trim().is_empty()) {
                    match rmaplab_core::exactness::parse_kvm_stat(item) {
                        Ok(s) => stats.push(s),
                        Err(e) => errors.push(e),
                    }
                }
                if !errors.is_empty() {
                    return Err(errors);
                }
                n.kvm_stats = stats;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_fields_are_checked_not_coerced() {
        let s = Settings::default();
        let e = |f, t| s.with_field(f, t).unwrap_err();
        assert_eq!(
            e(Field::Entries, "1,65").len(),
            2,
            "every bad size is reported"
        );
        assert_eq!(e(Field::Entries, "2,,x").len(), 2);
        assert!(e(Field::Entries, "")[0].contains("at least one"));
        assert_eq!(
            s.with_field(Field::Entries, " 2,3 ").unwrap().entries,
            "2,3"
        );
        assert!(e(Field::Vcpus, "0")[0].contains("outside 1..4096"));
        assert!(e(Field::Vcpus, "abc")[0].contains("not a whole number"));
        assert!(e(Field::Vms, "-3")[0].contains("not a whole number"));
        assert_eq!(s.with_field(Field::Vcpus, "").unwrap().vcpus, None);
        assert_eq!(s.with_field(Field::Vcpus, "8").unwrap().vcpus, Some(8));
        // The pair is checked whichever side is typed.
        assert!(e(Field::CacheMin, "50")[0].contains("exceeds the cache capacity 40"));
        assert!(e(Field::CacheCapacity, "10")[0].contains("below the top-up minimum 14"));
        assert_eq!(s.with_field(Field::Recycle, "off").unwrap().recycle, None);
        assert!(e(Field::Recycle, "0")[0].contains("or off"));
        assert!(e(Field::Within, "1001")[0].contains("outside 0..1000"));
        let seed = Settings {
            seed: true,
            ..Settings::default()
        };
        assert_eq!(seed.with_field(Field::Entries, "").unwrap().entries, "");
    }

    #[test]
    fn hash_round_trips_and_bad_parts_keep_defaults() {
        let s = Settings {
            entries: "2,4".into(),
            seed: true,
            eras: vec![Era::TailAppend],
            topups: TopupPolicy::ALL.to_vec(),
            cache_capacity: 20,
            cache_min: 5,
            vcpus: Some(3),
            vms: Some(16),
            tdp: Some(true),
            recycle: None,
            within_pct: 7,
            vm: Some(4394),
            kvm_stats: vec![("max_mmu_rmap_size".into(), 13), ("pages_4k".into(), 24)],
        };
        assert_eq!(Settings::from_hash(&format!("#{}", s.to_hash())), s);
        let d = Settings::from_hash("n=1,2&era=sideways&cache=5/9&vcpus=x&topup=never&vms=0");
        assert_eq!(
            d,
            Settings::default(),
            "out-of-range parts keep their defaults"
        );
        assert_eq!(
            Settings::from_hash(&Settings::default().to_hash()),
            Settings::default()
        );
    }

    #[test]
    fn the_request_names_the_seed_and_refuses_nonsense() {
        let s = Settings {
            entries: "2".into(),
            seed: true,
            ..Settings::default()
        };
        let r = s.request().unwrap();
        assert_eq!(
            r.entries,
            vec![EntriesChoice::Fixed(2), EntriesChoice::Seed]
        );
        assert!(Settings {
            entries: "1".into(),
            ..Settings::default()
        }
        .request()
        .is_err());
        assert!(Settings {
            topups: vec![],
            ..Settings::default()
        }
        .request()
        .is_err());
    }
}
