//! Tests of [`super`] (state.rs), kept apart so the module reads as its logic.

use super::*;

fn done(s: &Rc<AppState>, bytes: &[u8]) -> Rc<AppState> {
    s.clone().reduce(Action::Done {
        summary: Rc::new(rmaplab_core::replay::ReplaySummary::assemble(Vec::new())),
        asked: 0,
        longest: Vec::new(),
        encoding: Some(rmaplab_core::input::Encoding::Binary),
        shared: Some(SharedTrace {
            sha256: sha256_hex(bytes),
            inline: share::inline(bytes),
        }),
        candidates_pending: false,
        imports: 0,
    })
}

/// A progress report of `phase`, `done` eighths through.
fn report(phase: Phase, done: u64) -> ProgressReport {
    ProgressReport {
        phase,
        stage: "reading".into(),
        pass: 1,
        passes: 1,
        bytes: done,
        of_bytes: Some(8),
        events: done * 100,
        kept: false,
        done,
        total: 8,
    }
}

#[test]
fn the_stepper_opens_at_the_lists_peak_under_the_recycle_rule() {
    use rmaplab_core::trace::SpteId;
    let adds = |n: u64| (0..n).map(|i| FocusEvent::Add(SpteId(i)));
    // 1500 adds: the 1002nd finds 1001 entries and KVM zaps the list.
    let alias: Vec<FocusEvent> = adds(1500).collect();
    assert_eq!(peak_step(&alias, Some(1000)), 1001);
    assert_eq!(peak_step(&alias, None), 1500);
    // Up to 3, down, up to 2: the first peak.
    let mut ev: Vec<FocusEvent> = adds(3).collect();
    ev.extend([FocusEvent::Remove(SpteId(0)), FocusEvent::Zap]);
    ev.extend(adds(2));
    assert_eq!(peak_step(&ev, Some(1000)), 3);
    assert_eq!(peak_step(&[], Some(1000)), 0);
}

#[test]
fn progress_reports_drive_the_bar_and_the_estimate_of_their_own_pass() {
    assert_eq!(eta(0.5, 10.0), Some(10.0));
    assert_eq!(eta(0.01, 10.0), None, "too early to tell");
    assert_eq!(eta(0.5, 0.1), None, "too early to tell");
    assert_eq!(eta(1.0, 10.0), None, "nothing left");
    let s = Rc::new(AppState::initial("#n=2"));
    // A report with nothing running (a late message) changes nothing.
    let idle = s.clone().reduce(Action::Report {
        report: report(Phase::Replay, 1),
        at_ms: 0.0,
    });
    assert_eq!(idle.report, None);
    let s = s.reduce(Action::Progress(0, 8));
    let s = s.reduce(Action::Report {
        report: report(Phase::Replay, 1),
        at_ms: 1000.0,
    });
    assert_eq!(s.status, Status::Running { done: 1, total: 8 });
    assert_eq!(s.eta_s, None);
    let s = s.reduce(Action::Report {
        report: report(Phase::Replay, 4),
        at_ms: 3000.0,
    });
    assert_eq!(s.status, Status::Running { done: 4, total: 8 });
    assert_eq!(s.eta_s, Some(2.0), "half done in 2 s: 2 s left");
    assert_eq!(s.report.as_ref().map(|r| r.events), Some(400));
    // The results arrive with a second pass pending: its reports have their own clock.
    let mut d = (*done(&s, b"x")).clone();
    d.recommending = true;
    let s = Rc::new(d);
    assert_eq!(s.report, None);
    let s = s.reduce(Action::Report {
        report: report(Phase::Recommendation, 2),
        at_ms: 10_000.0,
    });
    assert_eq!(s.status, Status::Idle);
    assert_eq!(s.report_started, Some((Phase::Recommendation, 10_000.0)));
    let s = s.reduce(Action::CancelRecommendation);
    assert!(!s.recommending && s.report.is_none());
}

#[test]
fn a_link_with_an_inline_trace_opens_that_trace() {
    let bytes = b"not really a trace, but bytes".to_vec();
    let part = share::hash_part(
        "mine.rmap",
        None,
        Some(&SharedTrace {
            sha256: sha256_hex(&bytes),
            inline: share::inline(&bytes),
        }),
    );
    let s = AppState::initial(&format!("#n=2{part}"));
    assert_eq!(s.trace_name, "mine.rmap");
    assert_eq!(s.trace, s.trace.clone());
    assert!(matches!(&s.trace, TraceSource::Bytes(b) if **b == bytes));
    assert!(s.may_replay());
    let s = done(&Rc::new(s), &bytes);
    assert!(s.fragment().contains("trace=z:"), "{}", s.fragment());
    // The same link pasted again changes nothing; another settings part only the settings.
    let same = s.clone().reduce(Action::Hash(s.fragment()));
    assert_eq!(same.trace_gen, s.trace_gen);
    let other = s
        .clone()
        .reduce(Action::Hash(s.fragment().replace("n=2", "n=3")));
    assert_eq!(other.trace_gen, s.trace_gen);
    assert_eq!(other.settings.entries, "3");
    // A link without a trace goes back to the default trace.
    let back = s.clone().reduce(Action::Hash("#n=2".into()));
    assert_eq!(back.trace_name, DEFAULT_TRACE_NAME);
    assert_eq!(back.trace_gen, s.trace_gen + 1);
}

#[test]
fn a_hashed_link_waits_for_the_right_file() {
    let bytes = b"the right file".to_vec();
    let sha = sha256_hex(&bytes);
    let s = Rc::new(AppState::initial(&format!(
        "#n=2&name=big.dat&trace=sha256:{sha}"
    )));
    assert!(!s.may_replay());
    assert_eq!(s.wanted.as_ref().unwrap().name, "big.dat");
    let load = |s: &Rc<AppState>, b: &[u8]| {
        s.clone().reduce(Action::Load {
            name: "picked.dat".into(),
            source: TraceSource::Bytes(Rc::new(b.to_vec())),
            example: None,
        })
    };
    // The wrong file is refused and the page asks again.
    let wrong = load(&s, b"another file");
    assert!(wrong.may_replay());
    let wrong = done(&wrong, b"another file");
    assert!(wrong.summary.is_none());
    assert!(!wrong.may_replay());
    assert!(wrong
        .error
        .as_ref()
        .unwrap()
        .contains("not the trace the link names"));
    // The right one is accepted.
    let right = done(&load(&wrong, &bytes), &bytes);
    assert!(right.wanted.is_none());
    assert!(right.summary.is_some());
    assert!(
        right.fragment().contains("&name=picked.dat&trace=z:"),
        "{}",
        right.fragment()
    );
}

#[test]
fn examples_travel_by_name() {
    let s = Rc::new(AppState::initial("#n=2&example=alias1500"));
    assert_eq!(s.example.as_deref(), Some("alias1500"));
    let s = done(&s, b"x");
    assert!(
        s.fragment().ends_with("&example=alias1500"),
        "{}",
        s.fragment()
    );
    assert!(AppState::initial("#example=nope").error.is_some());
}

/// The stepper's rmap and step travel in the link: a page opened on one asks for that rmap
/// and opens at that step (not at the peak), and the page's own fragment carries them on.
#[test]
fn the_stepper_rmap_and_step_travel_in_the_link() {
    use rmaplab_core::trace::{RmapId, SpteId};
    let s = Rc::new(AppState::initial("#n=2,14&rmap=0x400&step=3"));
    assert_eq!(
        s.wanted_focus,
        Some(share::FocusRef {
            rmap: RmapId(0x400),
            step: Some(3)
        })
    );
    assert!(
        s.fragment().ends_with("&rmap=0x400&step=3"),
        "{}",
        s.fragment()
    );
    let events: Vec<FocusEvent> = (0..6).map(|i| FocusEvent::Add(SpteId(i + 1))).collect();
    let s = s.reduce(Action::Focused {
        rmap: RmapId(0x400),
        events: Rc::new(events.clone()),
        truncated: false,
    });
    assert_eq!(s.focus.as_ref().map(|f| f.step), Some(3));
    assert_eq!(s.wanted_focus, None);
    let s = s.reduce(Action::Step(5));
    assert!(
        s.fragment().ends_with("&rmap=0x400&step=5"),
        "{}",
        s.fragment()
    );
    // Without a step the page opens at the peak; another rmap's events ignore the link.
    let s = Rc::new(AppState::initial("#rmap=1024"));
    assert_eq!(
        s.wanted_focus.map(|w| (w.rmap, w.step)),
        Some((RmapId(1024), None))
    );
    let s = s.reduce(Action::Focused {
        rmap: RmapId(1024),
        events: Rc::new(events),
        truncated: false,
    });
    assert_eq!(s.focus.as_ref().map(|f| f.step), Some(6));
    assert_eq!(
        share::focus_ref("#n=2&rmap=zz"),
        None,
        "a bad rmap is ignored"
    );
}
