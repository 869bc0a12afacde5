//! Hand-written SVG latency-by-percentile plot: x is the percentile on the usual HdrHistogram
//! log scale (position log10(1/(1−p)): 0%, 90%, 99%, 99.9%, 99.99%, 99.999%), y the latency in
//! milliseconds on a log scale (decades), one polyline per series (server) with a legend, so
//! several servers share one plot.

use crate::hist::CurvePoint;

/// One line of the plot.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Percentile curve (µs).
    pub points: Vec<CurvePoint>,
}

const W: f64 = 860.0;
const H: f64 = 500.0;
const L: f64 = 80.0;
const R: f64 = 20.0;
const T: f64 = 50.0;
const B: f64 = 60.0;
const X_DECADES: f64 = 5.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// Escapes text for XML content and attributes.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => o.push(c),
        }
    }
    o
}

fn x_of(percentile: f64) -> f64 {
    let p = percentile.clamp(0.0, 99.999);
    let d = (1.0 / (1.0 - p / 100.0)).log10().min(X_DECADES);
    L + d / X_DECADES * (W - L - R)
}

/// Renders the plot.
pub fn render(title: &str, series: &[Series]) -> String {
    let vals = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.value_us.max(1) as f64 / 1000.0));
    let (mut lo, mut hi) = (f64::MAX, 0.0f64);
    for v in vals {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi <= 0.0 {
        lo = 0.01;
        hi = 1.0;
    }
    let lo_dec = lo.log10().floor();
    let hi_dec = hi.log10().ceil().max(lo_dec + 1.0);
    let y_of = |ms: f64| {
        let v = ms.max(10f64.powf(lo_dec)).log10();
        H - B - (v - lo_dec) / (hi_dec - lo_dec) * (H - T - B)
    };
    let mut s = String::new();
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    ));
    s.push_str(&format!(
        "<rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n"
    ));
    s.push_str(&format!(
        "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        W / 2.0,
        escape(title)
    ));
    // grid: x percentiles
    let xticks = [
        (0.0, "0%"),
        (90.0, "90%"),
        (99.0, "99%"),
        (99.9, "99.9%"),
        (99.99, "99.99%"),
        (99.999, "99.999%"),
    ];
    for (p, label) in xticks {
        let x = x_of(p);
        s.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{T}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\n<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>\n",
            H - B,
            H - B + 18.0
        ));
    }
    let mut d = lo_dec;
    while d <= hi_dec + 1e-9 {
        let v = 10f64.powf(d);
        let y = y_of(v);
        let label = if v >= 1.0 {
            format!("{v:.0}")
        } else {
            format!("{v}")
        };
        s.push_str(&format!(
            "<line x1=\"{L}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>\n",
            W - R,
            L - 6.0,
            y + 4.0
        ));
        d += 1.0;
    }
    s.push_str(&format!(
        "<rect x=\"{L}\" y=\"{T}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#444\"/>\n",
        W - L - R,
        H - T - B
    ));
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">percentile</text>\n",
        (W + L - R) / 2.0,
        H - 14.0
    ));
    s.push_str(&format!(
        "<text x=\"18\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {:.1})\">latency (ms, log scale)</text>\n",
        (H - B + T) / 2.0,
        (H - B + T) / 2.0
    ));
    for (i, se) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = se
            .points
            .iter()
            .map(|p| {
                format!(
                    "{:.1},{:.1}",
                    x_of(p.percentile),
                    y_of(p.value_us.max(1) as f64 / 1000.0)
                )
            })
            .collect();
        if !pts.is_empty() {
            s.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
                pts.join(" ")
            ));
        }
        let ly = T + 16.0 + 18.0 * i as f64;
        s.push_str(&format!(
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"3\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            L + 12.0,
            L + 36.0,
            L + 42.0,
            ly + 4.0,
            escape(&se.label)
        ));
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::LatencyHist;

    /// Minimal well-formedness check: every tag closes in order, attributes are quoted, and
    /// there is exactly one root element.
    fn well_formed(doc: &str) -> Result<(), String> {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = doc;
        let mut roots = 0;
        while let Some(i) = rest.find('<') {
            let text = &rest[..i];
            if text.contains('>') || (text.contains('&') && !text.contains(';')) {
                return Err(format!("bad text {text:?}"));
            }
            let j = rest[i..].find('>').ok_or("unclosed tag")? + i;
            let tag = &rest[i + 1..j];
            if tag.matches('"').count() % 2 != 0 {
                return Err(format!("unbalanced quotes in <{tag}>"));
            }
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or("close without open")?;
                if open != name.trim() {
                    return Err(format!("</{name}> closes <{open}>"));
                }
            } else if !tag.ends_with('/') {
                let name = tag
                    .split_whitespace()
                    .next()
                    .ok_or("empty tag")?
                    .to_string();
                if stack.is_empty() {
                    roots += 1;
                }
                stack.push(name);
            } else if stack.is_empty() {
                roots += 1;
            }
            rest = &rest[j + 1..];
        }
        if !stack.is_empty() {
            return Err(format!("unclosed {stack:?}"));
        }
        if roots != 1 {
            return Err(format!("{roots} roots"));
        }
        Ok(())
    }

    #[test]
    fn plot_is_well_formed_with_several_series() {
        let mut a = LatencyHist::new();
        let mut b = LatencyHist::new();
        for v in 0..10_000u64 {
            a.record_us(100 + v % 300);
            b.record_us(200 + v % 3000);
        }
        let svg = render(
            "relay <rooms of 4> & \"friends\"",
            &[
                Series {
                    label: "roomcore".into(),
                    points: a.curve(),
                },
                Series {
                    label: "tokio-ws".into(),
                    points: b.curve(),
                },
            ],
        );
        well_formed(&svg).unwrap();
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("99.999%"));
        assert!(svg.contains("&lt;rooms of 4&gt; &amp; &quot;friends&quot;"));
        assert!(svg.contains(">roomcore</text>"));
    }

    #[test]
    fn empty_plot_is_well_formed() {
        let svg = render("nothing", &[]);
        well_formed(&svg).unwrap();
        let svg = render(
            "empty series",
            &[Series {
                label: "x".into(),
                points: vec![],
            }],
        );
        well_formed(&svg).unwrap();
    }

    #[test]
    fn checker_rejects_broken_xml() {
        assert!(well_formed("<svg><g></svg>").is_err());
        assert!(well_formed("<svg a=\"1></svg>").is_err());
        assert!(well_formed("<a/><b/>").is_err());
    }

    #[test]
    fn x_positions_are_log_scaled() {
        let d90 = x_of(90.0) - x_of(0.0);
        let d99 = x_of(99.0) - x_of(90.0);
        assert!((d90 - d99).abs() < 0.01);
        assert_eq!(x_of(100.0), x_of(99.999));
    }
}
