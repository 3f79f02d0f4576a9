//! Results of `cargo xtask bench`: every round's figures, the table printed
//! at the end, `--json FILE` and `--svg FILE`.
//!
//! Theory of operation: the system bench collects one [`Record`] per
//! (round, side, test). The table gives each round with its ours/kernel
//! ratio, then the medians (the ratio there is the median of the rounds'
//! ratios, steadier than a ratio of medians on a shared machine). The JSON
//! file holds every record plus the run's conditions; the SVG draws, per
//! test, the kernel's median and ours side by side as bars, each round as a
//! dot on its bar, with plotters' SVG backend.

use crate::util::Result;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// One kind of measurement.
pub struct Test {
    /// Stable identifier in the JSON (`tcp_gbps`, `ping_p50_ms`, …).
    pub key: &'static str,
    pub title: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
}

/// The two overlays measured.
pub const SIDES: [&str; 2] = ["kernel", "ours"];

/// One figure of one round.
pub struct Record {
    pub round: u32,
    /// Index into [`SIDES`].
    pub side: usize,
    /// Index into the report's tests.
    pub test: usize,
    pub value: f64,
    /// fkoverlayd's CPU use during the test, in cores (ours only).
    pub fk_cores: Option<f64>,
}

/// A whole run.
pub struct Report {
    pub tests: Vec<Test>,
    pub records: Vec<Record>,
    pub rounds: u32,
    pub load_before: String,
    pub load_after: String,
    pub started: u64,
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl Report {
    fn values(&self, test: usize, side: usize) -> Vec<f64> {
        self.records
            .iter()
            .filter(|r| r.test == test && r.side == side)
            .map(|r| r.value)
            .collect()
    }

    fn find(&self, test: usize, side: usize, round: u32) -> Option<&Record> {
        self.records
            .iter()
            .find(|r| r.test == test && r.side == side && r.round == round)
    }

    /// Per test: (kernel median, ours median, median of the rounds' ours/kernel ratios).
    fn medians(&self, test: usize) -> (f64, f64, f64) {
        let mut ratios: Vec<f64> = (1..=self.rounds)
            .filter_map(|r| {
                let k = self.find(test, 0, r)?;
                let o = self.find(test, 1, r)?;
                Some(o.value / k.value)
            })
            .collect();
        (
            median(&mut self.values(test, 0)),
            median(&mut self.values(test, 1)),
            median(&mut ratios),
        )
    }

    /// The table on stdout.
    pub fn print(&self) {
        println!(
            "\nsystem bench ({} rounds, alternating; load average before {}, after {})",
            self.rounds, self.load_before, self.load_after
        );
        println!(
            "{:<44} {:>12} {:>12} {:>8} {:>10}",
            "test", "kernel vxlan", "fkoverlayd", "ours/k", "fk cores"
        );
        for (t, test) in self.tests.iter().enumerate() {
            let name = format!("{} ({})", test.title, test.unit);
            for r in 1..=self.rounds {
                let (Some(k), Some(o)) = (self.find(t, 0, r), self.find(t, 1, r)) else {
                    continue;
                };
                println!(
                    "{:<44} {:>12.3} {:>12.3} {:>8.3} {:>10}",
                    format!("{name} #{r}"),
                    k.value,
                    o.value,
                    o.value / k.value,
                    o.fk_cores.map_or(String::new(), |c| format!("{c:.2}"))
                );
            }
            let (k, o, ratio) = self.medians(t);
            let mut c: Vec<f64> = self
                .records
                .iter()
                .filter(|r| r.test == t && r.side == 1)
                .filter_map(|r| r.fk_cores)
                .collect();
            let c = median(&mut c);
            println!(
                "{:<44} {:>12.3} {:>12.3} {:>8.3} {:>10}",
                format!("{name} median"),
                k,
                o,
                ratio,
                if c.is_nan() {
                    String::new()
                } else {
                    format!("{c:.2}")
                }
            );
        }
    }

    /// Every round as JSON.
    pub fn json(&self) -> serde_json::Value {
        let tests: Vec<serde_json::Value> = self
            .tests
            .iter()
            .enumerate()
            .map(|(t, x)| {
                let (k, o, r) = self.medians(t);
                serde_json::json!({
                    "key": x.key, "title": x.title, "unit": x.unit,
                    "higher_is_better": x.higher_is_better,
                    "median_kernel": finite(k), "median_ours": finite(o),
                    "median_ratio_ours_over_kernel": finite(r),
                })
            })
            .collect();
        let rounds: Vec<serde_json::Value> = self
            .records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "round": r.round, "side": SIDES[r.side],
                    "test": self.tests[r.test].key, "unit": self.tests[r.test].unit,
                    "value": finite(r.value), "fkoverlayd_cores": r.fk_cores.and_then(finite),
                })
            })
            .collect();
        serde_json::json!({
            "started_unix": self.started,
            "rounds_run": self.rounds,
            "load_average_before": self.load_before,
            "load_average_after": self.load_after,
            "tests": tests,
            "rounds": rounds,
        })
    }

    pub fn write_json(&self, path: &str) -> Result {
        let s = serde_json::to_string_pretty(&self.json()).map_err(|e| e.to_string())?;
        std::fs::write(path, s + "\n").map_err(|e| format!("--json {path}: {e}"))
    }

    /// Ours beside the kernel, one panel per test.
    pub fn write_svg(&self, path: &str) -> Result {
        self.draw(path).map_err(|e| format!("--svg {path}: {e}"))
    }

    fn draw(&self, path: &str) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let n = self.tests.len().max(1);
        let root = SVGBackend::new(path, (260 * n as u32, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(
            &format!(
                "overlay bench: Linux kernel vxlan (grey) vs fkoverlayd (blue), medians of {} round(s), dots = rounds; load average {}",
                self.rounds, self.load_before
            ),
            ("sans-serif", 16),
        )?;
        let colors = [RGBColor(120, 120, 120), RGBColor(31, 119, 180)];
        for (t, panel) in root.split_evenly((1, n)).iter().enumerate() {
            let Some(test) = self.tests.get(t) else {
                continue;
            };
            let (k, o, ratio) = self.medians(t);
            let top = self
                .records
                .iter()
                .filter(|r| r.test == t && r.value.is_finite())
                .map(|r| r.value)
                .fold(0.0f64, f64::max)
                .max(1e-9)
                * 1.2;
            let mut chart = ChartBuilder::on(panel)
                .caption(&test.title, ("sans-serif", 13))
                .margin(8)
                .x_label_area_size(40)
                .y_label_area_size(48)
                .build_cartesian_2d((0u32..2u32).into_segmented(), 0f64..top)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .y_desc(test.unit)
                .x_desc(format!(
                    "ours/kernel {ratio:.2}, {} is better",
                    if test.higher_is_better {
                        "higher"
                    } else {
                        "lower"
                    }
                ))
                .x_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(0) => "kernel".to_string(),
                    SegmentValue::CenterOf(1) => "ours".to_string(),
                    _ => String::new(),
                })
                .draw()?;
            for (i, m) in [k, o].into_iter().enumerate() {
                if !m.is_finite() {
                    continue;
                }
                let i = i as u32;
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), m),
                    ],
                    colors[i as usize].filled(),
                );
                bar.set_margin(0, 0, 12, 12);
                chart.draw_series(std::iter::once(bar))?;
                chart.draw_series(std::iter::once(Text::new(
                    format!("{m:.3}"),
                    (SegmentValue::Exact(i), m + top * 0.05),
                    ("sans-serif", 11),
                )))?;
                chart.draw_series(
                    self.values(t, i as usize)
                        .into_iter()
                        .filter(|v| v.is_finite())
                        .map(|v| Circle::new((SegmentValue::CenterOf(i), v), 3, BLACK.filled())),
                )?;
            }
        }
        root.present()?;
        Ok(())
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut records = Vec::new();
        for round in 1..=3 {
            for side in 0..2 {
                records.push(Record {
                    round,
                    side,
                    test: 0,
                    value: f64::from(round) * (side as f64 + 1.0),
                    fk_cores: (side == 1).then_some(0.5),
                });
            }
        }
        Report {
            tests: vec![Test {
                key: "tcp_gbps",
                title: "TCP".into(),
                unit: "Gbit/s",
                higher_is_better: true,
            }],
            records,
            rounds: 3,
            load_before: "1.0".into(),
            load_after: "2.0".into(),
            started: 0,
        }
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn json_has_every_round_and_the_medians() {
        let j = sample().json();
        assert_eq!(j["rounds"].as_array().unwrap().len(), 6);
        assert_eq!(j["rounds"][1]["side"], "ours");
        assert_eq!(j["rounds"][1]["value"], 2.0);
        assert_eq!(j["tests"][0]["median_kernel"], 2.0);
        assert_eq!(j["tests"][0]["median_ours"], 4.0);
        assert_eq!(j["tests"][0]["median_ratio_ours_over_kernel"], 2.0);
    }

    #[test]
    fn svg_is_written() {
        let p = std::env::temp_dir().join(format!("xtask-bench-{}.svg", std::process::id()));
        let p = p.display().to_string();
        sample().write_svg(&p).unwrap();
        let s = std::fs::read_to_string(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        assert!(s.starts_with("<svg"), "{}", &s[..s.len().min(80)]);
        assert!(s.contains("kernel") && s.contains("ours") && s.contains("<rect"));
    }
}
