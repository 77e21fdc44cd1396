//! Tests of [`super`] (worker.rs), kept apart so the module reads as its logic.

use super::*;
use rmaplab_core::config::ConfigRequest;
use rmaplab_core::gen::{generate_vec, meta_for, GenOptions, Workload};
use rmaplab_core::replay::ReplaySummary;
use rmaplab_core::trace::binary::encode_all;

/// `w` generated and encoded as rmaplab binary.
fn trace(w: &Workload) -> Vec<u8> {
    let o = GenOptions::default();
    encode_all(&meta_for(w, &o, "t"), &generate_vec(w, &o))
}

/// What a whole replay (one worker) answers, its part assembled.
type Whole = (
    ReplaySummary,
    usize,
    Vec<LongRmap>,
    Option<Encoding>,
    Option<SharedTrace>,
    Vec<ModelConfig>,
);

/// KVM today only, all in one worker.
fn job(vm: Option<u64>, hash_all: bool) -> ReplayJob {
    ReplayJob {
        request: today(),
        tdp: None,
        vm,
        hash_all,
        split: Split::Lead { workers: 1 },
        kvm_stats: Vec::new(),
    }
}

/// `replay` of `job` with its one part assembled into a summary.
fn replay_whole(
    bytes: &[u8],
    total: u64,
    job: &ReplayJob,
    progress: &mut dyn FnMut(&ProgressReport),
) -> Result<Whole, WorkerError> {
    replay_opened(
        &mut || Box::new(std::io::Cursor::new(bytes)),
        total,
        job,
        progress,
    )
}

/// As [`replay_whole`], reading what `open` opens.
fn replay_opened<'a>(
    open: &mut Open<'_, 'a>,
    total: u64,
    job: &ReplayJob,
    progress: &mut dyn FnMut(&ProgressReport),
) -> Result<Whole, WorkerError> {
    let r = replay(open, total, job, None, progress, &mut |of, _| {
        assert_eq!(of, 1)
    })?;
    let part = r.results.expect("the whole replay has every configuration");
    let summary = ReplaySummary::assemble(vec![part]);
    Ok((
        summary,
        r.shown,
        r.longest,
        r.encoding,
        r.shared,
        r.candidates,
    ))
}

/// What the worker answers to `req` about the trace `bytes`.
fn answers(req: Request, bytes: &[u8]) -> Vec<Response> {
    let mut out = Vec::new();
    handle(
        req,
        bytes.len() as u64,
        &mut || Box::new(std::io::Cursor::new(bytes)),
        &mut None,
        &mut |r| out.push(r),
    );
    out
}

/// Replay through KVM today only, without progress.
fn run(bytes: &[u8], vm: Option<u64>, hash_all: bool) -> Result<Whole, WorkerError> {
    replay_whole(bytes, 0, &job(vm, hash_all), &mut |_| {})
}

/// The candidates' reports of a whole second pass, and the hash.
fn second_whole(
    bytes: &[u8],
    candidates: &[ModelConfig],
    hash: bool,
) -> (Vec<rmaplab_core::ConfigReport>, Option<String>) {
    let (part, sha) = second_pass(
        &mut || Box::new(std::io::Cursor::new(bytes)),
        candidates,
        &job(None, false),
        hash,
        Part::WHOLE,
        None,
        &mut quiet,
    )
    .unwrap();
    let configs = part.map_or_else(Vec::new, |p| ReplaySummary::assemble(vec![p]).configs);
    (configs, sha)
}

/// The two-VM tracefs capture among core's fixtures.
fn twovm() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/fixtures/captures/twovm.tracefs.txt.gz"
    );
    std::fs::read(path).unwrap()
}

/// KVM today only (the replay adds the recommendation's candidates after it).
fn today() -> ConfigRequest {
    let k = rmaplab_core::ModelConfig::kvm_today();
    ConfigRequest {
        entries: vec![rmaplab_core::config::EntriesChoice::Fixed(k.entries)],
        eras: vec![k.era],
        topups: vec![k.topup],
        cache_capacity: k.cache_capacity,
        cache_min: k.cache_min,
        recycle_threshold: k.recycle_threshold,
    }
}

/// The seed's rule on a trace that does not say whether TDP was on: the page is told to
/// set it in the page's own words, not the CLI's flag.
#[test]
fn the_seeds_rule_asks_for_the_tdp_setting() {
    let bytes = trace(&Workload::Alias { aliases: 5 });
    let mut seed = job(None, false);
    seed.request.entries = vec![rmaplab_core::config::EntriesChoice::Seed];
    let err = replay_whole(&bytes, 0, &seed, &mut |_| {}).unwrap_err();
    assert!(matches!(err, WorkerError::Settings(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("the TDP setting") && !text.contains("--tdp"),
        "{text}"
    );
    seed.tdp = Some(true);
    assert!(replay_whole(&bytes, 0, &seed, &mut |_| {}).is_ok());
}

#[test]
fn replays_with_progress_and_finds_long_rmaps() {
    let w = Workload::Fork {
        procs: 6,
        pages: 4,
        private: 1,
    };
    let bytes = trace(&w);
    let mut calls = 0;
    let (s, shown, longest, enc, shared, candidates) =
        replay_whole(&bytes, bytes.len() as u64, &job(None, false), &mut |_| {
            calls += 1
        })
        .unwrap();
    assert!(calls >= 1);
    assert_eq!(shown, 1);
    assert_eq!(s.configs.len(), 1);
    assert_eq!(
        candidates.len(),
        recommend::RECOMMENDATION_ENTRIES.len() - 1
    );
    let (extra, sha) = second_whole(&bytes, &candidates, false);
    assert_eq!(sha, None);
    let mut all = s.configs.clone();
    all.extend(extra);
    let host = rmaplab_core::memory::HostShape {
        vcpus: 1,
        vms: 1,
        traced_vms: false,
    };
    assert!(recommend::recommend(&all, rmaplab_core::Era::HeadInsert, host, 10).is_some());
    let shared = shared.expect("a small trace is hashed in the first pass");
    assert_eq!(shared.sha256, rmaplab_core::sha256::sha256_hex(&bytes));
    let z = shared.inline.expect("a small trace is inlined");
    assert_eq!(
        crate::share::trace_ref(&format!("trace=z:{z}")).unwrap(),
        Some(crate::share::TraceRef::Inline {
            name: "shared trace".into(),
            bytes: bytes.clone()
        })
    );
    assert_eq!(enc, Some(Encoding::Binary));
    assert_eq!(s.configs[0].max_rmap_size, 5);
    assert_eq!(longest[0].peak, 6);
    let (ev, truncated) = focus(
        Box::new(std::io::Cursor::new(&bytes[..])),
        longest[0].rmap,
        3,
        None,
    )
    .unwrap();
    assert_eq!(ev.len(), 3);
    assert!(truncated);
    let (all, truncated) = focus(
        Box::new(std::io::Cursor::new(&bytes[..])),
        longest[0].rmap,
        1000,
        None,
    )
    .unwrap();
    assert_eq!(all.len() as u64, longest[0].events);
    assert!(!truncated);
}

/// Yields its bytes a few at a time, then fails: chunk boundaries fall everywhere and a read
/// error reaches the page as a message.
struct Dribble<'a> {
    bytes: &'a [u8],
    pos: usize,
    step: usize,
    fail_at: Option<usize>,
}

impl std::io::Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(at) = self.fail_at {
            if at == 0 {
                return Err(std::io::Error::other("the browser could not read the file"));
            }
            self.fail_at = Some(at - 1);
        }
        let rest = &self.bytes[self.pos.min(self.bytes.len())..];
        let n = self.step.min(buf.len()).min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl std::io::Seek for Dribble<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.pos = match to {
            std::io::SeekFrom::Start(p) => p as usize,
            std::io::SeekFrom::Current(d) => (self.pos as i64 + d) as usize,
            std::io::SeekFrom::End(d) => (self.bytes.len() as i64 + d) as usize,
        };
        Ok(self.pos as u64)
    }
}

/// [`run`] reading through a fresh [`Dribble`] each time the trace is opened.
fn run_dribbled(bytes: &[u8], step: usize, fail_at: Option<usize>) -> Result<Whole, WorkerError> {
    replay_opened(
        &mut || {
            Box::new(Dribble {
                bytes,
                pos: 0,
                step,
                fail_at,
            })
        },
        0,
        &job(None, false),
        &mut |_| {},
    )
}

#[test]
fn streamed_reads_export_and_read_errors() {
    let [.., churn] = Workload::samples();
    let bytes = trace(&churn);
    let whole = run(&bytes, None, false).unwrap();
    let parts = run_dribbled(&bytes, 7, None).unwrap();
    assert_eq!(whole.0.configs, parts.0.configs);
    // Export from JSON Lines gives the same events as the binary trace.
    let (meta, events) = rmaplab_core::trace::decode_all(&bytes).unwrap();
    let mut jsonl = Vec::new();
    rmaplab_core::trace::jsonl::write_header(&meta, &mut jsonl);
    for ev in &events {
        rmaplab_core::trace::jsonl::write_event(ev, &mut jsonl);
    }
    let exported = export_binary(Box::new(std::io::Cursor::new(&jsonl[..])), None).unwrap();
    assert_eq!(
        rmaplab_core::trace::decode_all(&exported).unwrap().1,
        events
    );
    let err = run_dribbled(&bytes, 7, Some(3)).unwrap_err().to_string();
    assert!(err.contains("could not read"), "{err}");
}

#[test]
fn a_large_trace_is_hashed_in_the_second_pass_unless_asked_first() {
    let w = Workload::Churn {
        cycles: 200,
        batch: 1000,
        gfns: 4096,
        spaces: 32,
    };
    let bytes = trace(&w);
    assert!(
        bytes.len() > crate::share::INLINE_MAX_RAW,
        "{}",
        bytes.len()
    );
    let want = rmaplab_core::sha256::sha256_hex(&bytes);
    let first = run(&bytes, None, false);
    assert!(first.unwrap().4.is_none(), "not hashed before the results");
    let (_, sha) = second_whole(&bytes, &[], true);
    assert_eq!(sha.as_deref(), Some(want.as_str()));
    let asked = run(&bytes, None, true);
    let shared = asked.unwrap().4.expect("hashed when asked");
    assert_eq!(shared.sha256, want);
    assert_eq!(shared.inline, None, "too large to travel in a link");
    // The handler answers with the results, then the second pass with the hash.
    let out = answers(Request::Replay(job(None, false)), &bytes);
    let done = out.iter().position(|r| {
        matches!(
            r,
            Response::Done {
                shared: None,
                candidates_pending: true,
                ..
            }
        )
    });
    let second = out
        .iter()
        .position(|r| matches!(r, Response::Candidates { sha256: Some(h), .. } if *h == want));
    assert!(matches!((done, second), (Some(d), Some(c)) if d < c));
}

#[test]
fn workers_sharing_a_replay_assemble_what_one_worker_reports() {
    let [.., spread, _] = Workload::samples();
    let bytes = trace(&spread);
    let mut eight = job(None, false);
    eight.request.entries = [2, 3, 4, 14]
        .map(rmaplab_core::config::EntriesChoice::Fixed)
        .to_vec();
    eight.request.eras = vec![rmaplab_core::Era::HeadInsert, rmaplab_core::Era::TailAppend];
    let (whole, shown, longest, _, shared, candidates) =
        replay_whole(&bytes, 0, &eight, &mut |_| {}).unwrap();
    assert_eq!(whole.configs.len(), shown);
    let (whole_candidates, _) = second_whole(&bytes, &candidates, false);
    for workers in [2, 3, 16] {
        // The leader first: its plan says how many share the replay.
        let lead = ReplayJob {
            split: Split::Lead { workers },
            ..eight.clone()
        };
        let mut all = vec![answers(Request::Replay(lead), &bytes)];
        let Some(Response::Plan { of, .. }) = all[0]
            .iter()
            .find(|r| matches!(r, Response::Plan { .. }))
            .cloned()
        else {
            panic!("no plan from the leader: {:?}", all[0]);
        };
        assert_eq!(of, workers.min(shown), "{workers} workers");
        for index in 1..of {
            let job = ReplayJob {
                split: Split::Share(Part { index, of }),
                ..eight.clone()
            };
            all.push(answers(Request::Replay(job), &bytes));
        }
        let (mut parts, mut second) = (Vec::new(), Vec::new());
        let mut second_passes = Vec::new();
        for (index, out) in all.into_iter().enumerate() {
            second_passes.push(
                out.iter()
                    .filter(|r| matches!(r, Response::Candidates { .. }))
                    .count(),
            );
            for r in out {
                match r {
                    Response::Done {
                        part,
                        longest: l,
                        shared: h,
                        ..
                    } => {
                        // Only worker 0 finds the longest rmaps and takes the hash.
                        assert_eq!(index == 0, !l.is_empty(), "worker {index} of {of}");
                        assert_eq!(index == 0, h.is_some(), "worker {index} of {of}");
                        if index == 0 {
                            assert_eq!(l, longest);
                            assert_eq!(h, shared);
                        }
                        assert!(part.is_some(), "worker {index} of {of} has a share");
                        parts.extend(part.map(|p| *p));
                    }
                    Response::Candidates { part, .. } => second.extend(part.map(|p| *p)),
                    Response::Progress { .. } => assert_eq!(index, 0, "progress from 0 only"),
                    Response::Plan { .. } => assert_eq!(index, 0, "the leader plans"),
                    other => panic!("worker {index} of {of} answered {other:?}"),
                }
            }
        }
        assert_eq!(ReplaySummary::assemble(parts), whole, "{of} workers");
        // The last worker sat the second pass out (when there were several).
        let last = second_passes.pop();
        assert_eq!(
            last,
            Some(usize::from(of == 1)),
            "second passes: {second_passes:?}"
        );
        assert!(second_passes.iter().all(|&n| n == 1), "{second_passes:?}");
        assert_eq!(ReplaySummary::assemble(second).configs, whole_candidates);
    }
}

/// KVM's counters typed in the page are checked like those recorded in the trace.
#[test]
fn typed_kvm_counters_are_checked() {
    let bytes = trace(&Workload::Alias { aliases: 5 });
    let (s, ..) = run(&bytes, None, false).unwrap();
    let max = s.configs[0].max_rmap_size;
    for (typed, matches) in [(max, true), (max + 7, false)] {
        let mut j = job(None, false);
        j.kvm_stats = vec![("max_mmu_rmap_size".into(), typed)];
        let (s, ..) = replay_whole(&bytes, 0, &j, &mut |_| {}).unwrap();
        assert!(!s.stat_checks.is_empty());
        assert_eq!(s.stats_match(), matches, "typed {typed}, replay {max}");
    }
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let out = answers(Request::Replay(job(None, false)), b"\x00\x01garbage");
    assert!(
        matches!(out.last(), Some(Response::Failed(m)) if m.contains("magic") || m.contains("unrecognised"))
    );
}

/// Every answer to `req` about `bytes` with the worker's kept copy `kept`, and how many
/// times the original was opened.
fn answers_kept(req: Request, bytes: &[u8], kept: &mut Option<Kept>) -> (Vec<Response>, usize) {
    let mut out = Vec::new();
    let mut opened = 0;
    handle(
        req,
        bytes.len() as u64,
        &mut || {
            opened += 1;
            Box::new(std::io::Cursor::new(bytes))
        },
        kept,
        &mut |r| out.push(r),
    );
    (out, opened)
}

/// `answers` without progress reports (which count bytes of whatever was read).
fn results(answers: Vec<Response>) -> Vec<Response> {
    answers
        .into_iter()
        .filter(|r| !matches!(r, Response::Progress { .. }))
        .collect()
}

#[test]
fn a_capture_is_imported_once_and_later_requests_read_the_kept_copy() {
    let gz = twovm();
    let mut kept = None;
    let (first, opened_first) = answers_kept(Request::Replay(job(None, false)), &gz, &mut kept);
    let k = kept.clone().expect("a capture read whole is kept");
    assert_eq!((k.vm, k.encoding), (None, Encoding::Ftrace));
    // The share link's hash and the import read the original; the recommendation's pass
    // already reads the copy.
    assert_eq!(opened_first, 2);
    let (again, opened_again) = answers_kept(Request::Replay(job(None, false)), &gz, &mut kept);
    // Only the share link's hash reads the original; the replays read the kept copy, and
    // answer exactly what the import answered (the encoding named is the original's).
    assert_eq!(opened_again, 1);
    assert!(again.iter().any(|r| matches!(r, Response::Progress { .. })));
    // The first pass imported the capture, the second did not; otherwise they agree.
    let imported = |rs: &[Response]| {
        rs.iter()
            .filter(|r| matches!(r, Response::Done { imported: true, .. }))
            .count()
    };
    assert_eq!((imported(&first), imported(&again)), (1, 0));
    let unflagged = |rs: Vec<Response>| {
        let mut rs = results(rs);
        for r in &mut rs {
            if let Response::Done { imported, .. } = r {
                *imported = false;
            }
        }
        rs
    };
    assert_eq!(unflagged(again), unflagged(first.clone()));
    let Some(Response::Done { longest, .. }) =
        first.iter().find(|r| matches!(r, Response::Done { .. }))
    else {
        panic!("no Done in {first:?}");
    };
    // Not exact (a capture that cannot show every removal): no size will be recommended,
    // so the candidates are not replayed.
    assert!(
        first.iter().all(|r| matches!(
            r,
            Response::Done {
                candidates_pending: false,
                ..
            } | Response::Progress(_)
                | Response::Plan { .. }
        )),
        "a second pass after a capture that is not exact"
    );
    let rmap = longest[0].rmap;
    let focus = Request::Focus {
        rmap,
        limit: 10_000,
        vm: None,
    };
    let (from_kept, opened) = answers_kept(focus.clone(), &gz, &mut kept);
    assert_eq!(opened, 0);
    assert_eq!(from_kept, answers(focus, &gz));
    // Another VM choice imports again, and keeps that VM's copy instead.
    let (one, opened) = answers_kept(Request::Replay(job(Some(4402), false)), &gz, &mut kept);
    assert_eq!(opened, 2);
    assert_eq!(kept.as_ref().map(|k| k.vm), Some(Some(4402)));
    assert_eq!(
        results(one),
        results(answers(Request::Replay(job(Some(4402), false)), &gz))
    );
    // rmaplab's own binary is not copied.
    let mut none = None;
    answers_kept(
        Request::Replay(job(None, false)),
        &trace(&Workload::Alias { aliases: 5 }),
        &mut none,
    );
    assert!(none.is_none());
}

#[test]
fn a_vm_of_a_multi_vm_capture_is_kept_on_request() {
    let gz = twovm();
    let (all, _, _, enc, _, _) = run(&gz, None, false).unwrap();
    assert_eq!(enc, Some(Encoding::Ftrace));
    let report = rmaplab_core::import::ImportReport::from_meta(&all.meta).unwrap();
    assert_eq!(report.vms.len(), 2);
    assert_eq!(report.kept_vm, None);
    let (one, _, _, _, _, _) = run(&gz, Some(4402), false).unwrap();
    let report = rmaplab_core::import::ImportReport::from_meta(&one.meta).unwrap();
    assert!(report.kept_vm.is_some());
    assert_eq!(one.configs[0].max_rmap_size, 599);
    assert_eq!(
        one.configs[0].add_cost.descs.count * 2,
        all.configs[0].add_cost.descs.count
    );
}

/// A capture shared by several workers is imported once: the leader's plan waits for its
/// import and carries the kept copy, and the shares replay from that copy without opening the
/// capture, assembling what one worker reports.
#[test]
fn a_shared_capture_is_imported_by_the_leader_alone() {
    let gz = twovm();
    let mut four = job(None, false);
    four.request.entries = [2, 3, 14]
        .map(rmaplab_core::config::EntriesChoice::Fixed)
        .to_vec();
    let whole = results(answers(Request::Replay(four.clone()), &gz));
    let lead = ReplayJob {
        split: Split::Lead { workers: 2 },
        ..four.clone()
    };
    let mut leader_kept = None;
    let (led, _) = answers_kept(Request::Replay(lead), &gz, &mut leader_kept);
    let plan_at = led
        .iter()
        .position(|r| matches!(r, Response::Plan { .. }))
        .expect("a plan from the leader");
    // The plan follows the import's last progress report and precedes the leader's results.
    let last_progress = led
        .iter()
        .rposition(|r| matches!(r, Response::Progress(_)))
        .expect("progress");
    let done_at = led
        .iter()
        .position(|r| matches!(r, Response::Done { .. }))
        .expect("done");
    assert!(last_progress < plan_at && plan_at < done_at, "{led:?}");
    let Response::Plan {
        of,
        kept: Some(copy),
    } = led[plan_at].clone()
    else {
        panic!("the plan carries no kept copy: {:?}", led[plan_at]);
    };
    assert_eq!(of, 2);
    assert_eq!(Some(&copy), leader_kept.as_ref());
    // The copy survives the trip as its bytes and metadata.
    let mut share_kept = Some(Kept::from_parts(copy.meta(), copy.bytes.to_vec().into()));
    let share = ReplayJob {
        split: Split::Share(Part { index: 1, of }),
        ..four
    };
    let (shared, opened) = answers_kept(Request::Replay(share), &gz, &mut share_kept);
    assert_eq!(opened, 0, "the share opened the capture");
    // One import in all: the leader's.
    let imports = led
        .iter()
        .chain(&shared)
        .filter(|r| matches!(r, Response::Done { imported: true, .. }))
        .count();
    assert_eq!(imports, 1);
    let parts: Vec<_> = led
        .into_iter()
        .chain(shared)
        .filter_map(|r| match r {
            Response::Done { part, .. } => part.map(|p| *p),
            _ => None,
        })
        .collect();
    assert_eq!(parts.len(), 2);
    let Some(Response::Done {
        part: Some(one), ..
    }) = whole.iter().find(|r| matches!(r, Response::Done { .. }))
    else {
        panic!("no results from one worker");
    };
    assert_eq!(
        ReplaySummary::assemble(parts),
        ReplaySummary::assemble(vec![(**one).clone()])
    );
}
