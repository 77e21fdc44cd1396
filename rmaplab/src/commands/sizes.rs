//! `rmaplab sizes`: the seed patch's arithmetic, no trace needed.

use crate::render;
use crate::shared::format::Format;
use anyhow::Result;
use clap::Args;
use rmaplab_core::config::{self, Era, KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE};
use rmaplab_core::sizes;
use std::process::ExitCode;

/// Array sizes typed as one comma-separated list, each checked.
#[derive(Debug, Clone)]
pub struct Sizes(pub Vec<usize>);

/// `--entries`' parser: every bad size is reported, and the list may not be empty.
fn parse_sizes(s: &str) -> Result<Sizes, String> {
    match config::check_entries_list(s) {
        Ok(v) if v.is_empty() => Err("give at least one array size".into()),
        Ok(v) => Ok(Sizes(v)),
        Err(es) => Err(es
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// `rmaplab sizes`' arguments.
#[derive(Args, Debug)]
pub struct SizesArgs {
    /// Array sizes.
    #[arg(long, default_value = "2,4,14", value_name = "N,N,...", value_parser = parse_sizes)]
    pub entries: Sizes,
    /// vCPUs of the VM.
    #[arg(long, default_value_t = 1)]
    pub vcpus: usize,
    /// Per-vCPU cache capacity (KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE).
    #[arg(long, default_value_t = KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE)]
    pub cache: usize,
    /// Era (decides the header size: 16 B since v5.15, 8 B before).
    #[arg(long, default_value = "head-insert")]
    pub era: Era,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn sizes_cmd(a: &SizesArgs) -> Result<ExitCode> {
    let rows = sizes::size_table(&a.entries.0, a.era, a.cache, a.vcpus);
    match a.format {
        Format::Table => out!("{}", render::sizes_table(&rows)),
        Format::Json => outln!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Csv => {
            outln!("entries,desc_bytes,objs_per_slab_page,cache_capacity,per_vcpu_cache_bytes,vcpus,total_cache_bytes,cache_slab_pages,extra_vs_smallest_bytes,split_cache_bytes");
            for r in &rows {
                outln!(
                    "{},{},{},{},{},{},{},{},{},{}",
                    r.entries,
                    r.desc_bytes,
                    r.objs_per_slab_page,
                    r.cache_capacity,
                    r.per_vcpu_cache_bytes,
                    r.vcpus,
                    r.total_cache_bytes,
                    r.cache_slab_pages,
                    r.extra_vs_smallest_bytes,
                    r.split_cache_bytes
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
