//! The root component: it owns the replay worker (through [`crate::client`]) and wires the
//! components to the state.

use crate::client::{self, post, WorkerSlot};
use crate::components::{
    comparison::Comparison, controls::Controls, examples_menu::ExamplesMenu, export::Export,
    histogram_chart::HistogramChart, how_to_capture::HowToCapture, loader::Loader,
    memory_chart::MemoryChart, provenance::Provenance, recommendation::RecommendationLine,
    results_table::ResultsTable, seed_check::SeedCheck, stepper::Stepper,
    tradeoff_chart::TradeoffChart, trust_line::TrustLine, vcpus_chart::VcpusChart,
    verdict::Verdict,
};
use crate::downloads::{copy_text, download, download_name};
use crate::hooks::{use_linked_focus, use_location_hash, use_replay};
use crate::protocol::{Phase, Request};
use crate::state::{Action, AppState, Settings, Status, TraceSource};
use rmaplab_core::changelog::{self, ReportFormat, ReportInput};
use rmaplab_core::trace::RmapId;
use rmaplab_core::{columns, recommend};
use std::rc::Rc;
use yew::prelude::*;

/// Most events of one rmap the stepper loads.
pub const FOCUS_LIMIT: usize = 20_000;

/// The root component.
#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(|| AppState::initial(&crate::hooks::location_hash()));
    let slot: WorkerSlot = use_mut_ref(|| None);
    let dispatch = state.dispatcher();
    let copied = use_state(|| None::<Result<String, String>>);
    // A file is being dragged over the page: an overlay says where it goes.
    let dragging = use_state(|| false);

    // The effects: replaying, the stepper's linked rmap, the URL both ways (hooks.rs).
    use_replay(&state, &slot);
    use_linked_focus(&state, &slot);
    use_location_hash(&state);

    let on_settings = {
        let d = dispatch.clone();
        Callback::from(move |s: Settings| d.dispatch(Action::Settings(s)))
    };
    let on_file = {
        let d = dispatch.clone();
        // The file is not read here: the worker reads it in slices, so any size works.
        Callback::from(move |f: web_sys::File| {
            let name = f.name();
            if f.size() == 0.0 {
                d.dispatch(Action::Failed(format!(
                    "{name}: the file is empty — choose an rmaplab trace or a kvmmmu capture (trace.dat, perf.data, text)"
                )));
            } else {
                d.dispatch(Action::Load {
                    name,
                    source: TraceSource::File(Rc::new(f)),
                    example: None,
                });
            }
        })
    };
    let on_example = {
        let d = dispatch.clone();
        Callback::from(move |key: String| match crate::examples::example(&key) {
            Some((name, bytes)) => d.dispatch(Action::Load {
                name,
                source: TraceSource::Bytes(Rc::new(bytes)),
                example: Some(key),
            }),
            None => d.dispatch(Action::Failed(format!("there is no example {key:?}"))),
        })
    };
    let on_vm = {
        let (d, settings) = (dispatch.clone(), state.settings.clone());
        Callback::from(move |vm: Option<u64>| {
            d.dispatch(Action::Settings(Settings {
                vm,
                ..settings.clone()
            }))
        })
    };
    let on_cancel = {
        let (slot, d) = (slot.clone(), dispatch.clone());
        Callback::from(move |_| {
            client::stop(&slot);
            d.dispatch(Action::Cancel);
        })
    };
    let on_errors = {
        let d = dispatch.clone();
        Callback::from(move |errors: Vec<String>| d.dispatch(Action::FieldErrors(errors)))
    };
    let on_cancel_recommendation = {
        let (slot, d) = (slot.clone(), dispatch.clone());
        Callback::from(move |_| {
            client::stop(&slot);
            d.dispatch(Action::CancelRecommendation);
        })
    };
    let report_of = |phase: Phase| state.report.clone().filter(|r| r.phase == phase);
    // Every request names the trace: after a failed load the worker may still hold that file.
    let on_pick = {
        let (slot, d, trace) = (slot.clone(), dispatch.clone(), state.trace.clone());
        let vm = state.settings.vm;
        Callback::from(move |rmap: RmapId| {
            if let Err(e) = post(
                &slot,
                &Request::Focus {
                    rmap,
                    limit: FOCUS_LIMIT,
                    vm,
                },
                Some(&trace),
            ) {
                d.dispatch(Action::Failed(e));
            }
        })
    };
    let on_step = {
        let d = dispatch.clone();
        Callback::from(move |k| d.dispatch(Action::Step(k)))
    };
    let on_focus_entries = {
        let d = dispatch.clone();
        Callback::from(move |n| d.dispatch(Action::FocusEntries(n)))
    };
    let ondragover = {
        let dragging = dragging.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            if !*dragging {
                dragging.set(true);
            }
        })
    };
    // Leaving the window (not just moving between the page's elements) ends the drag.
    let ondragleave = {
        let dragging = dragging.clone();
        Callback::from(move |e: DragEvent| {
            if e.related_target().is_none() {
                dragging.set(false);
            }
        })
    };
    let ondrop = {
        let (on_file, dragging) = (on_file.clone(), dragging.clone());
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            dragging.set(false);
            if let Some(f) = e
                .data_transfer()
                .and_then(|t| t.files())
                .and_then(|l| l.get(0))
            {
                on_file.emit(f);
            }
        })
    };
    let summary = state.summary.clone();
    let settings = state.settings.clone();
    let host = summary.as_ref().map(|s| settings.host(s));
    // The configurations asked for, and below those plus the recommended one: each built once
    // per render and shared by the components (Rc props, not a copy each).
    let shown_configs: Rc<Vec<rmaplab_core::ConfigReport>> = Rc::new(
        summary
            .as_ref()
            .map(|s| s.configs[..state.asked.min(s.configs.len())].to_vec())
            .unwrap_or_default(),
    );
    let all_configs = state.all_configs();
    let rec = summary.as_ref().zip(host).and_then(|(s, h)| {
        recommend::recommend(
            &all_configs,
            recommend::recommendation_era(&s.meta),
            h,
            settings.within_pct,
        )
    });
    // The table and charts also show the recommended size when it was not asked for (the
    // exports keep what was asked).
    let recommended = rec.as_ref().map(|r| r.label.clone());
    let missing = recommended
        .as_ref()
        .filter(|label| !shown_configs.iter().any(|c| &c.label == *label))
        .and_then(|label| all_configs.iter().find(|c| &c.label == label));
    let table_configs = match missing {
        Some(c) => {
            let mut v = (*shown_configs).clone();
            v.push(c.clone());
            Rc::new(v)
        }
        None => shown_configs.clone(),
    };
    let changelog_text = summary.as_ref().zip(host).map(|(s, h)| {
        let shown: Vec<usize> = (0..state.asked.min(s.configs.len())).collect();
        let name = state
            .shown
            .as_ref()
            .map_or(state.trace_name.clone(), |g| g.name.clone());
        changelog::report(
            &ReportInput {
                summary: s,
                trace_name: &name,
                shown: &shown,
                host: h,
                vcpus_from_trace: settings.vcpus.is_none(),
                recommendation: rec.as_ref(),
            },
            ReportFormat::Text,
        )
    });
    // Downloads are named for the trace whose results are shown.
    let shown_name = state
        .shown
        .as_ref()
        .map_or(state.trace_name.clone(), |g| g.name.clone());
    let on_pin = {
        let d = dispatch.clone();
        Callback::from(move |()| d.dispatch(Action::Pin))
    };
    let on_unpin = {
        let d = dispatch.clone();
        Callback::from(move |()| d.dispatch(Action::Unpin))
    };
    let on_csv = {
        let (rows, d) = (shown_configs.clone(), dispatch.clone());
        let name = download_name(&shown_name, "-results.csv");
        Callback::from(move |_| {
            if let Some(h) = host {
                let csv = columns::csv(&rows, h);
                if let Err(e) = download(&name, "text/csv", csv.as_bytes()) {
                    d.dispatch(Action::Failed(e))
                }
            }
        })
    };
    let on_json = {
        let (rows, d) = (shown_configs.clone(), dispatch.clone());
        let name = download_name(&shown_name, "-results.json");
        Callback::from(move |_| {
            if let Some(h) = host {
                let r = serde_json::to_string_pretty(&columns::json_rows(&rows, h))
                    .map_err(|e| e.to_string())
                    .and_then(|t| download(&name, "application/json", t.as_bytes()));
                if let Err(e) = r {
                    d.dispatch(Action::Failed(e))
                }
            }
        })
    };
    // The worker re-encodes the trace (it holds it) and answers with the bytes to download.
    let on_trace = {
        let (slot, d, trace) = (slot.clone(), dispatch.clone(), state.trace.clone());
        let vm = state.settings.vm;
        let name = download_name(&shown_name, ".rmap");
        Callback::from(move |_| {
            client::set_export_name(&slot, &name);
            if let Err(e) = post(&slot, &Request::Export { vm }, Some(&trace)) {
                d.dispatch(Action::Failed(e))
            }
        })
    };
    let link = state.fragment();
    let copy = |what: &'static str, text: String| {
        let copied = copied.clone();
        Callback::from(move |_| {
            let c = copied.clone();
            copy_text(&text, move |r| {
                c.set(Some(r.map(|()| format!("{what} copied"))))
            });
        })
    };
    let full_link = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .map_or(link.clone(), |h| {
            format!("{}{link}", h.split('#').next().unwrap_or_default())
        });
    let on_copy_link = copy("Link", full_link);
    let on_copy_text = copy("Changelog text", changelog_text.clone().unwrap_or_default());
    let trace_meta = summary.as_ref().map(|s| &s.meta);
    // Results of an earlier trace or settings stay on screen, dimmed and labelled, while new
    // ones are computed or while an error stands.
    let running = matches!(state.status, Status::Running { .. });
    let shown_name = state
        .shown
        .as_ref()
        .map_or(state.trace_name.clone(), |g| g.name.clone());
    let stale = if running && shown_name != state.trace_name {
        Some(format!(
            "The results below are for {shown_name}, until {} is replayed.",
            state.trace_name
        ))
    } else if running {
        Some(
            "The results below are for the previous settings, until the replay finishes."
                .to_string(),
        )
    } else if !state.field_errors.is_empty() {
        Some("The results below are for the last valid settings: fix the fields marked above to update them.".to_string())
    } else if state.error.is_some() {
        Some(format!(
            "The results below are for the last settings of {shown_name} that could be replayed: fix the error above to update them."
        ))
    } else {
        None
    };
    html! {
        <div class="page" {ondragover} {ondragleave} {ondrop}>
            if *dragging {
                <div class="drop-overlay" aria-hidden="true"><p>{"Drop the trace or capture to open it here"}</p></div>
            }
            <header>
                <h1>{"rmaplab playground"}</h1>
                <p>{"How big should the array in KVM's "}<code>{"struct pte_list_desc"}</code>{" be? Each row replays the trace through one array size and kernel era, exactly as the kernel's list code would."}</p>
            </header>
            <main data-imports={state.imports.to_string()}>
                <Loader trace_name={state.trace_name.clone()} encoding={state.encoding} status={state.status.clone()} wanted={state.wanted.clone()} {on_file} {on_cancel}
                    report={report_of(Phase::Replay)} eta_s={state.eta_s} />
                if let Some(s) = &summary {
                    <div class={classes!("verdict-area", stale.is_some().then_some("stale"))}>
                        <Verdict trust={s.trust()} rec={rec.clone()} pending={state.recommending} />
                        <TrustLine trust={s.trust()} />
                    </div>
                }
                <ExamplesMenu current={state.example.clone()} {on_example} />
                <HowToCapture />
                <Controls settings={settings.clone()} on_change={on_settings}
                    trace_vcpus={host.filter(|_| settings.vcpus.is_none()).map(|h| h.vcpus)}
                    trace_vms={host.filter(|_| settings.vms.is_none()).map(|h| h.vms)}
                    trace_tdp={trace_meta.and_then(|m| m.tdp)} {on_errors} />
                if let Some(e) = &state.error { <p class="error" role="alert">{ e }</p> }
                if let (Some(s), Some(h)) = (&summary, host) {
                    if let Some(note) = &stale {
                        <p class="stale-note" role="status">{ note }</p>
                    }
                    <div class={classes!("results-area", stale.is_some().then_some("stale"))} aria-busy={running.to_string()}>
                        <Provenance meta={s.meta.clone()} events={s.events} notes={s.notes.clone()} vm={settings.vm} {on_vm} />
                        <RecommendationLine rec={rec.clone()} pending={state.recommending} trust={s.trust()}
                            report={report_of(Phase::Recommendation)} eta_s={state.eta_s} on_cancel={on_cancel_recommendation} />
                        <ResultsTable configs={table_configs.clone()} checks={s.stat_checks.clone()} host={h} recommended={recommended.clone()} />
                        <Export {on_csv} {on_json} {on_trace} {on_copy_link} {on_copy_text} link={link} link_ready={state.link_ready()}
                            changelog={changelog_text.clone().unwrap_or_default()}
                            copied={(*copied).clone()} />
                        <Comparison pinned={state.pinned.clone()} name={shown_name.clone()} configs={shown_configs.clone()}
                            settings={settings.to_hash()} host={h} {on_pin} {on_unpin} />
                        <div class="charts">
                            <MemoryChart configs={table_configs.clone()} events={s.events} recommended={recommended.clone()} />
                            <TradeoffChart configs={table_configs.clone()} host={h} recommended={recommended.clone()} />
                            <VcpusChart configs={table_configs.clone()} host={h} recommended={recommended.clone()} />
                            <HistogramChart hist={s.histogram_at_peak.clone()} peak_entries={s.peak_entries} />
                        </div>
                        <SeedCheck summary={(**s).clone()} capacity={settings.cache_capacity} vcpus={h.vcpus} />
                        <Stepper longest={state.longest.clone()} focus={state.focus.clone()} {on_pick} {on_step} on_entries={on_focus_entries} recycle={settings.recycle} />
                    </div>
                } else if state.status == Status::Idle && state.error.is_none() && state.wanted.is_none() {
                    <p>{"Loading…"}</p>
                }
            </main>
            <footer><small>{"rmaplab — everything runs in this page; no request leaves your machine."}</small></footer>
        </div>
    }
}
