//! Components and state in a real browser (headless Chromium via wasm-bindgen-test-runner).

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

use rmaplab_core::gen::{generate_vec, meta_for, GenOptions, Workload};
use rmaplab_core::replay::{ReplayOptions, Replayer};
use rmaplab_core::trace::{RmapId, SpteId};
use rmaplab_core::ModelConfig;
use rmaplab_web::components::results_table::{ResultsTable, ResultsTableProps};
use rmaplab_web::components::stepper::snapshot_at;
use rmaplab_web::protocol::FocusEvent;
use rmaplab_web::state::{Action, AppState, Settings, TraceSource};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use yew::{Callback, Reducible};

wasm_bindgen_test_configure!(run_in_browser);

fn summary() -> rmaplab_core::replay::ReplaySummary {
    let w = Workload::Fork {
        procs: 5,
        pages: 8,
        private: 1,
    };
    let o = GenOptions::default();
    let configs: Vec<ModelConfig> = [2, 14]
        .iter()
        .map(|&n| ModelConfig::new(n, rmaplab_core::Era::HeadInsert).unwrap())
        .collect();
    let mut r = Replayer::new(meta_for(&w, &o, "t"), &configs, ReplayOptions::default()).unwrap();
    r.feed_all(&generate_vec(&w, &o)).unwrap();
    r.finish()
}

#[wasm_bindgen_test]
fn reducer_loads_replays_and_reports_errors() {
    let s = Rc::new(AppState::initial("#n=2,4&era=tail-append"));
    assert_eq!(s.settings.entries, "2,4");
    let s = s.reduce(Action::Progress(5, 10));
    assert_eq!(
        s.status,
        rmaplab_web::state::Status::Running { done: 5, total: 10 }
    );
    let s = s.reduce(Action::Done {
        summary: Rc::new(summary()),
        asked: 2,
        longest: vec![],
        encoding: Some(rmaplab_core::input::Encoding::Binary),
        shared: Some(rmaplab_web::share::SharedTrace {
            sha256: rmaplab_core::sha256::sha256_hex(rmaplab_web::state::DEFAULT_TRACE),
            inline: None,
        }),
        candidates_pending: true,
        imports: 0,
    });
    assert!(
        s.recommending,
        "the recommendation's pass follows the results"
    );
    let s = s.reduce(Action::Candidates {
        configs: Rc::new(vec![]),
        sha256: None,
    });
    assert!(!s.recommending);
    assert_eq!(s.asked, 2);
    assert_eq!(
        s.fragment(),
        format!("#{}", s.settings.to_hash()),
        "the default trace is implied"
    );
    assert_eq!(s.status, rmaplab_web::state::Status::Idle);
    let s = s.reduce(Action::Failed("bad".into()));
    assert_eq!(s.error.as_deref(), Some("bad"));
    assert!(s.summary.is_some(), "an error keeps the previous results");
    let s = s.reduce(Action::Settings(Settings::default()));
    assert!(s.error.is_none());
    // A new trace that fails gives way to the one whose results are shown, naming itself.
    let shown = s.trace.clone();
    let gen = s.trace_gen;
    let s = s.reduce(Action::Load {
        name: "broken.rmap".into(),
        source: TraceSource::Bytes(Rc::new(b"junk".to_vec())),
        example: None,
    });
    assert_eq!(s.trace_gen, gen + 1);
    assert_eq!(s.encoding, None, "no stale encoding beside the new name");
    let s = s.reduce(Action::Failed("wrong magic".into()));
    assert_eq!(s.error.as_deref(), Some("broken.rmap: wrong magic"));
    assert_eq!(s.trace, shown);
    assert_eq!(s.trace_name, rmaplab_web::state::DEFAULT_TRACE_NAME);
    assert_eq!(s.encoding, Some(rmaplab_core::input::Encoding::Binary));
    assert_eq!(s.trace_gen, gen + 1, "going back does not replay again");
    // Likewise a cancelled load.
    let s = s.reduce(Action::Load {
        name: "huge.rmap".into(),
        source: TraceSource::Bytes(Rc::new(vec![0; 8])),
        example: None,
    });
    let s = s.reduce(Action::Cancel);
    assert_eq!(s.trace, shown);
    assert_eq!(s.status, rmaplab_web::state::Status::Cancelled);
}

#[wasm_bindgen_test]
async fn results_table_marks_the_best_and_kvm_today() {
    let s = summary();
    let root = mount::<ResultsTable>(ResultsTableProps {
        configs: Rc::new(s.configs.clone()),
        checks: vec![],
        host: rmaplab_core::memory::HostShape {
            vcpus: 8,
            vms: 1,
            traced_vms: false,
        },
        recommended: Some(s.configs[0].label.clone()),
    })
    .await;
    let html = root.inner_html();
    assert!(html.contains("14/head-insert (today)"), "{html}");
    assert!(
        html.contains(&format!("{} (recommended)", s.configs[0].label)),
        "{html}"
    );
    assert!(
        html.contains("<mark>32</mark>"),
        "the 32-byte object is the best object size"
    );
    assert_eq!(root.query_selector_all("tbody tr").unwrap().length(), 2);
    // The registry's columns, slab pages and dry allocations among them.
    for key in [
        "cache_dry_allocs",
        "vm_slab_pages",
        "caches_bytes_per_vm",
        "work_per_op",
    ] {
        assert!(
            html.contains(&format!("data-key=\"{key}\"")),
            "{key} missing"
        );
    }
    // Full caches of 8 vCPUs at 14 entries: 8 x 40 x 128 B.
    let cell: web_sys::HtmlElement = element(
        &root,
        "tr[data-config=\"14/head-insert\"] td[data-key=caches_bytes_per_vm]",
    );
    assert_eq!(
        cell.inner_text(),
        "40,960",
        "integers read with thousands separators"
    );
    assert!(
        html.contains("class=\"sticky\""),
        "the configuration column stays in view"
    );
}

#[wasm_bindgen_test]
fn stepper_snapshots_follow_the_kernel() {
    let ev: Vec<FocusEvent> = (1..=5)
        .map(|s| FocusEvent::Add(SpteId(s)))
        .chain([FocusEvent::Remove(SpteId(1))])
        .collect();
    let hi = snapshot_at(&ev, 5, rmaplab_core::Era::HeadInsert, 2, Some(1000));
    assert_eq!(hi.count, Some(4));
    let chains: Vec<Vec<u64>> = hi.snap.descs().iter().map(|d| d.sptes.clone()).collect();
    assert_eq!(chains, vec![vec![5], vec![3, 4], vec![1, 2]]);
    // The fifth add walked the head descriptor (full) and wrote one slot of a new one.
    assert_eq!(hi.changed, vec![(0, 0)]);
    let ta = snapshot_at(&ev, 6, rmaplab_core::Era::TailAppend, 2, Some(1000));
    let chains: Vec<Vec<u64>> = ta.snap.descs().iter().map(|d| d.sptes.clone()).collect();
    assert_eq!(chains, vec![vec![2], vec![3, 4], vec![5]]);
    // Removing spte 1 found it in the first descriptor and moved that descriptor's last entry
    // into its slot.
    assert_eq!(ta.changed, vec![(0, 0)]);
    assert_eq!(ta.descs_walked, 1);
}

#[wasm_bindgen_test]
async fn stepper_applies_the_recycle_threshold() {
    use rmaplab_web::components::stepper::{Stepper, StepperProps};
    use rmaplab_web::state::SteppedRmap;
    let ev: Vec<FocusEvent> = (1..=1500).map(|s| FocusEvent::Add(SpteId(s))).collect();
    // The 1002nd add finds 1001 entries, more than the threshold: KVM zaps the list.
    let at = snapshot_at(&ev, 1002, rmaplab_core::Era::HeadInsert, 14, Some(1000));
    assert!(at.recycled);
    assert_eq!(at.count, Some(1001));
    assert!(at.snap.descs().is_empty() && at.snap.single().is_none());
    let end = snapshot_at(&ev, 1500, rmaplab_core::Era::HeadInsert, 14, Some(1000));
    let held: usize = end.snap.descs().iter().map(|d| d.sptes.len()).sum();
    assert_eq!(held, 498, "the 498 adds after the zap");
    let off = snapshot_at(&ev, 1500, rmaplab_core::Era::HeadInsert, 14, None);
    let held: usize = off.snap.descs().iter().map(|d| d.sptes.len()).sum();
    assert_eq!(held, 1500);
    let root = mount::<Stepper>(StepperProps {
        longest: vec![],
        focus: Some(SteppedRmap {
            rmap: RmapId(0x400),
            events: Rc::new(ev),
            truncated: false,
            step: 1002,
            entries: 14,
        }),
        on_pick: Callback::noop(),
        on_step: Callback::noop(),
        on_entries: Callback::noop(),
        recycle: Some(1000),
    })
    .await;
    let text = root.text_content().unwrap();
    assert!(text.contains("KVM zapped it"), "{text}");
    assert!(text.contains("pte_list_add returned 1001"), "{text}");
    assert!(text.contains("descriptor(s) and changed"), "{text}");
}

/// Mount `C` with `props` in a fresh element of the page and wait until Yew has rendered it
/// (its first node is in the page; no guess at how long rendering takes).
async fn mount<C>(props: C::Properties) -> web_sys::Element
where
    C: yew::BaseComponent,
{
    let doc = web_sys::window().unwrap().document().unwrap();
    let root = doc.create_element("div").unwrap();
    doc.body().unwrap().append_child(&root).unwrap();
    yew::Renderer::<C>::with_root_and_props(root.clone(), props).render();
    // Yew renders on its scheduler: yield until the component's nodes appear (a backstop of
    // many seconds only turns a component that renders nothing into a clear failure).
    for _ in 0..RENDER_POLLS {
        if root.first_child().is_some() {
            break;
        }
        yew::platform::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(root.first_child().is_some(), "the component never rendered");
    // Effects run after the first render: one more turn of the scheduler for them.
    yew::platform::time::sleep(std::time::Duration::ZERO).await;
    root
}

/// Polls of 10 ms [`mount`] waits at most for a component's first render.
const RENDER_POLLS: u32 = 3000;

fn element<T: wasm_bindgen::JsCast>(root: &web_sys::Element, selector: &str) -> T {
    root.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no {selector} in {}", root.inner_html()))
        .dyn_into::<T>()
        .unwrap()
}

fn fire(target: &web_sys::Element, kind: &str) {
    let ev = web_sys::Event::new_with_event_init_dict(kind, &{
        let init = web_sys::EventInit::new();
        init.set_bubbles(true);
        init
    })
    .unwrap();
    target.dispatch_event(&ev).unwrap();
}

#[wasm_bindgen_test]
async fn loader_shows_progress_and_cancels() {
    use rmaplab_web::components::loader::{Loader, LoaderProps};
    let cancelled = Rc::new(std::cell::Cell::new(0));
    let c = cancelled.clone();
    let root = mount::<Loader>(LoaderProps {
        trace_name: "big.rmap".into(),
        encoding: None,
        status: rmaplab_web::state::Status::Running {
            done: 1 << 30,
            total: 1 << 31,
        },
        on_file: Callback::noop(),
        on_cancel: Callback::from(move |()| c.set(c.get() + 1)),
        wanted: None,
        report: None,
        eta_s: None,
    })
    .await;
    let bar: web_sys::HtmlProgressElement = element(&root, ".progress progress");
    assert_eq!(
        bar.value(),
        50.0,
        "offsets above 2^31 give the right percentage"
    );
    assert!(root.inner_html().contains("starting the replay… 50%"));
    // With the worker's report: the phase, bytes, events and what is left.
    let report = rmaplab_web::protocol::ProgressReport {
        phase: rmaplab_web::protocol::Phase::Replay,
        stage: "import: counting".into(),
        pass: 1,
        passes: 2,
        bytes: 3 << 20,
        of_bytes: Some(12 << 20),
        events: 0,
        kept: false,
        done: 1,
        total: 5,
    };
    let with_report = mount::<Loader>(LoaderProps {
        trace_name: "big.dat".into(),
        encoding: None,
        status: rmaplab_web::state::Status::Running { done: 1, total: 5 },
        on_file: Callback::noop(),
        on_cancel: Callback::noop(),
        wanted: None,
        report: Some(Rc::new(report)),
        eta_s: Some(21.0),
    })
    .await;
    let text: web_sys::HtmlElement = element(&with_report, ".progress-text");
    assert_eq!(
        text.inner_text().trim(),
        "import: counting (pass 1 of 2) · 3.0 of 12.0 MiB · 20% in all · about 21 s left"
    );
    let label: web_sys::HtmlElement = element(&root, "label[for=file]");
    assert_eq!(label.inner_text(), "Open a trace…");
    let button: web_sys::HtmlElement = element(&root, ".progress button");
    button.click();
    assert_eq!(cancelled.get(), 1);
}

#[wasm_bindgen_test]
async fn stepper_offers_ids_above_2_pow_53_exactly() {
    use rmaplab_web::components::stepper::{Stepper, StepperProps};
    use rmaplab_web::protocol::LongRmap;
    let picked = Rc::new(std::cell::Cell::new(RmapId(0)));
    let p = picked.clone();
    let big = RmapId(u64::MAX - 1);
    let root = mount::<Stepper>(StepperProps {
        longest: vec![
            LongRmap {
                rmap: big,
                gfn: Some(0x400),
                peak: 3,
                events: 4,
            },
            LongRmap {
                rmap: RmapId(7),
                gfn: None,
                peak: 1,
                events: 1,
            },
        ],
        focus: None,
        on_pick: Callback::from(move |r| p.set(r)),
        on_step: Callback::noop(),
        on_entries: Callback::noop(),
        recycle: Some(1000),
    })
    .await;
    let select: web_sys::HtmlSelectElement = element(&root, "#rmap-pick");
    assert_eq!(select.length(), 3, "a blank choice and the two rmaps");
    select.set_value(&big.to_string());
    fire(&select, "change");
    assert_eq!(
        picked.get(),
        big,
        "the pick carries the id without rounding"
    );
}

#[wasm_bindgen_test]
async fn controls_report_new_sizes() {
    use rmaplab_web::components::controls::{Controls, ControlsProps};
    let seen = Rc::new(std::cell::RefCell::new(None::<Settings>));
    let s = seen.clone();
    let errors = Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let errs = errors.clone();
    let root = mount::<Controls>(ControlsProps {
        settings: Settings::default(),
        on_change: Callback::from(move |v| *s.borrow_mut() = Some(v)),
        trace_vcpus: Some(4),
        trace_tdp: Some(false),
        trace_vms: Some(1),
        on_errors: Callback::from(move |e| *errs.borrow_mut() = e),
    })
    .await;
    let vcpus: web_sys::HtmlInputElement = element(&root, "#vcpus");
    assert_eq!(vcpus.value(), "", "vCPUs come from the trace unless typed");
    assert_eq!(vcpus.placeholder(), "4 (the trace's)");
    let entries: web_sys::HtmlInputElement = element(&root, "#entries");
    entries.set_value("2,5,9");
    fire(&entries, "change");
    let got = seen.borrow().clone().expect("on_change fired");
    assert_eq!(got.entries, "2,5,9");
    let req = got.request().unwrap();
    assert_eq!(req.entries.len(), 3);
    let seed: web_sys::HtmlInputElement = element(&root, "#seed");
    seed.click();
    assert!(
        seen.borrow().as_ref().unwrap().seed,
        "the seed's rule is offered"
    );
    let lazy: web_sys::HtmlInputElement = element(&root, "#topup-lazy");
    lazy.click();
    assert_eq!(
        seen.borrow().as_ref().unwrap().topups,
        rmaplab_core::config::TopupPolicy::ALL.to_vec()
    );
    // What cannot be taken as typed is marked where it was typed, listed, and never passed on.
    vcpus.set_value("0");
    fire(&vcpus, "change");
    entries.set_value("1,65");
    fire(&entries, "change");
    yew::platform::time::sleep(std::time::Duration::from_millis(50)).await;
    let vcpus: web_sys::HtmlInputElement = element(&root, "#vcpus");
    assert_eq!(vcpus.get_attribute("aria-invalid").as_deref(), Some("true"));
    assert_eq!(
        vcpus.get_attribute("aria-describedby").as_deref(),
        Some("vcpus-error")
    );
    let message: web_sys::HtmlElement = element(&root, "#vcpus-error");
    assert!(
        message.inner_text().contains("outside 1..4096"),
        "{}",
        message.inner_text()
    );
    assert_eq!(
        seen.borrow().as_ref().unwrap().vcpus,
        None,
        "0 is not coerced to 1"
    );
    assert_ne!(seen.borrow().as_ref().unwrap().entries, "1,65");
    assert_eq!(errors.borrow().len(), 3, "{:?}", errors.borrow());
    assert_eq!(
        root.query_selector_all(".field-errors li")
            .unwrap()
            .length(),
        3
    );
    // Fixed: taken, and the marks go.
    vcpus.set_value("8");
    fire(&vcpus, "change");
    yew::platform::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(seen.borrow().as_ref().unwrap().vcpus, Some(8));
    assert_eq!(errors.borrow().len(), 2, "{:?}", errors.borrow());
    // Every input has a label.
    let inputs = root.query_selector_all("input").unwrap();
    for i in 0..inputs.length() {
        let input: web_sys::HtmlInputElement = inputs.get(i).unwrap().dyn_into().unwrap();
        assert!(
            root.query_selector(&format!("label[for=\"{}\"]", input.id()))
                .unwrap()
                .is_some(),
            "input #{} has no label",
            input.id()
        );
    }
}

#[wasm_bindgen_test]
async fn seed_check_and_recommendation_state_the_numbers() {
    use rmaplab_web::components::seed_check::{SeedCheck, SeedCheckProps};
    let s = summary();
    let root = mount::<SeedCheck>(SeedCheckProps {
        summary: s.clone(),
        capacity: 40,
        vcpus: 8,
    })
    .await;
    let text = root.text_content().unwrap();
    assert!(text.contains("128 B → 32 B"), "{text}");
    assert!(text.contains("5120 B → 1280 B per vCPU"), "{text}");
    assert!(text.contains("5120 B for 8 vCPUs at capacity 40"), "{text}");
    // max_mmu_rmap_size is the size before an add: the largest list held one more.
    let max = s.configs[0].max_rmap_size;
    assert!(
        text.contains(&format!(
            "the largest list held {} SPTEs (KVM's max_mmu_rmap_size = {max}",
            max + 1
        )),
        "{text}"
    );
    // 8 full caches: 10 pages at 14 entries, 3 at 2.
    assert!(
        text.contains("the full caches of 8 vCPUs pin 10 pages at 14 entries and 3 at 2"),
        "{text}"
    );
}

/// The summary of the fork trace replayed through `typed` plus KVM today and the
/// recommendation's candidates, as the worker does it.
fn replayed_with(typed: &[usize]) -> rmaplab_core::replay::ReplaySummary {
    let w = Workload::Fork {
        procs: 12,
        pages: 16,
        private: 2,
    };
    let o = GenOptions {
        vcpus: 4,
        ..GenOptions::default()
    };
    let meta = meta_for(&w, &o, "t");
    let asked: Vec<ModelConfig> = typed
        .iter()
        .map(|&n| ModelConfig::new(n, rmaplab_core::Era::HeadInsert).unwrap())
        .collect();
    let (mut configs, candidates) = rmaplab_core::recommend::plan(&asked, &meta);
    configs.extend(candidates);
    let mut r = Replayer::new(meta, &configs, ReplayOptions::default()).unwrap();
    r.feed_all(&generate_vec(&w, &o)).unwrap();
    r.finish()
}

#[wasm_bindgen_test]
async fn the_recommendation_does_not_depend_on_the_sizes_typed() {
    use rmaplab_web::components::recommendation::{RecommendationLine, RecommendationProps};
    let mut texts = Vec::new();
    for typed in [&[2usize][..], &[2, 3, 4, 6, 8, 14, 16], &[64, 33]] {
        let s = replayed_with(typed);
        let host = Settings::default().host(&s);
        assert_eq!(host.vcpus, 4, "vCPUs come from the trace");
        let rec =
            rmaplab_core::recommend::recommend(&s.configs, rmaplab_core::Era::HeadInsert, host, 10);
        let root = mount::<RecommendationLine>(RecommendationProps {
            rec,
            pending: false,
            trust: s.trust(),
            report: None,
            eta_s: None,
            on_cancel: Callback::noop(),
        })
        .await;
        let text = root.text_content().unwrap();
        assert!(text.starts_with("Recommendation: N = "), "{text}");
        assert!(text.contains("per 4-vCPU VM"), "{text}");
        texts.push(text);
    }
    assert_eq!(texts[0], texts[1]);
    assert_eq!(texts[0], texts[2]);
}

/// A trace that may miss removals gets no recommendation: the line says why instead, even
/// while (or after) the candidates are replayed; so does a replay that does not reproduce
/// KVM's counters. The trust line above says what the figures are, and what to record.
#[wasm_bindgen_test]
async fn a_trace_that_is_not_exact_gets_no_recommendation() {
    use rmaplab_core::exactness::{Exactness, Trust, UnseenRemoval};
    use rmaplab_web::components::recommendation::{RecommendationLine, RecommendationProps};
    use rmaplab_web::components::trust_line::{TrustLine, TrustLineProps};
    let not_exact = Exactness::assess(&UnseenRemoval::ALL, &Default::default());
    let trust = Trust::assess(&not_exact, (244, 0), true);
    for pending in [false, true] {
        let root = mount::<RecommendationLine>(RecommendationProps {
            rec: None,
            pending,
            trust: trust.clone(),
            report: None,
            eta_s: None,
            on_cancel: Callback::noop(),
        })
        .await;
        let text = root.text_content().unwrap();
        assert!(
            text.starts_with("Not exact — no recommendation. "),
            "{text}"
        );
        assert!(text.contains("page tables"), "{text}");
    }
    let root = mount::<RecommendationLine>(RecommendationProps {
        rec: None,
        pending: false,
        report: None,
        eta_s: None,
        on_cancel: Callback::noop(),
        trust: Trust::Mismatched {
            mismatched: 2,
            checked: 9,
        },
    })
    .await;
    let text = root.text_content().unwrap();
    assert!(
        text.starts_with("No recommendation: Not reproduced — 2 of the 9"),
        "{text}"
    );
    let root = mount::<TrustLine>(TrustLineProps { trust }).await;
    let text = root.text_content().unwrap();
    assert!(
        text.starts_with("Not exact — this trace cannot show every removal."),
        "{text}"
    );
    assert!(
        text.contains("rmaplab collect") && text.contains("<="),
        "{text}"
    );
    let root = mount::<TrustLine>(TrustLineProps {
        trust: Trust::Unchecked,
    })
    .await;
    let text = root.text_content().unwrap();
    assert!(
        text.starts_with("Exact — not checked against KVM's counters."),
        "{text}"
    );
    assert!(text.contains("max_mmu_rmap_size"), "{text}");
}

/// The headline says the answer, or why there is none; never a size from inexact figures.
#[wasm_bindgen_test]
async fn the_verdict_names_the_size_or_why_there_is_none() {
    use rmaplab_core::exactness::{Exactness, Trust, UnseenRemoval};
    use rmaplab_web::components::verdict::{Verdict, VerdictProps};
    let s = replayed_with(&[2, 14]);
    let host = Settings::default().host(&s);
    let rec =
        rmaplab_core::recommend::recommend(&s.configs, rmaplab_core::Era::HeadInsert, host, 10);
    let root = mount::<Verdict>(VerdictProps {
        trust: Trust::Unchecked,
        rec: rec.clone(),
        pending: false,
    })
    .await;
    let text = root.text_content().unwrap();
    assert!(
        text.starts_with("Use N = ") || text.starts_with("Keep 14 entries"),
        "{text}"
    );
    let not_exact = Trust::assess(
        &Exactness::assess(&UnseenRemoval::ALL, &Default::default()),
        (0, 0),
        true,
    );
    let root = mount::<Verdict>(VerdictProps {
        trust: not_exact,
        rec,
        pending: false,
    })
    .await;
    let text = root.text_content().unwrap();
    assert!(text.starts_with("No size recommended: Not exact"), "{text}");
}

#[wasm_bindgen_test]
async fn export_copies_the_changelog_text() {
    use rmaplab_web::components::export::{Export, ExportProps};
    let copies = Rc::new(std::cell::Cell::new(0));
    let c = copies.clone();
    let root = mount::<Export>(ExportProps {
        on_csv: Callback::noop(),
        on_json: Callback::noop(),
        on_trace: Callback::noop(),
        on_copy_link: Callback::noop(),
        on_copy_text: Callback::from(move |()| c.set(c.get() + 1)),
        link: "#n=2".into(),
        link_ready: true,
        changelog: "pte_list_desc array sizes measured on x".into(),
        copied: Some(Ok("Changelog text copied".into())),
    })
    .await;
    let button: web_sys::HtmlElement = element(&root, "#copy-text");
    button.click();
    assert_eq!(copies.get(), 1);
    let pre: web_sys::HtmlElement = element(&root, "#changelog-text");
    assert_eq!(
        pre.text_content().unwrap(),
        "pte_list_desc array sizes measured on x"
    );
    assert!(root
        .text_content()
        .unwrap()
        .contains("Changelog text copied"));
}
