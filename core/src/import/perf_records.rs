//! The records of a perf.data's data section, pulled one at a time in perf's time order.
//!
//! perf writes each CPU's ring buffer in turn, so records reach the file out of time order;
//! `perf record` writes a `PERF_RECORD_FINISHED_ROUND` marker after each pass over the rings,
//! and every record older than the newest one seen before the previous marker can be emitted
//! at the next marker (perf's `ordered_events` rule, also `linux-perf-data`'s `Sorter`).
//!
//! rmaplab applies that rule itself rather than through `linux-perf-data`'s record iterator,
//! because what it needs is a small part of a `perf record -e 'kvmmmu:*'` file: the iterator
//! copies every record into its own buffer and sorts it, where `kvm_mmu_paging_element` alone
//! is 70 % of the records. Here every record's sort key (timestamp, offset) is read in place,
//! and only samples of tracepoints [`Formats::decodes_id`] knows are parsed and held, as
//! decoded [`Record`]s. The order is the iterator's: the same keys decide the same rounds.
//! `linux-perf-data` still reads the header and the attributes, and
//! `linux-perf-event-reader` parses the samples kept.

use super::format::{read_uint, Formats};
use super::infer::HashMap;
use super::perfdata::PerfDataError;
use super::record::{Record, RecordKind, Task};
use crate::input::source::Shared;
use linux_perf_data::linux_perf_event_reader::{
    Endianness, EventRecord, PerfEventType, RawData, RawEventRecord, RecordIdParseInfo,
    RecordParseInfo, RecordType, SampleFormat,
};
use std::collections::VecDeque;
use std::io::{BufReader, Read};
use std::rc::Rc;

/// `PERF_RECORD_FINISHED_ROUND`: every record before the previous marker may be flushed.
const RECORD_FINISHED_ROUND: u32 = 68;
/// `PERF_RECORD_AUXTRACE`: the record is followed by `size` bytes of AUX data.
const RECORD_AUXTRACE: u32 = 71;
/// `PERF_RECORD_COMPRESSED` / `PERF_RECORD_COMPRESSED2` (`perf record -z`).
const RECORD_COMPRESSED: [u32; 2] = [81, 83];
/// `PERF_RECORD_USER_TYPE_START`: record types from here on are perf's own, not the kernel's.
const RECORD_USER_TYPE_START: u32 = 64;
/// `struct perf_event_header`: u32 type, u16 misc, u16 size.
const EVENT_HEADER_SIZE: usize = 8;
/// Bytes of one u64 field (an id or a timestamp).
const U64_BYTES: usize = 8;

/// A record's place in time order: its timestamp (none sorts first), then its offset in the
/// data section, which makes every key unique.
type Key = (Option<u64>, u64);

/// perf's round rule over values of type `V`, given every record's key.
#[derive(Debug)]
pub(crate) struct Rounds<V> {
    /// In time order, ready to be emitted.
    ready: VecDeque<V>,
    /// Held until a round marker lets them go.
    pending: Vec<(Key, V)>,
    /// The largest key seen before the previous marker: at the next marker, everything up to
    /// it is in order.
    prev_max: Key,
    /// The largest key seen.
    cur_max: Key,
}

impl<V> Default for Rounds<V> {
    fn default() -> Self {
        Rounds {
            ready: VecDeque::new(),
            pending: Vec::new(),
            prev_max: (None, 0),
            cur_max: (None, 0),
        }
    }
}

impl<V> Rounds<V> {
    /// A record with this key was read; `value` is what to emit for it, if anything. A record
    /// that emits nothing still moves the round boundary, as it does in perf.
    pub(crate) fn insert(&mut self, key: Key, value: Option<V>) {
        self.cur_max = self.cur_max.max(key);
        if let Some(v) = value {
            self.pending.push((key, v));
        }
    }

    /// A `FINISHED_ROUND` marker: everything up to the previous round's largest key goes out.
    pub(crate) fn finish_round(&mut self) {
        let limit = self.prev_max;
        let (mut out, keep): (Vec<_>, Vec<_>) =
            self.pending.drain(..).partition(|(k, _)| *k <= limit);
        self.pending = keep;
        out.sort_unstable_by_key(|(k, _)| *k);
        self.ready.extend(out.into_iter().map(|(_, v)| v));
        self.prev_max = self.cur_max;
    }

    /// The end of the data: everything goes out.
    pub(crate) fn finish(&mut self) {
        self.pending.sort_unstable_by_key(|(k, _)| *k);
        self.ready.extend(self.pending.drain(..).map(|(_, v)| v));
    }

    /// The next value in time order, if one is ready.
    pub(crate) fn pop(&mut self) -> Option<V> {
        self.ready.pop_front()
    }
}

/// How a record names the attribute (event) it belongs to, chosen once for the file as perf
/// does.
#[derive(Debug, Clone, Copy)]
enum IdRule {
    /// The file has one attribute: every record is its.
    OnlyOne,
    /// All attributes lay out their ids alike.
    Same(RecordIdParseInfo),
    /// Each attribute has `PERF_SAMPLE_IDENTIFIER`: the id is a sample's first u64, and, with
    /// `sample_id_all`, a non-sample record's last.
    Identifier {
        /// Non-sample records carry the id too.
        sample_id_all: bool,
    },
}

/// One attribute's layout and whether its samples are kept.
#[derive(Debug, Clone, Copy)]
struct Attr {
    parse_info: RecordParseInfo,
    /// A tracepoint [`Formats::decodes_id`] knows, or not a tracepoint at all.
    wanted: bool,
}

/// The records of a perf.data, pulled one at a time in time order.
pub struct PerfRecords<'a> {
    reader: BufReader<Shared<'a>>,
    /// The data section's offset in the file (errors name bytes of the file).
    start: u64,
    /// Offset of the next record within the data section.
    at: u64,
    /// Bytes in the data section.
    len: u64,
    attrs: Vec<Attr>,
    /// Sample id → index in `attrs`.
    attr_of_id: HashMap<u64, usize>,
    id_rule: IdRule,
    formats: Rc<Formats>,
    /// The file's byte order (`PERFILE2` read as written or swapped).
    big_endian: bool,
    rounds: Rounds<Record>,
    body: Vec<u8>,
    done: bool,
    /// Samples read (any event).
    pub samples: u64,
}

impl std::fmt::Debug for PerfRecords<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerfRecords")
            .field("at", &self.at)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

fn container(what: impl std::fmt::Display) -> PerfDataError {
    PerfDataError::Container(what.to_string())
}

impl<'a> PerfRecords<'a> {
    /// A pass over the data section (`start`, `len` bytes) of the file `perf_file` describes.
    pub(crate) fn new(
        perf_file: &linux_perf_data::PerfFile,
        src: Shared<'a>,
        start: u64,
        len: u64,
        formats: Rc<Formats>,
        read_buffer: usize,
    ) -> Result<Self, PerfDataError> {
        let endian = perf_file.endian();
        let described = perf_file.event_attributes();
        let attrs: Vec<Attr> = described
            .iter()
            .map(|a| Attr {
                parse_info: RecordParseInfo::new(&a.attr, endian),
                wanted: match a.attr.type_ {
                    PerfEventType::Tracepoint(id) => formats.decodes_id(id),
                    _ => true,
                },
            })
            .collect();
        let Some((first, rest)) = attrs.split_first() else {
            return Err(container("no event attributes"));
        };
        let id_rule = if rest.is_empty() {
            IdRule::OnlyOne
        } else if rest
            .iter()
            .all(|a| a.parse_info.id_parse_info == first.parse_info.id_parse_info)
        {
            IdRule::Same(first.parse_info.id_parse_info)
        } else if described
            .iter()
            .all(|a| a.attr.sample_format.contains(SampleFormat::IDENTIFIER))
        {
            IdRule::Identifier {
                sample_id_all: described.iter().all(|a| {
                    a.attr.flags.contains(
                        linux_perf_data::linux_perf_event_reader::AttrFlags::SAMPLE_ID_ALL,
                    )
                }),
            }
        } else {
            return Err(container(
                "events lay out their ids differently and lack PERF_SAMPLE_IDENTIFIER: no record can be told apart",
            ));
        };
        let mut attr_of_id = HashMap::default();
        for (i, a) in described.iter().enumerate() {
            for id in &a.event_ids {
                attr_of_id.insert(*id, i);
            }
        }
        Ok(PerfRecords {
            reader: BufReader::with_capacity(read_buffer, src.at(start)),
            start,
            at: 0,
            len,
            attrs,
            attr_of_id,
            id_rule,
            formats,
            big_endian: endian == Endianness::BigEndian,
            rounds: Rounds::default(),
            body: Vec::new(),
            done: false,
            samples: 0,
        })
    }

    fn u64_at(&self, data: &[u8], at: Option<usize>) -> Option<u64> {
        read_uint(data, at?, U64_BYTES, self.big_endian)
    }

    fn from_end(data: &[u8], off: Option<u8>) -> Option<usize> {
        data.len().checked_sub(usize::from(off?))
    }

    /// The attribute a kernel record belongs to (the first when its id is unknown, as perf).
    fn attr_index(&self, sample: bool, data: &[u8]) -> usize {
        let id = match self.id_rule {
            IdRule::OnlyOne => return 0,
            IdRule::Same(info) if sample => self.u64_at(
                data,
                info.sample_record_id_offset_from_start.map(usize::from),
            ),
            IdRule::Same(info) => self.u64_at(
                data,
                Self::from_end(data, info.nonsample_record_id_offset_from_end),
            ),
            IdRule::Identifier { .. } if sample => self.u64_at(data, Some(0)),
            IdRule::Identifier { sample_id_all } => sample_id_all
                .then(|| data.len().checked_sub(U64_BYTES))
                .flatten()
                .and_then(|at| self.u64_at(data, Some(at))),
        };
        id.and_then(|id| self.attr_of_id.get(&id).copied())
            .unwrap_or(0)
    }

    /// The next kvmmmu record or lost-event marker.
    pub fn next_record(&mut self) -> Result<Option<Record>, PerfDataError> {
        loop {
            if let Some(r) = self.rounds.pop() {
                return Ok(Some(r));
            }
            if self.done {
                return Ok(None);
            }
            self.read_until_ready()?;
        }
    }

    /// Read records until a round marker makes some ready, or the data ends.
    fn read_until_ready(&mut self) -> Result<(), PerfDataError> {
        let mut head = [0u8; EVENT_HEADER_SIZE];
        // A record header must fit; a few trailing bytes are not a record.
        while self.at.saturating_add(EVENT_HEADER_SIZE as u64) <= self.len {
            let offset = self.at;
            let past = || {
                container(format!(
                    "data section: record at byte {} runs past the section",
                    self.start.saturating_add(offset)
                ))
            };
            self.reader
                .read_exact(&mut head)
                .map_err(|e| super::perfdata::io(&e))?;
            let ty = read_uint(&head, 0, 4, self.big_endian).unwrap_or(0) as u32;
            let misc = read_uint(&head, 4, 2, self.big_endian).unwrap_or(0) as u16;
            let size = read_uint(&head, 6, 2, self.big_endian).unwrap_or(0) as usize;
            if size < EVENT_HEADER_SIZE {
                return Err(container(format!(
                    "data section: record of {size} bytes at byte {}",
                    self.start.saturating_add(offset)
                )));
            }
            if RECORD_COMPRESSED.contains(&ty) {
                return Err(container(
                    "compressed records (perf record -z): record again without -z",
                ));
            }
            let next = offset + size as u64;
            if next > self.len {
                return Err(past());
            }
            self.at = next;
            if ty == RECORD_FINISHED_ROUND {
                self.reader
                    .seek_relative((size - EVENT_HEADER_SIZE) as i64)
                    .map_err(|e| super::perfdata::io(&e))?;
                self.rounds.finish_round();
                if self.rounds.ready.is_empty() {
                    continue;
                }
                return Ok(());
            }
            let mut body = std::mem::take(&mut self.body);
            body.resize(size - EVENT_HEADER_SIZE, 0);
            let read = self.reader.read_exact(&mut body);
            self.body = body;
            read.map_err(|e| super::perfdata::io(&e))?;
            if ty == RECORD_AUXTRACE {
                // The AUX data follows the record; its size is the body's first u64.
                let aux = self.u64_at(&self.body, Some(0)).unwrap_or(0);
                let end = self.at.checked_add(aux).filter(|&e| e <= self.len);
                let (Some(end), Ok(skip)) = (end, i64::try_from(aux)) else {
                    return Err(past());
                };
                self.reader
                    .seek_relative(skip)
                    .map_err(|e| super::perfdata::io(&e))?;
                self.at = end;
            }
            let value = self.record(ty, misc, offset)?;
            self.rounds.insert(value.0, value.1);
        }
        self.rounds.finish();
        self.done = true;
        Ok(())
    }

    /// The sort key of the record in `self.body` and what it emits.
    fn record(
        &mut self,
        ty: u32,
        misc: u16,
        offset: u64,
    ) -> Result<(Key, Option<Record>), PerfDataError> {
        if ty >= RECORD_USER_TYPE_START {
            return Ok(((None, offset), None));
        }
        let data = self.body.as_slice();
        let sample = RecordType(ty) == RecordType::SAMPLE;
        let attr = self.attrs[self.attr_index(sample, data).min(self.attrs.len() - 1)];
        let info = attr.parse_info;
        let ts = if sample {
            self.u64_at(
                data,
                info.sample_record_time_offset_from_start.map(usize::from),
            )
        } else {
            self.u64_at(
                data,
                Self::from_end(data, info.nonsample_record_time_offset_from_end),
            )
        };
        let key = (ts, offset);
        let record_type = RecordType(ty);
        let wanted = record_type == RecordType::LOST
            || record_type == RecordType::LOST_SAMPLES
            || (sample && attr.wanted);
        if sample && !attr.wanted {
            // A tracepoint rmaplab does not decode: counted, never parsed.
            self.samples += 1;
        }
        if !wanted {
            return Ok((key, None));
        }
        let raw = RawEventRecord::new(record_type, misc, RawData::Single(data), info);
        if record_type == RecordType::LOST_SAMPLES {
            let count = read_uint(data, 0, U64_BYTES, self.big_endian).unwrap_or(1);
            let ts = raw.common_data().ok().and_then(|c| c.timestamp);
            return Ok((key, Some(lost(ts, count))));
        }
        let Ok(parsed) = raw.parse() else {
            return Ok((key, None));
        };
        let value = match parsed {
            EventRecord::Sample(s) => {
                self.samples += 1;
                let payload = s.raw.map(|r| r.as_slice());
                payload.and_then(|payload| {
                    let kind = self.formats.decode(&payload)?;
                    Some(Record {
                        ts: s.timestamp,
                        cpu: s.cpu,
                        task: Task {
                            tid: s
                                .tid
                                .and_then(|t| u64::try_from(t).ok())
                                .or_else(|| self.formats.pid(&payload))
                                .unwrap_or(0),
                            tgid: s.pid.and_then(|p| u64::try_from(p).ok()),
                        },
                        kind,
                    })
                })
            }
            EventRecord::Lost(l) => Some(lost(None, l.count)),
            _ => None,
        };
        Ok((key, value))
    }
}

/// A lost-events marker for `n` events (at least one).
pub(crate) fn lost(ts: Option<u64>, n: u64) -> Record {
    Record {
        ts,
        cpu: None,
        task: Task::default(),
        kind: RecordKind::Lost(n.max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::Rounds;

    /// The round rule on two CPUs' interleaved output: nothing leaves before the second
    /// marker, and then only what is older than the first round's newest record.
    #[test]
    fn rounds_release_what_is_older_than_the_previous_round() {
        let mut r = Rounds::default();
        for (ts, off) in [(1, 0), (2, 1), (3, 2), (2, 3), (4, 4)] {
            r.insert((Some(ts), off), Some(ts));
        }
        r.finish_round();
        assert_eq!(r.pop(), None);
        for (ts, off) in [(3, 5), (5, 6), (6, 7), (7, 8), (4, 9), (5, 10)] {
            r.insert((Some(ts), off), Some(ts));
        }
        r.finish_round();
        let out: Vec<_> = std::iter::from_fn(|| r.pop()).collect();
        // The second 4 came after the first round's newest record (4 at offset 4) in the
        // file: its key is larger, so it waits for the next round.
        assert_eq!(out, [1, 2, 2, 3, 3, 4]);
        // A record that emits nothing still moves the boundary.
        r.insert((Some(9), 11), None);
        r.finish_round();
        let out: Vec<_> = std::iter::from_fn(|| r.pop()).collect();
        assert_eq!(out, [4, 5, 5, 6, 7]);
        r.finish();
        assert_eq!(r.pop(), None);
    }

    /// Whatever the interleaving, the output is sorted by key when the input is sorted within
    /// each "CPU" and the marker comes after each pass, and nothing is lost.
    #[test]
    fn rounds_sort_round_robin_output() {
        let mut r = Rounds::default();
        let mut off = 0;
        let mut all = Vec::new();
        for pass in 0..20u64 {
            for cpu in 0..3u64 {
                for i in 0..(pass * 7 + cpu) % 5 {
                    let ts = pass * 100 + cpu * 3 + i * 11;
                    r.insert((Some(ts), off), Some((ts, off)));
                    all.push((ts, off));
                    off += 1;
                }
            }
            r.finish_round();
        }
        r.finish();
        let out: Vec<_> = std::iter::from_fn(|| r.pop()).collect();
        all.sort_unstable();
        assert_eq!(out, all);
    }
}
