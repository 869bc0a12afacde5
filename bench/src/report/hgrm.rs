//! HdrHistogram percentile-distribution text (`.hgrm`), the format of HdrHistogram's
//! `outputPercentileDistribution` that the standard plotters read: values in milliseconds
//! (recorded in µs, scaling ratio 1000), 5 ticks per half distance, then the Mean/Max/Buckets
//! footer.

use crate::hist::LatencyHist;

/// Renders the percentile distribution of `h` with values in milliseconds.
pub fn render(h: &LatencyHist) -> String {
    let raw = h.raw();
    let scale = 1000.0;
    let mut s = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !raw.is_empty() {
        for v in raw.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let value = raw.highest_equivalent(v.value_iterated_to()) as f64 / scale;
            if q < 1.0 {
                s.push_str(&format!(
                    "{value:>12.3} {q:>2.12} {total:>10} {:>14.2}\n",
                    1.0 / (1.0 - q)
                ));
            } else {
                s.push_str(&format!("{value:>12.3} {q:>2.12} {total:>10}\n"));
            }
        }
    }
    let (mean, sd, max) = if raw.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            raw.mean() / scale,
            raw.stdev() / scale,
            raw.highest_equivalent(raw.max()) as f64 / scale,
        )
    };
    s.push_str(&format!(
        "#[Mean    = {mean:>12.3}, StdDeviation   = {sd:>12.3}]\n"
    ));
    s.push_str(&format!(
        "#[Max     = {max:>12.3}, Total count    = {:>12}]\n",
        raw.len()
    ));
    s.push_str(&format!(
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]\n",
        raw.buckets(),
        sub_buckets(raw.sigfig())
    ));
    s
}

fn sub_buckets(sigfig: u8) -> u64 {
    let largest = 2 * 10u64.pow(u32::from(sigfig));
    largest.next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_layout() {
        let mut h = LatencyHist::new();
        for v in 1..=1000u64 {
            h.record_us(v * 10);
        }
        let out = render(&h);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        // first data line: min value at percentile 0
        let first: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(first.len(), 4);
        assert_eq!(first[1], "0.000000000000");
        // the last data line is percentile 1 with the total count and no 4th column
        let last = lines.iter().rev().find(|l| !l.starts_with('#')).unwrap();
        let cols: Vec<&str> = last.split_whitespace().collect();
        assert_eq!(cols.len(), 3);
        assert_eq!(cols[1], "1.000000000000");
        assert_eq!(cols[2], "1000");
        assert!(out.contains("#[Max     =       10.007, Total count    =         1000]"));
        assert!(out.contains("SubBuckets     =         2048]"));
        // counts never decrease
        let mut prev = 0u64;
        for l in lines.iter().skip(2).filter(|l| !l.starts_with('#')) {
            let c: u64 = l.split_whitespace().nth(2).unwrap().parse().unwrap();
            assert!(c >= prev);
            prev = c;
        }
    }

    #[test]
    fn empty_histogram_still_has_footer() {
        let out = render(&LatencyHist::new());
        assert!(out.contains("Total count    =            0]"));
    }
}
