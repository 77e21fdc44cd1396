//! Text forms of kvmmmu captures, one line at a time, into typed [`Record`]s:
//!
//! * the kernel's own `trace` / `trace_pipe` text (with or without `record-tgid`'s `(TGID)`);
//! * `trace-cmd report` (default, `-N`, `-l`, `--ts-diff`, `-R`): the default form passes
//!   `kvm_mmu_get_page` / `kvm_mmu_prepare_zap_page` through libtraceevent's kvm plugin, whose
//!   zap lines carry **no gfn** ([`LineError::PluginForm`]);
//! * `perf script` (`comm tid [cpu] ts: kvmmmu:event: …`, `comm pid/tid`, and
//!   `[FAILED TO PARSE] key=value` for the events perf cannot format).
//!
//! Bases: the kernel's print formats use hex for gfn, spte, sptep and pferr. In raw
//! `key=value` form libtraceevent prints `kvm_mmu_set_spte`'s fields (declared `u64`) in hex
//! and `kvm_mmu_get_page` / `kvm_mmu_prepare_zap_page` / `kvm_mmu_pagetable_walk` fields
//! (declared `__u64` / `__u32`) in decimal; `0x`-prefixed values are read as hex anywhere.

use super::format::{EV_GET_PAGE, EV_PRINT, EV_SET_SPTE, EV_WALK, EV_ZAP_PAGE};
use super::record::{Record, RecordKind, ShadowPage, Task};

/// Nanoseconds per second.
const NS_PER_S: u64 = 1_000_000_000;
/// FNV-1a offset basis (64-bit).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a prime (64-bit).
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// What one line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A kvmmmu event (or marker) rmaplab uses.
    Record(Record),
    /// A kvmmmu event rmaplab does not use (`kvm_mmu_spte_requested`, …), by name.
    OtherKvmmmu(String),
    /// The capture lost events here (`None`: a count was not given).
    Lost(Option<u64>),
    /// Anything else: headers, comments, other subsystems.
    Other,
}

/// A kvmmmu line rmaplab must not turn into numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// libtraceevent's kvm plugin form: the shadow page has no gfn.
    #[error("`{0}` line in the kvm plugin's form (shadow-page level and role decoded with an old layout; zap lines carry no gfn)")]
    PluginForm(&'static str),
    /// A kvmmmu event whose fields could not be read.
    #[error("{event} line whose fields could not be read: {details:?}")]
    Unreadable {
        /// The event.
        event: &'static str,
        /// Its details text.
        details: String,
    },
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// A raw-field value: `0x` → hex; otherwise in the base the tool prints that field in.
fn parse_raw(s: &str, hex: bool) -> Option<u64> {
    if s.starts_with("0x") || hex {
        parse_hex(s)
    } else {
        s.parse().ok()
    }
}

/// `key value` (the kernel's print formats) lookups.
fn word_after<'a>(details: &'a str, key: &str) -> Option<&'a str> {
    let mut it = details.split_whitespace();
    while let Some(t) = it.next() {
        if t == key {
            return it.next();
        }
    }
    None
}

/// `key=value` lookups.
fn raw_field<'a>(details: &'a str, key: &str) -> Option<&'a str> {
    details
        .split_whitespace()
        .find_map(|t| t.strip_prefix(key)?.strip_prefix('='))
}

/// Raw `key=value` fields (`trace-cmd report -R`/`-N`, perf's `[FAILED TO PARSE]`): the
/// kernel's print formats of these events never contain `=`.
fn is_raw(details: &str) -> bool {
    details.contains('=')
}

/// `seconds.fraction` → nanoseconds.
fn parse_ts(s: &str) -> Option<u64> {
    let (sec, frac) = s.split_once('.')?;
    let sec: u64 = sec.parse().ok()?;
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let f: u64 = frac.parse().ok()?;
    let scale = 10u64.pow(9 - frac.len() as u32);
    sec.checked_mul(NS_PER_S)?.checked_add(f * scale)
}

/// Task and CPU from the part of a line before the timestamp.
fn parse_header(pre: &str) -> (Task, Option<u32>) {
    let mut cpu = None;
    let mut head = pre.trim_end();
    if let Some(open) = head.rfind('[') {
        if let Some(close) = head[open..].find(']') {
            cpu = head[open + 1..open + close].trim().parse().ok();
        }
        head = head[..open].trim_end();
    } else {
        // `trace-cmd report -l`: `comm-tid  0...1.` — the CPU leads the latency flags.
        if let Some((rest, last)) = head.rsplit_once(char::is_whitespace) {
            let digits: String = last.chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() && last.len() > digits.len() {
                cpu = digits.parse().ok();
                head = rest.trim_end();
            }
        }
    }
    let mut tgid = None;
    if head.ends_with(')') {
        if let Some(open) = head.rfind('(') {
            tgid = head[open + 1..head.len() - 1].trim().parse().ok();
            head = head[..open].trim_end();
        }
    }
    let last = head.rsplit(char::is_whitespace).next().unwrap_or("");
    let tid = if let Some((p, t)) = last.split_once('/').filter(|(p, t)| {
        !p.is_empty() && !t.is_empty() && (p.bytes().chain(t.bytes())).all(|b| b.is_ascii_digit())
    }) {
        // perf script `comm pid/tid`.
        tgid = p.parse().ok();
        t.parse().ok()
    } else if !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && head.len() > last.len()
    {
        // perf script `comm tid`.
        last.parse().ok()
    } else {
        head.rsplit('-').next().and_then(|t| t.trim().parse().ok())
    };
    (
        Task {
            tid: tid.unwrap_or(0),
            tgid,
        },
        cpu,
    )
}

/// A shadow page from the kernel's print form (`sp gen 0 gfn 12 l4 8-byte q0 wux nxe ad root
/// 0 sync new`): gfn (hex), level, `direct`, and the role tokens as an identity.
fn kernel_sp(details: &str, event: &'static str) -> Result<ShadowPage, LineError> {
    let mut toks = details.split_whitespace().peekable();
    let mut gfn = None;
    let mut level = None;
    let mut direct = false;
    let mut hash = FNV_OFFSET;
    while let Some(t) = toks.next() {
        match t {
            "sp" | "sync" | "unsync" | "new" | "invalid" => {}
            "gen" | "root" => {
                toks.next();
            }
            "gfn" => gfn = toks.next().and_then(parse_hex),
            _ => {
                if let Some(l) = t.strip_prefix('l').and_then(|l| l.parse::<u8>().ok()) {
                    level = Some(l);
                }
                direct |= t == "direct";
                for b in t.bytes().chain([b' ']) {
                    hash = (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
                }
            }
        }
    }
    match (gfn, level) {
        (Some(gfn), Some(level)) => Ok(ShadowPage {
            gfn,
            level,
            direct,
            role: hash,
        }),
        _ => Err(LineError::PluginForm(event)),
    }
}

fn shadow_page(details: &str, event: &'static str) -> Result<ShadowPage, LineError> {
    if is_raw(details) {
        let gfn = raw_field(details, "gfn").and_then(|v| parse_raw(v, false));
        let role = raw_field(details, "role").and_then(|v| parse_raw(v, false));
        match (gfn, role) {
            (Some(gfn), Some(role)) => Ok(ShadowPage::from_role_word(gfn, role as u32)),
            _ => Err(LineError::Unreadable {
                event,
                details: details.to_string(),
            }),
        }
    } else {
        kernel_sp(details, event)
    }
}

fn set_spte(details: &str) -> Option<RecordKind> {
    if is_raw(details) {
        Some(RecordKind::SetSpte {
            gfn: parse_raw(raw_field(details, "gfn")?, true)?,
            spte: parse_raw(raw_field(details, "spte")?, true)?,
            level: raw_field(details, "level")?.parse().ok()?,
            sptep: parse_raw(raw_field(details, "sptep")?, true)?,
        })
    } else {
        Some(RecordKind::SetSpte {
            gfn: parse_hex(word_after(details, "gfn")?)?,
            spte: parse_hex(word_after(details, "spte")?)?,
            level: word_after(details, "level")?.parse().ok()?,
            sptep: parse_hex(word_after(details, "at")?)?,
        })
    }
}

fn lost(line: &str) -> Option<Line> {
    // Kernel: `CPU:0 [LOST 580 EVENTS]`; trace-cmd: `CPU:0 [580 EVENTS DROPPED]` or
    // `CPU:0 [EVENTS DROPPED]`.
    if !line.trim_start().starts_with("CPU") {
        return None;
    }
    if let Some(at) = line.find("[LOST ") {
        let n = line[at + 6..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok());
        return Some(Line::Lost(n));
    }
    let at = line.find("EVENTS DROPPED]")?;
    let open = line[..at].rfind('[')?;
    Some(Line::Lost(line[open + 1..at].trim().parse().ok()))
}

/// Classify and parse one line of text.
pub fn parse_line(line: &str) -> Result<Line, LineError> {
    if line.starts_with('#') {
        return Ok(Line::Other);
    }
    if let Some(l) = lost(line) {
        return Ok(l);
    }
    // The timestamp: the first token ending in ':' that is `seconds.fraction`.
    let mut idx = 0;
    let mut found = None;
    for tok in line.split_whitespace() {
        // Where the token starts: split_whitespace yields subslices of `line`.
        let at = tok.as_ptr() as usize - line.as_ptr() as usize;
        idx = at + tok.len();
        if let Some(ts) = tok.strip_suffix(':').and_then(parse_ts) {
            found = Some((at, ts));
            break;
        }
    }
    let Some((ts_at, ts)) = found else {
        return Ok(Line::Other);
    };
    let mut after = line[idx..].trim_start();
    // `--ts-diff`: `(+35)`.
    if after.starts_with("(+") {
        after = after
            .split_once(')')
            .map(|(_, r)| r.trim_start())
            .unwrap_or(after);
    }
    let Some(colon) = after.find(':') else {
        return Ok(Line::Other);
    };
    let mut name = &after[..colon];
    let mut details = after[colon + 1..].trim();
    let mut kvmmmu = false;
    // perf: `kvmmmu:kvm_mmu_set_spte: …`, `ftrace:print: …`.
    if name == "kvmmmu" || name == "ftrace" {
        kvmmmu = name == "kvmmmu";
        let Some(c2) = details.find(':') else {
            return Ok(Line::Other);
        };
        name = &details[..c2];
        details = details[c2 + 1..].trim();
    }
    let (task, cpu) = parse_header(&line[..ts_at]);
    let record = |kind| {
        Ok(Line::Record(Record {
            ts: Some(ts),
            cpu,
            task,
            kind,
        }))
    };
    match name {
        EV_SET_SPTE => match set_spte(details) {
            Some(k) => record(k),
            None => Err(LineError::Unreadable {
                event: EV_SET_SPTE,
                details: details.to_string(),
            }),
        },
        EV_GET_PAGE => record(RecordKind::GetPage {
            sp: shadow_page(details, EV_GET_PAGE)?,
        }),
        EV_ZAP_PAGE => record(RecordKind::ZapPage {
            sp: shadow_page(details, EV_ZAP_PAGE)?,
        }),
        EV_WALK => {
            let pferr = if is_raw(details) {
                raw_field(details, "pferr").and_then(|v| parse_raw(v, false))
            } else {
                word_after(details, "pferr").and_then(parse_hex)
            };
            record(RecordKind::Walk { pferr })
        }
        "tracing_mark_write" | EV_PRINT => {
            // trace-cmd shows `print: tracing_mark_write: text`.
            let text = details
                .strip_prefix("tracing_mark_write:")
                .unwrap_or(details);
            record(RecordKind::Mark(text.trim().to_string()))
        }
        n if kvmmmu || n.starts_with("kvm_mmu_") => Ok(Line::OtherKvmmmu(n.to_string())),
        _ => Ok(Line::Other),
    }
}

/// True when `prefix` looks like kvmmmu text in any of the forms above.
pub fn looks_like_text_capture(prefix: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&prefix[..prefix.len().min(16 * 1024)]);
    text.starts_with("# tracer:")
        || text.starts_with("cpus=")
        || text.starts_with("version =")
        || text.contains(": kvm_mmu_")
        || text.contains("kvmmmu:kvm_mmu_")
        || text.contains(" kvm_mmu_set_spte:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> Record {
        match parse_line(line) {
            Ok(Line::Record(r)) => r,
            other => panic!("{line:?} → {other:?}"),
        }
    }

    #[test]
    fn every_header_form() {
        // Each header form: the line, then its thread, thread group and CPU.
        let forms = [
            ("         python3-15803   [001] ...1.   522.962393: kvm_mmu_set_spte: gfn 8 spte 16c7bfe67 (rwxu) level 1 at 1acf60040", 15803, None, Some(1)),
            ("       CPU 0/KVM-4398    (   4394) [001] ...1.  1936.547529: kvm_mmu_set_spte: gfn 8 spte 16c7bfe67 (rwxu) level 1 at 1acf60040", 4398, Some(4394), Some(1)),
            ("           vcpu0 26019 [000]  1463.044718:         kvmmmu:kvm_mmu_set_spte: gfn 3 spte 195495a25 (r-xu) level 1 at 31f626018", 26019, None, Some(0)),
            ("       CPU 1/KVM 26000/26020 [001]  1463.044718: kvmmmu:kvm_mmu_set_spte: gfn 3 spte 195495a25 (r-xu) level 1 at 31f626018", 26020, Some(26000), Some(1)),
        ];
        for (line, tid, tgid, cpu) in forms {
            let r = rec(line);
            assert_eq!((r.task, r.cpu), (Task { tid, tgid }, cpu), "{line}");
        }
        assert_eq!(rec(forms[0].0).ts, Some(522_962_393_000));
        let lat = rec("   vcpu0-26173   0...1.   593.972458: kvm_mmu_set_spte:     gfn 3 spte 208312a25 (r-xu) level 1 at 268a92018");
        assert_eq!((lat.task.tid, lat.cpu), (26173, Some(0)));
        let diff = rec("           vcpu0-26173 [000]   593.972458: (+2)     kvm_mmu_set_spte:     gfn 3 spte 208312a25 (r-xu) level 1 at 268a92018");
        assert_eq!(diff.kind, lat.kind);
    }

    #[test]
    fn raw_and_printed_forms_agree() {
        let printed = rec("vcpu0-26173 [000] 593.972563: kvm_mmu_set_spte: gfn 40a spte 1fd0bfa25 (r-xu) level 1 at 215025050");
        let raw = rec("vcpu0-26173 [000] 593.972563: kvm_mmu_set_spte: gfn=40a spte=1fd0bfa25 sptep=215025050 level=1 r=1 x=1 u=1");
        assert_eq!(printed.kind, raw.kind);
        let get = rec("vcpu0-26173 [000] 593.972419: kvm_mmu_get_page: mmu_valid_gen=0 gfn=18 role=14084 root_count=0 unsync=0 created=1");
        let zap = rec("vcpu0 26019 [000] 1463.116078: kvmmmu:kvm_mmu_prepare_zap_page: [FAILED TO PARSE] mmu_valid_gen=0 gfn=18 role=14084 root_count=0 unsync=0");
        let RecordKind::GetPage { sp } = get.kind else {
            panic!()
        };
        assert_eq!((sp.gfn, sp.level, sp.direct), (0x12, 4, false));
        assert_eq!(zap.kind, RecordKind::ZapPage { sp });
        let k1 = rec("x-1 [000] 1.000001: kvm_mmu_get_page: sp gen 0 gfn 4 l1 8-byte q0 direct wux nxe ad root 0 sync new");
        let k2 = rec("x-1 [000] 1.000002: kvm_mmu_prepare_zap_page: sp gen 3 gfn 4 l1 8-byte q0 direct wux nxe ad root 2 unsync invalid");
        let (RecordKind::GetPage { sp: a }, RecordKind::ZapPage { sp: b }) = (k1.kind, k2.kind)
        else {
            panic!()
        };
        assert_eq!(a, b);
        assert!(a.direct && a.level == 1 && a.gfn == 4);
    }

    #[test]
    fn plugin_form_lost_and_others() {
        assert_eq!(
            parse_line("vcpu0-26173 [000] 594.004096: kvm_mmu_prepare_zap_page: 4 q0 wux !pae nxe wp root 0 sync"),
            Err(LineError::PluginForm(EV_ZAP_PAGE))
        );
        assert_eq!(
            parse_line("vcpu0-26173 [000] 593.972419: kvm_mmu_get_page:     new sp gfn 12 4 q0 wux !pae nxe wp root 0 sync"),
            Err(LineError::PluginForm(EV_GET_PAGE))
        );
        assert_eq!(
            parse_line("CPU:0 [580 EVENTS DROPPED]"),
            Ok(Line::Lost(Some(580)))
        );
        assert_eq!(parse_line("CPU:0 [EVENTS DROPPED]"), Ok(Line::Lost(None)));
        assert_eq!(parse_line("CPU:1 [LOST 7 EVENTS]"), Ok(Line::Lost(Some(7))));
        assert_eq!(
            parse_line("vcpu0-1 [000] 1.5: kvm_mmu_spte_requested: gfn 1 pfn 2 level 1"),
            Ok(Line::OtherKvmmmu("kvm_mmu_spte_requested".into()))
        );
        assert_eq!(parse_line("cpus=2"), Ok(Line::Other));
        assert!(parse_line("x-1 [000] 1.5: kvm_mmu_set_spte: gfn zz").is_err());
        let m = rec("x-1 [000] 1.5: print: tracing_mark_write: rmaplab:phase 1");
        assert_eq!(m.kind, RecordKind::Mark("rmaplab:phase 1".into()));
    }
}
