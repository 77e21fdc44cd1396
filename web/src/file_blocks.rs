//! Reading a user's file in the worker by offset, in blocks: each `FileReaderSync` call costs
//! far more than the bytes it copies, and a capture's readers (one per trace.dat CPU, each
//! moving forward through its own region) ask for a few KiB at a time. A handful of 8 MiB
//! blocks, least recently used first out, turns those into one browser call per 8 MiB per
//! reader, with memory fixed at [`BLOCKS`] × [`BLOCK_BYTES`] (64 MiB).

use rmaplab_core::input::source::seek_position;
use std::io::{Read, Seek, SeekFrom};

/// Bytes fetched per browser call. Each call costs about 4 ms beyond its bytes in Chromium:
/// the page imported a 392 MB perf.data (two passes) in 6.7 s with 1 MiB blocks, 3.8 s with
/// 4 MiB and 3.0 s with 8 MiB.
pub const BLOCK_BYTES: u64 = 8 << 20;
/// Blocks kept: enough for every CPU cursor of a trace.dat on a small host plus the reader
/// of headers, without thrashing as the merge moves between them.
pub const BLOCKS: usize = 8;

/// Fetches `len` bytes at `offset` of the file (a browser call in the worker).
pub type Fetch<'a> = Box<dyn FnMut(u64, usize) -> std::io::Result<Vec<u8>> + 'a>;

/// A file of `size` bytes read through [`Fetch`] in cached blocks.
pub struct BlockReader<'a> {
    fetch: Fetch<'a>,
    size: u64,
    pos: u64,
    /// (block index, bytes), most recently used last.
    blocks: Vec<(u64, Vec<u8>)>,
}

impl std::fmt::Debug for BlockReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockReader")
            .field("size", &self.size)
            .field("pos", &self.pos)
            .field("blocks", &self.blocks.len())
            .finish_non_exhaustive()
    }
}

impl<'a> BlockReader<'a> {
    /// A reader of a file of `size` bytes.
    pub fn new(size: u64, fetch: Fetch<'a>) -> Self {
        BlockReader {
            fetch,
            size,
            pos: 0,
            blocks: Vec::with_capacity(BLOCKS),
        }
    }

    /// The cached block `index`, fetched if missing (evicting the least recently used).
    fn block(&mut self, index: u64) -> std::io::Result<&[u8]> {
        if let Some(i) = self.blocks.iter().position(|(b, _)| *b == index) {
            let hit = self.blocks.remove(i);
            self.blocks.push(hit);
        } else {
            let start = index * BLOCK_BYTES;
            let want = BLOCK_BYTES.min(self.size.saturating_sub(start)) as usize;
            let bytes = (self.fetch)(start, want)?;
            if bytes.len() != want {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "the file is shorter than it was: {} bytes at offset {start} where {want} were expected; if it changed, choose it again",
                        bytes.len()
                    ),
                ));
            }
            if self.blocks.len() == BLOCKS {
                self.blocks.remove(0);
            }
            self.blocks.push((index, bytes));
        }
        Ok(self.blocks.last().map_or(&[][..], |(_, b)| b.as_slice()))
    }
}

impl Read for BlockReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let (index, at) = (self.pos / BLOCK_BYTES, (self.pos % BLOCK_BYTES) as usize);
        let block = self.block(index)?;
        let n = buf.len().min(block.len().saturating_sub(at));
        buf[..n].copy_from_slice(&block[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlockReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = seek_position(self.pos, || Ok(self.size), to)?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A reader of `data` that counts its fetches.
    fn reader(data: &[u8], calls: Rc<Cell<usize>>) -> BlockReader<'_> {
        BlockReader::new(
            data.len() as u64,
            Box::new(move |at, len| {
                calls.set(calls.get() + 1);
                let at = at as usize;
                Ok(data[at..(at + len).min(data.len())].to_vec())
            }),
        )
    }

    #[test]
    fn interleaved_readers_read_each_block_once_and_every_byte_right() {
        let data: Vec<u8> = (0..(3 * BLOCK_BYTES + 1234))
            .map(|i| (i % 251) as u8)
            .collect();
        let calls = Rc::new(Cell::new(0));
        let mut r = reader(&data, calls.clone());
        // Two "CPU cursors" moving forward through their halves, 4 KiB at a time, alternating.
        let half = data.len() as u64 / 2;
        let (mut a, mut b) = (0u64, half);
        let mut buf = vec![0u8; 4096];
        while a < half || b < data.len() as u64 {
            for pos in [&mut a, &mut b] {
                let end = if *pos < half { half } else { data.len() as u64 };
                if *pos >= end {
                    continue;
                }
                r.seek(SeekFrom::Start(*pos)).unwrap();
                let want = buf.len().min((end - *pos) as usize);
                let n = r.read(&mut buf[..want]).unwrap();
                assert!(n > 0);
                assert_eq!(&buf[..n], &data[*pos as usize..*pos as usize + n]);
                *pos += n as u64;
            }
        }
        assert_eq!(calls.get(), 4, "one fetch per block");
        r.seek(SeekFrom::End(0)).unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        assert!(r.seek(SeekFrom::Current(-(data.len() as i64) - 1)).is_err());
    }

    #[test]
    fn a_file_that_shrank_is_an_error_not_a_short_read() {
        let mut r = BlockReader::new(10, Box::new(|_, _| Ok(vec![1, 2, 3])));
        let e = r.read(&mut [0u8; 4]).unwrap_err();
        assert!(e.to_string().contains("shorter than it was"), "{e}");
    }
}
