//! The bytes of one input, read by offset: a capture is read in several passes and, for a
//! trace.dat, by one cursor per CPU, so nothing of it has to be held in memory. Every reader of
//! the input gets a [`Shared`] handle with its own position over the one underlying
//! `Read + Seek` (a file natively, `File.slice` in the browser's worker, bytes in tests), and
//! every byte any handle reads is counted in [`Progress`], which the front-end's hook sees and
//! may stop.

use std::cell::RefCell;
use std::io::{Read, Seek, SeekFrom};
use std::rc::Rc;

/// Anything readable by offset.
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// Where a read of an input stands, as the front-ends show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// What is being done (`"reading"`, `"import pass 1 of 3: scanning"`, …).
    pub stage: &'static str,
    /// Which pass over the input this is (1-based); rmaplab's own traces take one.
    pub pass: u32,
    /// How many passes this input takes, as far as known now (it can grow by one when a
    /// capture turns out to hold several VMs).
    pub passes: u32,
    /// Bytes read in this pass.
    pub bytes: u64,
    /// The input's size, when known.
    pub total: Option<u64>,
}

impl Progress {
    /// The share of the whole read done, 0..=1, counting every pass as one input's length.
    pub fn fraction(&self) -> Option<f64> {
        let total = self.total.filter(|&t| t > 0)? as f64;
        let passes = f64::from(self.passes.max(self.pass).max(1));
        let done = f64::from(self.pass.saturating_sub(1)) + (self.bytes as f64 / total).min(1.0);
        Some((done / passes).min(1.0))
    }
}

/// Called as bytes arrive; `false` stops the read ([`STOPPED`]).
pub type ProgressHook<'a> = Box<dyn FnMut(&Progress) -> bool + 'a>;

/// The message of the I/O error a stopped read fails with.
pub const STOPPED: &str = "stopped";

/// Bytes between two calls of the progress hook.
const HOOK_EVERY: u64 = 1 << 18;

/// Counts the bytes read and calls the front-end's hook.
pub struct Meter<'a> {
    progress: Progress,
    since_hook: u64,
    hook: Option<ProgressHook<'a>>,
    stopped: bool,
}

impl std::fmt::Debug for Meter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter")
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

/// A meter shared by every reader of one input.
pub type SharedMeter<'a> = Rc<RefCell<Meter<'a>>>;

impl<'a> Meter<'a> {
    /// A meter calling `hook` (if any) as bytes arrive.
    pub fn shared(hook: Option<ProgressHook<'a>>) -> SharedMeter<'a> {
        Rc::new(RefCell::new(Meter {
            progress: Progress {
                stage: "reading",
                pass: 1,
                passes: 1,
                bytes: 0,
                total: None,
            },
            since_hook: 0,
            hook,
            stopped: false,
        }))
    }

    /// Where the read stands.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// `n` more bytes read; an error once the hook asked to stop.
    pub fn add(&mut self, n: usize) -> std::io::Result<()> {
        if self.stopped {
            return Err(std::io::Error::other(STOPPED));
        }
        self.progress.bytes += n as u64;
        self.since_hook += n as u64;
        if self.since_hook >= HOOK_EVERY || n == 0 {
            self.since_hook = 0;
            let p = self.progress;
            if let Some(h) = self.hook.as_mut() {
                if !h(&p) {
                    self.stopped = true;
                    return Err(std::io::Error::other(STOPPED));
                }
            }
        }
        Ok(())
    }

    /// Start pass `pass` of `passes` doing `stage`: the byte count restarts.
    pub fn begin_pass(&mut self, stage: &'static str, pass: u32, passes: u32) {
        self.progress = Progress {
            stage,
            pass,
            passes,
            bytes: 0,
            total: self.progress.total,
        };
        self.since_hook = HOOK_EVERY;
    }

    /// The input's size, once known.
    pub fn set_total(&mut self, total: Option<u64>) {
        self.progress.total = total;
    }
}

/// A stream read once (stdin, a decompressor), its bytes counted in a meter.
pub struct Counting<'a, R> {
    inner: R,
    meter: SharedMeter<'a>,
}

impl<R> std::fmt::Debug for Counting<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counting").finish_non_exhaustive()
    }
}

impl<'a, R: Read> Counting<'a, R> {
    /// `inner`, counted in `meter`.
    pub fn new(inner: R, meter: SharedMeter<'a>) -> Self {
        Counting { inner, meter }
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = loop {
            match self.inner.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.meter.borrow_mut().add(n)?;
        Ok(n)
    }
}

struct State<'a> {
    inner: Box<dyn ReadSeek + 'a>,
    /// Where `inner` is now (a seek is skipped when a handle reads on from there).
    at: Option<u64>,
    len: Option<u64>,
    meter: SharedMeter<'a>,
}

/// A handle on the shared input with its own position.
pub struct Shared<'a> {
    state: Rc<RefCell<State<'a>>>,
    pos: u64,
}

impl std::fmt::Debug for Shared<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("pos", &self.pos).finish()
    }
}

impl<'a> Shared<'a> {
    /// The first handle on `inner`, at offset 0; `len` is its size if known.
    pub fn new(
        inner: Box<dyn ReadSeek + 'a>,
        len: Option<u64>,
        hook: Option<ProgressHook<'a>>,
    ) -> Self {
        Self::metered(inner, len, Meter::shared(hook))
    }

    /// As [`Shared::new`], counting in an existing meter.
    pub fn metered(
        inner: Box<dyn ReadSeek + 'a>,
        len: Option<u64>,
        meter: SharedMeter<'a>,
    ) -> Self {
        if len.is_some() {
            meter.borrow_mut().set_total(len);
        }
        Shared {
            state: Rc::new(RefCell::new(State {
                inner,
                at: None,
                len,
                meter,
            })),
            pos: 0,
        }
    }

    /// The meter every handle counts in.
    pub fn meter(&self) -> SharedMeter<'a> {
        Rc::clone(&self.state.borrow().meter)
    }

    /// Another handle on the same input, at `pos`.
    pub fn at(&self, pos: u64) -> Shared<'a> {
        Shared {
            state: Rc::clone(&self.state),
            pos,
        }
    }

    /// The input's size: given, or found by seeking to its end.
    pub fn len(&self) -> std::io::Result<u64> {
        let mut s = self.state.borrow_mut();
        if let Some(l) = s.len {
            return Ok(l);
        }
        let l = s.inner.seek(SeekFrom::End(0))?;
        s.at = Some(l);
        s.len = Some(l);
        s.meter.borrow_mut().set_total(Some(l));
        Ok(l)
    }

    /// Whether the input is empty.
    pub fn is_empty(&self) -> std::io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Start pass `pass` of `passes` doing `stage`: the byte count restarts.
    pub fn begin_pass(&self, stage: &'static str, pass: u32, passes: u32) {
        self.state
            .borrow()
            .meter
            .borrow_mut()
            .begin_pass(stage, pass, passes);
    }

    /// Where the read stands.
    pub fn progress(&self) -> Progress {
        self.state.borrow().meter.borrow().progress()
    }

    /// Read exactly `buf.len()` bytes at `offset` (an error past the end).
    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.at(offset).read_exact(buf)
    }

    /// Up to `max` bytes at `offset` (fewer at the end of the input).
    pub fn read_up_to(&self, offset: u64, max: usize) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.at(offset).take(max as u64).read_to_end(&mut out)?;
        Ok(out)
    }
}

impl Read for Shared<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut s = self.state.borrow_mut();
        if s.meter.borrow().stopped {
            return Err(std::io::Error::other(STOPPED));
        }
        if s.at != Some(self.pos) {
            s.inner.seek(SeekFrom::Start(self.pos))?;
        }
        s.at = None;
        let n = loop {
            match s.inner.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.pos += n as u64;
        s.at = Some(self.pos);
        s.meter.borrow_mut().add(n)?;
        Ok(n)
    }
}

/// The position `to` names for a reader at `pos` of an input of `len` bytes (asked only for
/// [`SeekFrom::End`]); before the start is an error. For readers that keep their own position.
pub fn seek_position(
    pos: u64,
    len: impl FnOnce() -> std::io::Result<u64>,
    to: SeekFrom,
) -> std::io::Result<u64> {
    let new = match to {
        SeekFrom::Start(p) => Some(p),
        SeekFrom::Current(d) => pos.checked_add_signed(d),
        SeekFrom::End(d) => len()?.checked_add_signed(d),
    };
    new.ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
    })
}

impl Seek for Shared<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = seek_position(self.pos, || self.len(), to)?;
        Ok(self.pos)
    }
}

/// Whether an I/O error is the one a stopped read fails with.
pub fn is_stopped(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Other && e.to_string() == STOPPED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_keep_their_own_positions_and_bytes_are_counted() {
        let data: Vec<u8> = (0..=255).collect();
        let a = Shared::new(Box::new(std::io::Cursor::new(data)), None, None);
        assert_eq!(a.len().unwrap(), 256);
        let mut x = a.at(10);
        let mut y = a.at(200);
        let mut b = [0u8; 4];
        x.read_exact(&mut b).unwrap();
        assert_eq!(b, [10, 11, 12, 13]);
        y.read_exact(&mut b).unwrap();
        assert_eq!(b, [200, 201, 202, 203]);
        x.read_exact(&mut b).unwrap();
        assert_eq!(b, [14, 15, 16, 17]);
        assert_eq!(a.progress().bytes, 12);
        assert_eq!(a.read_up_to(250, 100).unwrap().len(), 6);
    }

    #[test]
    fn a_hook_that_says_stop_stops_every_handle() {
        let data = vec![0u8; 4 * HOOK_EVERY as usize];
        let hook: ProgressHook<'_> = Box::new(|_| false);
        let a = Shared::new(Box::new(std::io::Cursor::new(data)), None, Some(hook));
        let mut sink = Vec::new();
        let e = a.at(0).read_to_end(&mut sink).unwrap_err();
        assert!(is_stopped(&e));
        assert!(is_stopped(&a.at(5).read(&mut [0; 4]).unwrap_err()));
    }

    #[test]
    fn progress_counts_every_pass() {
        let p = Progress {
            stage: "x",
            pass: 2,
            passes: 2,
            bytes: 50,
            total: Some(100),
        };
        assert_eq!(p.fraction(), Some(0.75));
    }
}
