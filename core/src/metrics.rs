//! Small streaming statistics: per-operation cost distributions and a bounded time series.

use serde::{Deserialize, Serialize};

/// Buckets of a [`Distribution`]: bucket 0 holds 0, bucket k ≥ 1 holds values in `[2^(k-1), 2^k)`.
pub const DIST_BUCKETS: usize = 24;

/// Count, sum, max and log2 buckets of a per-operation quantity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Operations recorded.
    pub count: u64,
    /// Sum of the values.
    pub total: u64,
    /// Largest value.
    pub max: u64,
    /// log2 buckets: `[0]` = 0, `[k]` = `2^(k-1) ..= 2^k - 1`, the last bucket open-ended.
    /// Serialized as an empty list while nothing was recorded.
    #[serde(with = "bucket_list")]
    pub buckets: [u64; DIST_BUCKETS],
}

/// `buckets` as a JSON list: empty when every bucket is 0, otherwise all of them; a shorter
/// list read back is padded with zeros.
mod bucket_list {
    use super::DIST_BUCKETS;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        b: &[u64; DIST_BUCKETS],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        if b.iter().all(|&v| v == 0) {
            <[u64]>::serialize(&[], s)
        } else {
            <[u64]>::serialize(b, s)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<[u64; DIST_BUCKETS], D::Error> {
        let v = Vec::<u64>::deserialize(d)?;
        if v.len() > DIST_BUCKETS {
            return Err(serde::de::Error::invalid_length(
                v.len(),
                &"at most 24 buckets",
            ));
        }
        let mut out = [0; DIST_BUCKETS];
        out[..v.len()].copy_from_slice(&v);
        Ok(out)
    }
}

impl Distribution {
    /// Record one value.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.count += 1;
        self.total += v;
        self.max = self.max.max(v);
        // 0 → bucket 0; v ≥ 1 → its bit length (64 - leading zeros), capped.
        let b = ((64 - v.leading_zeros()) as usize).min(DIST_BUCKETS - 1);
        self.buckets[b] += 1;
    }

    /// Record `v` as if [`Distribution::record`] had been called `n` times with it.
    pub fn record_many(&mut self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.count += n;
        self.total += v * n;
        self.max = self.max.max(v);
        let b = ((64 - v.leading_zeros()) as usize).min(DIST_BUCKETS - 1);
        self.buckets[b] += n;
    }

    /// Mean value (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total as f64 / self.count as f64
        }
    }
}

/// Values below this are counted one by one by a [`Tally`].
pub const TALLY_DIRECT: usize = 32;

/// A [`Distribution`] while it is being recorded on the hot path: values below
/// [`TALLY_DIRECT`] (the common per-operation costs: a few descriptors, a few cache lines) only
/// bump their own counter, one compare and one increment; count, sum, maximum and buckets are
/// derived from those counters when [`Tally::distribution`] is asked. Larger values go to a
/// [`Distribution`] at once. Every field of a distribution is a sum or a maximum, so the result
/// does not depend on the order of the records: it equals recording each value directly.
#[derive(Debug, Clone)]
pub struct Tally {
    direct: [u64; TALLY_DIRECT],
    rest: Distribution,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            direct: [0; TALLY_DIRECT],
            rest: Distribution::default(),
        }
    }
}

impl Tally {
    /// Record one value.
    #[inline(always)] // twice per operation per configuration; the body is a compare and an add
    pub fn record(&mut self, v: u64) {
        match self
            .direct
            .get_mut(usize::try_from(v).unwrap_or(usize::MAX))
        {
            Some(n) => *n += 1,
            None => self.rest.record(v),
        }
    }

    /// Everything recorded so far, as one [`Distribution`].
    pub fn distribution(&self) -> Distribution {
        let mut d = self.rest.clone();
        for (v, &n) in (0u64..).zip(&self.direct) {
            d.record_many(v, n);
        }
        d
    }
}

/// Points kept by a [`Series`] before it halves its resolution.
pub const SERIES_POINTS: usize = 512;

/// A time series of a gauge over event indices with bounded memory: it keeps at most
/// [`SERIES_POINTS`] points, each the maximum over a window of `stride` events; when full, pairs
/// merge and the stride doubles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Events per point.
    pub stride: u64,
    /// `(first event index of the window, maximum value in the window)`.
    pub points: Vec<(u64, u64)>,
    #[serde(skip)]
    cur: Option<(u64, u64)>,
    /// First event index after the open window.
    #[serde(skip)]
    cur_end: u64,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            stride: 1,
            points: Vec::new(),
            cur: None,
            cur_end: 0,
        }
    }
}

impl Series {
    /// Record the gauge's value after event `index` (indices must increase).
    #[inline]
    pub fn record(&mut self, index: u64, value: u64) {
        if let Some((_, v)) = &mut self.cur {
            if index < self.cur_end {
                *v = (*v).max(value);
                return;
            }
        }
        self.open_window(index, value);
    }

    /// Record `value` after every event `first..=last`, as that many [`Series::record`] calls
    /// would, in one step per window (a gauge that did not move costs nothing per event).
    pub fn fill(&mut self, first: u64, last: u64, value: u64) {
        let mut i = first;
        while i <= last {
            self.record(i, value);
            // The rest of this window would only take the same maximum again.
            match self.cur_end.max(i.saturating_add(1)) {
                next if next > i => i = next,
                _ => break,
            }
        }
    }

    /// Close the open window (if any) and open the one holding `index`.
    fn open_window(&mut self, index: u64, value: u64) {
        if let Some(done) = self.cur.take() {
            self.push(done);
        }
        let window = index - index % self.stride;
        self.cur = Some((window, value));
        self.cur_end = window.saturating_add(self.stride);
    }

    fn push(&mut self, p: (u64, u64)) {
        self.points.push(p);
        if self.points.len() >= SERIES_POINTS {
            self.stride *= 2;
            let old = std::mem::take(&mut self.points);
            for (w, v) in old {
                let w2 = w - w % self.stride;
                match self.points.last_mut() {
                    Some((lw, lv)) if *lw == w2 => *lv = (*lv).max(v),
                    _ => self.points.push((w2, v)),
                }
            }
            // `push` runs with no window open (`open_window` took it), so nothing else moves.
        }
    }

    /// Close the series (flush the open window).
    pub fn finish(&mut self) {
        if let Some(p) = self.cur.take() {
            self.points.push(p);
        }
        // Nothing is open: a finished series equals itself read back from its serde form.
        self.cur_end = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Filling a run of events equals recording each of them, through any number of
        /// resolution halvings.
        #[test]
        fn fill_equals_one_record_per_event(
            runs in proptest::collection::vec((1u64..3000, 0u64..1000, any::<bool>()), 1..200),
        ) {
            let (mut each, mut filled) = (Series::default(), Series::default());
            let mut index = 0u64;
            for &(len, value, as_fill) in &runs {
                for i in index..index + len {
                    each.record(i, value);
                }
                if as_fill {
                    filled.fill(index, index + len - 1, value);
                } else {
                    for i in index..index + len {
                        filled.record(i, value);
                    }
                }
                index += len;
            }
            each.finish();
            filled.finish();
            prop_assert_eq!(each, filled);
        }

        /// A tally's distribution equals recording every value in a distribution, for small
        /// values (counted one by one), large ones and any mix.
        #[test]
        fn tally_equals_a_distribution(
            values in proptest::collection::vec(
                prop_oneof![0u64..40, any::<u64>().prop_map(|v| v >> 40)],
                0..300,
            ),
        ) {
            let (mut tally, mut direct) = (Tally::default(), Distribution::default());
            for &v in &values {
                tally.record(v);
                direct.record(v);
            }
            prop_assert_eq!(tally.distribution(), direct);
        }
    }

    #[test]
    fn distribution_buckets() {
        let mut d = Distribution::default();
        for v in [0, 1, 2, 3, 4, 1000] {
            d.record(v);
        }
        assert_eq!(d.count, 6);
        assert_eq!(d.max, 1000);
        assert_eq!(d.buckets[0], 1);
        assert_eq!(d.buckets[1], 1);
        assert_eq!(d.buckets[2], 2);
        assert_eq!(d.buckets[3], 1);
        assert_eq!(d.buckets[10], 1);
    }

    #[test]
    fn series_stays_bounded_and_keeps_the_peak() {
        let mut s = Series::default();
        for i in 0..100_000u64 {
            s.record(i, if i == 77_777 { 1_000_000 } else { i % 100 });
        }
        s.finish();
        assert!(s.points.len() <= SERIES_POINTS);
        assert_eq!(s.points.iter().map(|p| p.1).max(), Some(1_000_000));
        assert!(s.points.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
