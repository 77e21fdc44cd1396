//! Replay on every core: the calling thread reads and decodes the trace once and hands the
//! events, in batches, to worker threads; each worker runs a [`Replayer`] part over its share of
//! the configurations ([`Replayer::new_part`]), and the parts are put back together at the end
//! ([`ReplaySummary::assemble`]), giving exactly what one thread would report. Even with one
//! configuration the decoding and the replay overlap on two cores.

use rmaplab_core::replay::{ReplayError, ReplayOptions, ReplayPart, ReplaySummary, Replayer};
use rmaplab_core::trace::{Event, TraceMeta};
use rmaplab_core::ModelConfig;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Events handed to the workers at a time.
const BATCH_EVENTS: usize = 1 << 12;

/// Batches in flight per worker before the reader waits (bounds memory).
const BATCHES_IN_FLIGHT: usize = 4;

/// Errors from a parallel replay.
#[derive(Debug, thiserror::Error)]
pub enum ParallelError {
    /// A configuration or event was refused by the replay.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// A worker thread could not be started.
    #[error("cannot start a replay thread: {0}")]
    Spawn(std::io::Error),
    /// A worker thread panicked (a bug in rmaplab).
    #[error("a replay thread panicked (a bug in rmaplab)")]
    Panicked,
}

type Worker = JoinHandle<Result<ReplayPart, ReplayError>>;

/// A replay split over worker threads.
pub struct ParallelReplay {
    senders: Vec<SyncSender<Arc<Vec<Event>>>>,
    workers: Vec<Worker>,
    batch: Vec<Event>,
}

/// Which configurations each of `threads` workers runs: round-robin, so sizes and eras mix.
pub fn partition(configs: usize, threads: usize) -> Vec<Vec<usize>> {
    let threads = threads.clamp(1, configs.max(1));
    let mut parts = vec![Vec::new(); threads];
    for i in 0..configs {
        parts[i % threads].push(i);
    }
    parts
}

/// The 0-based event an error happened at, when it names one.
fn error_event(e: &ReplayError) -> u64 {
    match e {
        ReplayError::Anomaly { index, .. }
        | ReplayError::Model { index, .. }
        | ReplayError::RecycleDisagreement { index } => *index,
        _ => 0,
    }
}

impl ParallelReplay {
    /// Start `threads` workers (at most one per configuration) for a trace with `meta`.
    pub fn start(
        meta: &TraceMeta,
        configs: &[ModelConfig],
        opts: ReplayOptions,
        threads: usize,
    ) -> Result<Self, ParallelError> {
        let mut senders = Vec::new();
        let mut workers = Vec::new();
        for part in partition(configs.len(), threads) {
            // Validate on this thread, so a bad configuration is reported before any reading.
            let mut r = Replayer::new_part(meta.clone(), configs, &part, opts)?;
            let (tx, rx) = sync_channel::<Arc<Vec<Event>>>(BATCHES_IN_FLIGHT);
            let handle = std::thread::Builder::new()
                .name(format!("replay-{}", workers.len()))
                .spawn(move || {
                    for batch in rx {
                        r.feed_all(batch.iter())?;
                    }
                    Ok(r.finish_part())
                })
                .map_err(ParallelError::Spawn)?;
            senders.push(tx);
            workers.push(handle);
        }
        Ok(ParallelReplay {
            senders,
            workers,
            batch: Vec::with_capacity(BATCH_EVENTS),
        })
    }

    /// Queue one event. `false` means a worker stopped: stop feeding and call
    /// [`ParallelReplay::finish`] for its error.
    pub fn feed(&mut self, ev: Event) -> bool {
        self.batch.push(ev);
        self.batch.len() < BATCH_EVENTS || self.flush()
    }

    /// Hand the batch to every worker; `false` when one has stopped.
    fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let batch = Arc::new(std::mem::replace(
            &mut self.batch,
            Vec::with_capacity(BATCH_EVENTS),
        ));
        self.senders
            .iter()
            .all(|tx| tx.send(Arc::clone(&batch)).is_ok())
    }

    /// Wait for the workers and put their parts together. When workers failed, the error at
    /// the earliest event is returned: the one a single thread would have stopped at.
    pub fn finish(mut self) -> Result<ReplaySummary, ParallelError> {
        // A worker that stopped reports why below; the others get the rest.
        self.flush();
        self.senders.clear();
        let mut parts = Vec::new();
        let mut first_error: Option<ReplayError> = None;
        for w in self.workers {
            match w.join() {
                Ok(Ok(p)) => parts.push(p),
                Ok(Err(e)) => {
                    if first_error
                        .as_ref()
                        .is_none_or(|f| error_event(&e) < error_event(f))
                    {
                        first_error = Some(e);
                    }
                }
                Err(_) => return Err(ParallelError::Panicked),
            }
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(ReplaySummary::assemble(parts)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmaplab_core::replay::{benchmark_configs, config_matrix};
    use rmaplab_core::trace::{RmapId, SpteId};
    use rmaplab_core::Era;

    #[test]
    fn partitions_cover_every_configuration_once() {
        for configs in 1..20 {
            for threads in 1..10 {
                let p = partition(configs, threads);
                assert_eq!(p.len(), threads.min(configs));
                let mut all: Vec<usize> = p.concat();
                all.sort_unstable();
                assert_eq!(all, (0..configs).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn threads_report_what_one_thread_reports() {
        let (meta, events) = rmaplab_core::gen::benchmark_mix_head(100_000);
        let configs = benchmark_configs();
        let one = Replayer::replay_all(meta.clone(), &configs, &events).unwrap();
        for threads in [1, 2, 3, 8] {
            let mut p =
                ParallelReplay::start(&meta, &configs, ReplayOptions::default(), threads).unwrap();
            for e in &events {
                assert!(p.feed(e.clone()));
            }
            assert_eq!(p.finish().unwrap(), one, "{threads} threads");
        }
    }

    #[test]
    fn a_strict_anomaly_stops_every_thread_at_the_same_event() {
        let meta = TraceMeta::default();
        let configs = config_matrix(&[2, 14], &[Era::HeadInsert], 40, 14, Some(1000));
        let (r, s) = (RmapId(1), SpteId);
        let events = [
            Event::add(r, s(10)),
            Event::remove(r, s(11)),
            Event::add(r, s(12)),
        ];
        let opts = ReplayOptions { strict: true };
        let mut p = ParallelReplay::start(&meta, &configs, opts, 2).unwrap();
        for e in events {
            p.feed(e);
        }
        match p.finish() {
            Err(ParallelError::Replay(ReplayError::Anomaly { index, .. })) => assert_eq!(index, 1),
            other => panic!("expected the anomaly at event 1, got {other:?}"),
        }
    }
}
