//! Components and state in a real browser (headless Chromium via wasm-bindgen-test-runner).

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

use rmaplab_core::gen::{generate_vec, meta_for, GenOptions, Workload};
use rmaplab_core::replay::{ReplayOptions, Replayer};
use rmaplab_core::ModelConfig;
use rmaplab_web::components::results_table::{ResultsTable, ResultsTableProps};
use rmaplab_web::components::stepper::snapshot_at;
use rmaplab_web::protocol::FocusEvent;
use rmaplab_web::state::{Action, AppState, Settings};
use std::rc::Rc;
use wasm_bindgen_test::*;
use yew::Reducible;

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
}

#[wasm_bindgen_test]
async fn results_table_marks_the_best_and_the_baseline() {
    let doc = web_sys::window().unwrap().document().unwrap();
    let root = doc.create_element("div").unwrap();
    doc.body().unwrap().append_child(&root).unwrap();
    let s = summary();
    yew::Renderer::<ResultsTable>::with_root_and_props(
        root.clone(),
        ResultsTableProps {
            configs: s.configs.clone(),
            checks: vec![],
        },
    )
    .render();
    yew::platform::time::sleep(std::time::Duration::from_millis(50)).await;
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
