//! KVM's binary statistics (`KVM_GET_STATS_FD`, Linux ≥ 5.14): a header, descriptors with names,
//! and data. The parser is pure; the reader `pread`s the fd.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// `sizeof(struct kvm_stats_header)`.
const HEADER_LEN: usize = 24;
/// Fixed part of `struct kvm_stats_desc` before `name[]`.
const DESC_FIXED_LEN: usize = 16;

/// Errors reading stats.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The fd could not be read.
    #[error("reading KVM's stats fd failed: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes do not follow the documented layout.
    #[error("KVM's stats header is malformed: {0}")]
    Malformed(String),
}

/// One stat's descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatDesc {
    /// Name, e.g. `max_mmu_rmap_size`.
    pub name: String,
    /// Offset of its data from the data block.
    pub offset: u32,
    /// Number of u64 values.
    pub size: u16,
}

/// The layout read once from the fd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsLayout {
    /// Where the data block starts.
    pub data_offset: u32,
    /// Descriptors.
    pub descs: Vec<StatDesc>,
}

fn u32_at(b: &[u8], o: usize) -> Result<u32, StatsError> {
    b.get(o..o + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| StatsError::Malformed(format!("short read at {o}")))
}

/// Parse the header and descriptors from the first bytes of the stats fd.
pub fn parse_layout(bytes: &[u8]) -> Result<StatsLayout, StatsError> {
    if bytes.len() < HEADER_LEN {
        return Err(StatsError::Malformed("shorter than the header".into()));
    }
    let name_size = u32_at(bytes, 4)? as usize;
    let num_desc = u32_at(bytes, 8)? as usize;
    let desc_offset = u32_at(bytes, 16)? as usize;
    let data_offset = u32_at(bytes, 20)?;
    let stride = DESC_FIXED_LEN + name_size;
    let mut descs = Vec::with_capacity(num_desc);
    for i in 0..num_desc {
        let o = desc_offset + i * stride;
        let d = bytes
            .get(o..o + stride)
            .ok_or_else(|| StatsError::Malformed(format!("descriptor {i} beyond the data read")))?;
        let size = u16::from_le_bytes([d[6], d[7]]);
        let offset = u32::from_le_bytes([d[8], d[9], d[10], d[11]]);
        let name_bytes = &d[DESC_FIXED_LEN..];
        let end = name_bytes
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(name_bytes.len());
        let name = String::from_utf8_lossy(&name_bytes[..end]).into_owned();
        descs.push(StatDesc { name, offset, size });
    }
    Ok(StatsLayout { data_offset, descs })
}

/// A VM's stats fd with its layout.
#[derive(Debug)]
pub struct StatsReader {
    file: File,
    layout: StatsLayout,
}

impl StatsReader {
    /// Wrap an fd returned by `KVM_GET_STATS_FD`.
    pub fn new(file: File) -> Result<Self, StatsError> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = file.read_at(&mut buf, 0)?;
        buf.truncate(n);
        let layout = parse_layout(&buf)?;
        Ok(StatsReader { file, layout })
    }

    /// Every single-valued stat, by name, as of now.
    pub fn read(&self) -> Result<Vec<(String, u64)>, StatsError> {
        let mut out = Vec::new();
        for d in &self.layout.descs {
            if d.size != 1 {
                continue;
            }
            let mut v = [0u8; 8];
            self.file.read_exact_at(
                &mut v,
                u64::from(self.layout.data_offset) + u64::from(d.offset),
            )?;
            out.push((d.name.clone(), u64::from_le_bytes(v)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_layout() {
        let name_size = 48usize;
        let mut b = vec![0u8; HEADER_LEN];
        b[4..8].copy_from_slice(&(name_size as u32).to_le_bytes());
        b[8..12].copy_from_slice(&2u32.to_le_bytes());
        b[16..20].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        let data_offset = (HEADER_LEN + 2 * (DESC_FIXED_LEN + name_size)) as u32;
        b[20..24].copy_from_slice(&data_offset.to_le_bytes());
        for (i, name) in ["pages_4k", "max_mmu_rmap_size"].iter().enumerate() {
            let mut d = vec![0u8; DESC_FIXED_LEN + name_size];
            d[6..8].copy_from_slice(&1u16.to_le_bytes());
            d[8..12].copy_from_slice(&((i * 8) as u32).to_le_bytes());
            d[DESC_FIXED_LEN..DESC_FIXED_LEN + name.len()].copy_from_slice(name.as_bytes());
            b.extend_from_slice(&d);
        }
        let l = parse_layout(&b).unwrap();
        assert_eq!(l.data_offset, data_offset);
        assert_eq!(
            l.descs[1],
            StatDesc {
                name: "max_mmu_rmap_size".into(),
                offset: 8,
                size: 1
            }
        );
        assert!(parse_layout(&b[..30]).is_err());
    }
}
