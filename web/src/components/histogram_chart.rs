//! The rmap length histogram at the entries peak: KVM's `mmu_rmaps_stat` buckets (ffs columns)
//! or the true log2 buckets, as bars; the kernel's exact text underneath.

use super::chart::{axis_titles, count, ticks, B, L, W};
use rmaplab_core::histogram::{RmapHistogram, RMAP_LOG_SIZE};
use yew::prelude::*;

/// Props of [`HistogramChart`].
#[derive(Properties, PartialEq, Debug)]
pub struct HistogramChartProps {
    /// The histogram.
    pub hist: RmapHistogram,
    /// Entries at the peak.
    pub peak_entries: u64,
}

/// Height of the histogram's view box.
const H: f64 = 270.0;
/// How far below the axis a bar's label sits.
const LABEL_DROP: f64 = 1.4 * FONT_PX;
/// The chart text's size.
const FONT_PX: f64 = 10.0;

/// The chart.
#[function_component(HistogramChart)]
pub fn histogram_chart(p: &HistogramChartProps) -> Html {
    let kernel = use_state(|| false);
    let (labels, row): (Vec<String>, Vec<u64>) = if *kernel {
        let mut l = vec!["1".to_string(), "2-3".into()];
        l.insert(0, "0".into());
        let labels = (0..RMAP_LOG_SIZE)
            .map(|i| match i {
                0 => "0".to_string(),
                1 => "1".to_string(),
                i => format!("{}-{}", 1u64 << (i - 1), (1u64 << i) - 1),
            })
            .collect();
        (labels, p.hist.kernel[0].to_vec())
    } else {
        (RmapHistogram::log2_labels(), p.hist.log2[0].to_vec())
    };
    // Column "0" dwarfs everything else; leave it out of the bars (it is in the text).
    let skip = usize::from(*kernel);
    let max = row.iter().skip(skip).copied().max().unwrap_or(0) as f64;
    let yt = ticks(max, 4);
    let top = yt.last().copied().unwrap_or(1.0).max(1.0);
    let n = (row.len() - skip) as f64;
    let bw = (W - L - 10.0) / n;
    let toggle = {
        let k = kernel.clone();
        Callback::from(move |_: MouseEvent| k.set(!*k))
    };
    html! {
        <figure class="chart">
            <figcaption>
                { format!("4K rmap sizes when the rmaps held the most entries ({}) — ", p.peak_entries) }
                <button type="button" onclick={toggle} aria-pressed={kernel.to_string()}>
                    { if *kernel { "showing mmu_rmaps_stat buckets (ffs); show true log2" } else { "showing true log2 buckets; show mmu_rmaps_stat buckets" } }
                </button>
            </figcaption>
            <svg viewBox={format!("0 0 {W} {H}")} role="img" aria-label="rmap length histogram">
                { axis_titles(H, "SPTEs in the rmap (bucket)", "4K rmaps") }
                { for yt.iter().map(|t| { let y = H - B - t / top * (H - B - 10.0); html! {
                    <g><line x1={L.to_string()} x2={(W - 10.0).to_string()} y1={y.to_string()} y2={y.to_string()} class="grid" />
                    <text x={(L - 6.0).to_string()} y={(y + 4.0).to_string()} text-anchor="end">{ count(*t) }</text></g>
                }}) }
                { for row.iter().zip(&labels).skip(skip).enumerate().map(|(i, (v, l))| {
                    let h = *v as f64 / top * (H - B - 10.0);
                    let x = L + i as f64 * bw;
                    html! { <g>
                        <rect x={(x + 2.0).to_string()} y={(H - B - h).to_string()} width={(bw - 4.0).max(1.0).to_string()} height={h.to_string()} class="bar"><title>{ format!("{l} entries: {v} rmaps") }</title></rect>
                        <text x={(x + bw / 2.0).to_string()} y={(H - B + LABEL_DROP).to_string()} text-anchor="middle" class="small">{ l.clone() }</text>
                    </g> }
                }) }
            </svg>
            <pre class="kernel-text" aria-label="mmu_rmaps_stat text">{ p.hist.kernel_text() }</pre>
        </figure>
    }
}
