//! The rmap length histogram at the entries peak: KVM's `mmu_rmaps_stat` buckets (ffs columns)
//! or the true log2 buckets, as bars, drawn at the chart's on-screen width (bucket labels
//! thinned where they would touch); the kernel's exact text underneath.

use super::chart::{count, text_w, thousands, ticks, use_width, values_table, Frame, SMALL_PX};
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
/// Least room between two bucket labels.
const LABEL_GAP: f64 = 6.0;

/// Every `k`-th of `n` labels fits when each is `label_w` wide and a bar is `bw` wide.
fn label_stride(label_w: f64, bw: f64) -> usize {
    ((label_w + LABEL_GAP) / bw.max(1.0)).ceil().max(1.0) as usize
}

/// The chart.
#[function_component(HistogramChart)]
pub fn histogram_chart(p: &HistogramChartProps) -> Html {
    let kernel = use_state(|| false);
    let node = use_node_ref();
    let w = use_width(node.clone());
    let (labels, row): (Vec<String>, Vec<u64>) = if *kernel {
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
    let y_labels: Vec<String> = yt.iter().map(|t| count(*t)).collect();
    let f = Frame::new(w, H, &y_labels, "");
    let n = (row.len() - skip).max(1) as f64;
    let bw = (f.right - f.left) / n;
    let widest = labels
        .iter()
        .skip(skip)
        .map(|l| text_w(l, SMALL_PX))
        .fold(0.0, f64::max);
    let stride = label_stride(widest, bw);
    let toggle = {
        let k = kernel.clone();
        Callback::from(move |_: MouseEvent| k.set(!*k))
    };
    let rows = labels
        .iter()
        .zip(&row)
        .map(|(l, v)| vec![l.clone(), thousands(*v)])
        .collect();
    html! {
        <figure class="chart">
            <figcaption>
                { format!("4K rmap sizes when the rmaps held the most entries ({}) — ", thousands(p.peak_entries)) }
                <button type="button" onclick={toggle} aria-pressed={kernel.to_string()}>
                    { if *kernel { "showing mmu_rmaps_stat buckets (ffs); show true log2" } else { "showing true log2 buckets; show mmu_rmaps_stat buckets" } }
                </button>
            </figcaption>
            <div class="plot" ref={node}>
            <svg viewBox={f.view_box()} role="img" aria-label="rmap length histogram">
                { f.titles("SPTEs in the rmap (bucket)", "4K rmaps") }
                { f.y_axis(&yt, top, count) }
                { for row.iter().zip(&labels).skip(skip).enumerate().map(|(i, (v, l))| {
                    let h = *v as f64 / top * (f.bottom - f.top);
                    let x = f.left + i as f64 * bw;
                    html! { <g>
                        <rect x={(x + 2.0).to_string()} y={(f.bottom - h).to_string()} width={(bw - 4.0).max(1.0).to_string()} height={h.to_string()} class="bar"><title>{ format!("{l} entries: {} rmaps", thousands(*v)) }</title></rect>
                        if i % stride == 0 {
                            <text x={(x + bw / 2.0).to_string()} y={f.x_label_y().to_string()} text-anchor="middle" class="small">{ l.clone() }</text>
                        }
                    </g> }
                }) }
            </svg>
            </div>
            <pre class="kernel-text" tabindex="0" aria-label="mmu_rmaps_stat text (scrolls sideways)">{ p.hist.kernel_text() }</pre>
            { values_table("The buckets", &["SPTEs in the rmap", "4K rmaps"], rows) }
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels wider than a bar are thinned so neighbours never touch.
    #[test]
    fn bucket_labels_are_thinned_to_fit() {
        assert_eq!(label_stride(20.0, 40.0), 1);
        let k = label_stride(50.0, 28.0);
        assert!(k as f64 * 28.0 >= 50.0 + LABEL_GAP);
        assert!((k - 1) as f64 * 28.0 < 50.0 + LABEL_GAP);
    }
}
