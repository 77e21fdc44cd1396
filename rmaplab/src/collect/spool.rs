//! A recording's events on their way to the output file: encoded (rmaplab binary) into an
//! unnamed temporary file as they are inferred, so a recording of any length holds no events
//! in memory. The metadata is only complete at the end (how long the guest ran, KVM's final
//! stats), so the output is written from the spool then ([`EventSpool::events`]).

use rmaplab_core::import::ImportOptions;
use rmaplab_core::input::reader::{ReadError, TraceReader, BATCH};
use rmaplab_core::trace::writer::{OutputEncoding, TraceEncoder};
use rmaplab_core::trace::{Event, TraceMeta};
use std::fs::File;
use std::io::{BufWriter, Seek, Write};

/// Encoded bytes kept before they go to the file.
const FLUSH_AT: usize = 1 << 20;

/// Events spooled to a temporary file.
pub struct EventSpool {
    file: BufWriter<File>,
    enc: TraceEncoder,
    buf: Vec<u8>,
    events: u64,
}

impl std::fmt::Debug for EventSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSpool")
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl EventSpool {
    /// An empty spool in the temporary directory (removed when dropped, however the program
    /// ends: the file has no name).
    pub fn new() -> std::io::Result<Self> {
        let mut enc = TraceEncoder::new(OutputEncoding::Binary);
        let mut buf = Vec::new();
        enc.header(&TraceMeta::default(), &mut buf);
        Ok(EventSpool {
            file: BufWriter::new(tempfile::tempfile()?),
            enc,
            buf,
            events: 0,
        })
    }

    /// Append one event.
    pub fn push(&mut self, ev: &Event) -> std::io::Result<()> {
        self.enc.event(ev, &mut self.buf);
        self.events += 1;
        if self.buf.len() >= FLUSH_AT {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Events spooled.
    pub fn count(&self) -> u64 {
        self.events
    }

    /// Every event spooled, in order, in batches of up to [`BATCH`] given to `each`.
    pub fn events<E: From<SpoolError>>(
        mut self,
        mut each: impl FnMut(&[Event]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.enc.finish(&mut self.buf);
        self.file.write_all(&self.buf).map_err(SpoolError::from)?;
        let mut file = self
            .file
            .into_inner()
            .map_err(|e| SpoolError::from(e.into_error()))?;
        file.rewind().map_err(SpoolError::from)?;
        let mut r = TraceReader::new(file, ImportOptions::default());
        r.meta().map_err(SpoolError::from)?;
        let mut batch = Vec::with_capacity(BATCH);
        while r.next_batch(&mut batch).map_err(SpoolError::from)? {
            each(&batch)?;
        }
        Ok(())
    }
}

/// Why the spool could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The temporary file failed.
    #[error("the recording's temporary file: {0}")]
    Io(#[from] std::io::Error),
    /// What was written does not decode (a bug).
    #[error("the recording's temporary file: {0}")]
    Read(#[from] ReadError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmaplab_core::trace::{RmapId, SpteId, VcpuId};

    #[test]
    fn events_come_back_in_order() {
        let mut s = EventSpool::new().unwrap();
        let want: Vec<Event> = (0..10_000u64)
            .flat_map(|i| {
                [
                    Event::fault(VcpuId((i % 3) as u32)),
                    Event::add(RmapId(i % 97), SpteId(i)),
                ]
            })
            .collect();
        for e in &want {
            s.push(e).unwrap();
        }
        assert_eq!(s.count(), want.len() as u64);
        let mut got = Vec::new();
        s.events(|b| {
            got.extend_from_slice(b);
            Ok::<(), SpoolError>(())
        })
        .unwrap();
        assert_eq!(got, want);
    }
}
