//! Components and state in a real browser (headless Chromium via wasm-bindgen-test-runner).

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

use rmaplab_core::gen::{generate_vec, meta_for, GenOptions, Workload};
use rmaplab_core::replay::{ReplayOptions, Replayer};
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
    assert_eq!(s.status, rmaplab_web::state::Status::Running(5, 10));
    let s = s.reduce(Action::Done {
        summary: Rc::new(summary()),
        longest: vec![],
        encoding: "rmaplab binary".into(),
    });
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
    });
    assert_eq!(s.trace_gen, gen + 1);
    assert_eq!(s.encoding, "", "no stale encoding beside the new name");
    let s = s.reduce(Action::Failed("wrong magic".into()));
    assert_eq!(s.error.as_deref(), Some("broken.rmap: wrong magic"));
    assert_eq!(s.trace, shown);
    assert_eq!(s.trace_name, rmaplab_web::state::DEFAULT_TRACE_NAME);
    assert_eq!(s.encoding, "rmaplab binary");
    assert_eq!(s.trace_gen, gen + 1, "going back does not replay again");
    // Likewise a cancelled load.
    let s = s.reduce(Action::Load {
        name: "huge.rmap".into(),
        source: TraceSource::Bytes(Rc::new(vec![0; 8])),
    });
    let s = s.reduce(Action::Cancel);
    assert_eq!(s.trace, shown);
    assert_eq!(s.status, rmaplab_web::state::Status::Cancelled);
}

#[wasm_bindgen_test]
async fn results_table_marks_the_best_and_the_baseline() {
    let s = summary();
    let root = mount::<ResultsTable>(ResultsTableProps {
        configs: s.configs.clone(),
        checks: vec![],
    })
    .await;
    let html = root.inner_html();
    assert!(html.contains("14/head-insert (today)"), "{html}");
    assert!(
        html.contains("<mark>32</mark>"),
        "the 32-byte object is the best object size"
    );
    assert_eq!(root.query_selector_all("tbody tr").unwrap().length(), 2);
}

#[wasm_bindgen_test]
fn stepper_snapshots_follow_the_kernel() {
    let ev: Vec<FocusEvent> = (1..=5)
        .map(FocusEvent::Add)
        .chain([FocusEvent::Remove(1)])
        .collect();
    let (hi, last) = snapshot_at(&ev, 5, rmaplab_core::Era::HeadInsert, 2);
    assert_eq!(last, Some(4));
    let chains: Vec<Vec<u64>> = hi.descs.iter().map(|d| d.sptes.clone()).collect();
    assert_eq!(chains, vec![vec![5], vec![3, 4], vec![1, 2]]);
    let (ta, _) = snapshot_at(&ev, 6, rmaplab_core::Era::TailAppend, 2);
    let chains: Vec<Vec<u64>> = ta.descs.iter().map(|d| d.sptes.clone()).collect();
    assert_eq!(chains, vec![vec![2], vec![3, 4], vec![5]]);
}

/// Mount `C` with `props` in a fresh element of the page and let Yew render it.
async fn mount<C>(props: C::Properties) -> web_sys::Element
where
    C: yew::BaseComponent,
{
    let doc = web_sys::window().unwrap().document().unwrap();
    let root = doc.create_element("div").unwrap();
    doc.body().unwrap().append_child(&root).unwrap();
    yew::Renderer::<C>::with_root_and_props(root.clone(), props).render();
    yew::platform::time::sleep(std::time::Duration::from_millis(50)).await;
    root
}

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
        encoding: "".into(),
        status: rmaplab_web::state::Status::Running(1 << 30, 1 << 31),
        on_file: Callback::noop(),
        on_cancel: Callback::from(move |()| c.set(c.get() + 1)),
    })
    .await;
    let bar: web_sys::HtmlProgressElement = element(&root, ".progress progress");
    assert_eq!(
        bar.value(),
        50.0,
        "offsets above 2^31 give the right percentage"
    );
    assert!(root.inner_html().contains("replaying… 50%"));
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
    let picked = Rc::new(std::cell::Cell::new(0u64));
    let p = picked.clone();
    let big = u64::MAX - 1;
    let root = mount::<Stepper>(StepperProps {
        longest: vec![
            LongRmap {
                rmap: big,
                gfn: Some(0x400),
                peak: 3,
                events: 4,
            },
            LongRmap {
                rmap: 7,
                gfn: None,
                peak: 1,
                events: 1,
            },
        ],
        focus: None,
        on_pick: Callback::from(move |r| p.set(r)),
        on_step: Callback::noop(),
        on_entries: Callback::noop(),
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
    let root = mount::<Controls>(ControlsProps {
        settings: Settings::default(),
        on_change: Callback::from(move |v| *s.borrow_mut() = Some(v)),
    })
    .await;
    let entries: web_sys::HtmlInputElement = element(&root, "#entries");
    entries.set_value("2,5,9");
    fire(&entries, "change");
    let got = seen.borrow().clone().expect("on_change fired");
    assert_eq!(got.entries, "2,5,9");
    let configs = got.configs().unwrap();
    assert!(configs
        .iter()
        .any(|c| c.entries == 14 && c.era == rmaplab_core::Era::HeadInsert));
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
    use rmaplab_web::components::recommendation::{RecommendationLine, RecommendationProps};
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
    let rec = rmaplab_web::state::recommend(&s.configs, 10, 8);
    assert!(rec.is_some());
    let root = mount::<RecommendationLine>(RecommendationProps {
        rec,
        within_pct: 10,
        vcpus: 8,
    })
    .await;
    let text = root.text_content().unwrap();
    assert!(text.starts_with("Recommendation: N = "), "{text}");
    assert!(text.contains("for a 8-vCPU VM"), "{text}");
}
