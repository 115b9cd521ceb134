//! The results: a Markdown report for people (and `BENCHMARKS.md`), JSON for scripts.

use std::fmt::Write as _;

use crate::load::HeldStreams;
use crate::proc::{Machine, Memory};
use crate::prom::{self, Histogram};
use crate::stats::{Percentiles, RunStats};

/// Targets on a 2-core machine (see `BENCHMARKS.md`).
const TARGET_ADDED_P99_MS: f64 = 1.0;
const TARGET_SATURATION_RATIO: f64 = 0.5;
const TARGET_STREAMS: usize = 10_000;
const TARGET_STREAMS_RSS_MIB: f64 = 300.0;

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn mib_opt(kib: Option<u64>) -> String {
    kib.map_or_else(|| "n/a".into(), |k| format!("{:.1} MiB", mib(k)))
}

fn ms(us: f64) -> String {
    format!("{:.3}", us / 1000.0)
}

fn per_stream(r: &HeldStreams) -> String {
    r.kib_per_stream()
        .map_or_else(|| "n/a".into(), |k| format!("{k:.1} KiB per stream"))
}

fn triple(p: &Percentiles) -> String {
    format!("{} / {} / {}", ms(p.p50), ms(p.p90), ms(p.p99))
}

/// One scenario run direct and through Switchyard.
#[derive(Clone, Debug)]
pub struct Pair {
    pub name: String,
    pub stream: bool,
    pub direct: RunStats,
    pub relay: RunStats,
    /// Switchyard's peak RSS during its run, KiB.
    pub peak_rss_kib: Option<u64>,
}

impl Pair {
    pub fn new(
        name: String,
        stream: bool,
        direct: RunStats,
        relay: RunStats,
        peak_rss_kib: Option<u64>,
    ) -> Pair {
        Pair {
            name,
            stream,
            direct,
            relay,
            peak_rss_kib,
        }
    }

    pub fn added(&self) -> Percentiles {
        self.relay.total.minus(&self.direct.total)
    }

    pub fn added_ttfb(&self) -> Percentiles {
        self.relay.ttfb.minus(&self.direct.ttfb)
    }

    pub fn ratio(&self) -> f64 {
        if self.direct.throughput > 0.0 {
            self.relay.throughput / self.direct.throughput
        } else {
            0.0
        }
    }

    /// A one-line progress summary.
    pub fn line(&self) -> String {
        let mut s = format!(
            "  added p50/p90/p99 {} ms, throughput {:.0} / {:.0} rps (ratio {:.2}), errors {} / {}",
            triple(&self.added()),
            self.relay.throughput,
            self.direct.throughput,
            self.ratio(),
            self.direct.errors,
            self.relay.errors,
        );
        if self.stream {
            let _ = write!(s, ", added TTFB {} ms", triple(&self.added_ttfb()));
        }
        s
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "scenario": self.name,
            "stream": self.stream,
            "direct": self.direct.json(),
            "switchyard": self.relay.json(),
            "added_latency": self.added().json(),
            "added_ttfb": self.added_ttfb().json(),
            "throughput_ratio": self.ratio(),
            "switchyard_peak_rss_kib": self.peak_rss_kib,
        })
    }
}

/// The open-streams scenario against one target.
#[derive(Clone, Debug)]
pub struct Held {
    pub target: &'static str,
    pub result: HeldStreams,
    pub peak_rss_kib: Option<u64>,
}

impl Held {
    pub fn line(&self) -> String {
        let r = &self.result;
        format!(
            "  {}: {} of {} open at once (all before any ended: {}), opened in {:.1} s, \
             completed {}, errors {}, RSS before {}, held {} ({}), peak {}",
            self.target,
            r.max_open,
            r.requested,
            if r.all_open_at_once { "yes" } else { "no" },
            r.open_time.as_secs_f64(),
            r.completed,
            r.errors,
            mib_opt(r.rss_before_kib),
            mib_opt(r.rss_held_kib),
            per_stream(r),
            mib_opt(self.peak_rss_kib),
        )
    }

    fn json(&self) -> serde_json::Value {
        let r = &self.result;
        serde_json::json!({
            "target": self.target,
            "requested": r.requested,
            "opened": r.opened,
            "max_open": r.max_open,
            "all_open_at_once": r.all_open_at_once,
            "open_time_s": r.open_time.as_secs_f64(),
            "completed": r.completed,
            "errors": r.errors,
            "rss_before_kib": r.rss_before_kib,
            "rss_held_kib": r.rss_held_kib,
            "kib_per_stream": r.kib_per_stream(),
            "peak_rss_kib": self.peak_rss_kib,
        })
    }
}

/// Switchyard's own overhead and TTFB histograms, per dialect.
#[derive(Clone, Debug, Default)]
pub struct SelfMetrics {
    pub overhead: Vec<(String, Histogram)>,
    pub ttfb: Vec<(String, Histogram)>,
}

pub struct Report {
    pub machine: Machine,
    pub settings: serde_json::Value,
    pub fd_limit: Option<(u64, u64)>,
    pub idle_rss_kib: Option<u64>,
    pub final_rss: Option<Memory>,
    pub pairs: Vec<Pair>,
    /// Index of the saturation scenario in `pairs`.
    pub saturation: Option<usize>,
    pub held: Vec<Held>,
    pub metrics: Option<SelfMetrics>,
    pub notes: Vec<String>,
    /// Lines of the memory scenarios (`--only memory`).
    pub memory: Vec<String>,
    pub started: String,
}

/// A target's verdict: the measured value and whether it is met (`None`: not measured).
struct Verdict {
    name: &'static str,
    value: String,
    met: Option<bool>,
}

impl Report {
    pub fn new(machine: Machine, settings: &serde_json::Value, fd: Option<(u64, u64)>) -> Report {
        let started = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Report {
            machine,
            settings: settings.clone(),
            fd_limit: fd,
            idle_rss_kib: None,
            final_rss: None,
            pairs: Vec::new(),
            saturation: None,
            held: Vec::new(),
            metrics: None,
            notes: Vec::new(),
            memory: Vec::new(),
            started,
        }
    }

    pub fn set_metrics(&mut self, text: &str) {
        self.metrics = Some(SelfMetrics {
            overhead: prom::histograms(text, prom::OVERHEAD).into_iter().collect(),
            ttfb: prom::histograms(text, prom::TTFB).into_iter().collect(),
        });
    }

    /// Peak RSS over the whole run: the largest per-scenario peak (and the final `VmHWM`).
    fn overall_peak_kib(&self) -> Option<u64> {
        self.pairs
            .iter()
            .filter_map(|p| p.peak_rss_kib)
            .chain(self.held.iter().filter_map(|h| h.peak_rss_kib))
            .chain(self.final_rss.map(|m| m.hwm_kib))
            .max()
    }

    fn verdicts(&self) -> Vec<Verdict> {
        let mut v = Vec::new();
        let at_2000 = self
            .pairs
            .iter()
            .find(|p| !p.stream && p.name == "messages, 2000 rps");
        v.push(Verdict {
            name: "added p99 latency ≤ 1 ms at 2,000 rps (non-streaming)",
            value: at_2000
                .map_or_else(|| "not run".into(), |p| format!("{} ms", ms(p.added().p99))),
            met: at_2000.map(|p| p.added().p99 / 1000.0 <= TARGET_ADDED_P99_MS),
        });
        let sat = self.saturation.and_then(|i| self.pairs.get(i));
        v.push(Verdict {
            name: "throughput at saturation ≥ 50 % of direct",
            value: sat.map_or_else(
                || "not run".into(),
                |p| {
                    format!(
                        "{:.0} % ({:.0} / {:.0} rps)",
                        p.ratio() * 100.0,
                        p.relay.throughput,
                        p.direct.throughput
                    )
                },
            ),
            met: sat.map(|p| p.ratio() >= TARGET_SATURATION_RATIO),
        });
        let held = self.held.iter().find(|h| h.target == "switchyard");
        v.push(Verdict {
            name: "10,000 concurrent open streams under 300 MiB RSS",
            value: held.map_or_else(
                || "not run".into(),
                |h| {
                    let r = &h.result;
                    let rss = r.rss_held_kib.or(h.peak_rss_kib).map_or(0.0, mib);
                    let mut s = format!(
                        "{} streams open at once, RSS {rss:.1} MiB while held (peak {})",
                        r.max_open,
                        mib_opt(h.peak_rss_kib)
                    );
                    if r.requested < TARGET_STREAMS && r.max_open > 0 {
                        let idle = r.rss_before_kib.or(self.idle_rss_kib).map_or(0.0, mib);
                        let per = (rss - idle) / r.max_open as f64;
                        let _ = write!(
                            s,
                            "; only {} fit the open-file limit, linear estimate for 10,000: \
                             {:.1} MiB",
                            r.requested,
                            idle + per * TARGET_STREAMS as f64
                        );
                    }
                    s
                },
            ),
            met: held.map(|h| {
                let r = &h.result;
                let rss = r.rss_held_kib.or(h.peak_rss_kib).map_or(f64::MAX, mib);
                r.all_open_at_once && r.requested >= TARGET_STREAMS && rss < TARGET_STREAMS_RSS_MIB
            }),
        });
        v.push(Verdict {
            name: "SSE decoder and usage tap ≥ 1 GB/s",
            value: "criterion: `cargo bench -p switchyard-protocol --bench sse`".into(),
            met: None,
        });
        v
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## Results ({})\n", self.started);
        let _ = writeln!(s, "Machine: {}.  ", self.machine.line());
        if let Some((soft, hard)) = self.fd_limit {
            let _ = writeln!(s, "Open-file limit: {soft} (hard {hard}).  ");
        }
        let _ = writeln!(s, "Settings: `{}`.  ", self.settings);
        let _ = writeln!(
            s,
            "Switchyard RSS idle after start: {}; peak over the run: {}.\n",
            mib_opt(self.idle_rss_kib),
            mib_opt(self.overall_peak_kib())
        );

        let _ = writeln!(s, "### Targets\n");
        let _ = writeln!(s, "| target | measured | verdict |\n|---|---|---|");
        for v in self.verdicts() {
            let verdict = match v.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "see below",
            };
            let _ = writeln!(s, "| {} | {} | {} |", v.name, v.value, verdict);
        }

        let _ = writeln!(
            s,
            "\n### Latency to the last byte (ms) and throughput\n\n\
             | scenario | direct p50 / p90 / p99 | Switchyard p50 / p90 / p99 | added p50 / p90 / p99 \
             | direct rps | Switchyard rps | ratio | errors direct / Switchyard | Switchyard peak RSS |\n\
             |---|---|---|---|---|---|---|---|---|"
        );
        for p in &self.pairs {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.0} | {:.0} | {:.2} | {} / {} | {} |",
                p.name,
                triple(&p.direct.total),
                triple(&p.relay.total),
                triple(&p.added()),
                p.direct.throughput,
                p.relay.throughput,
                p.ratio(),
                p.direct.errors,
                p.relay.errors,
                mib_opt(p.peak_rss_kib),
            );
        }

        if self.pairs.iter().any(|p| p.stream) {
            let _ = writeln!(
                s,
                "\n### Streams: time to first byte (ms)\n\n\
                 | scenario | direct p50 / p90 / p99 | Switchyard p50 / p90 / p99 | added p50 / p90 / p99 |\n\
                 |---|---|---|---|"
            );
            for p in self.pairs.iter().filter(|p| p.stream) {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    p.name,
                    triple(&p.direct.ttfb),
                    triple(&p.relay.ttfb),
                    triple(&p.added_ttfb()),
                );
            }
        }

        if !self.held.is_empty() {
            let _ = writeln!(
                s,
                "\n### Concurrent open streams\n\n\
                 | target | streams | open at once | all open before any ended | time to open all \
                 | completed | errors | RSS before | RSS while held | growth per stream | peak RSS |\n\
                 |---|---|---|---|---|---|---|---|---|---|---|"
            );
            for h in &self.held {
                let r = &h.result;
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {:.1} s | {} | {} | {} | {} | {} | {} |",
                    h.target,
                    r.requested,
                    r.max_open,
                    if r.all_open_at_once { "yes" } else { "no" },
                    r.open_time.as_secs_f64(),
                    r.completed,
                    r.errors,
                    mib_opt(r.rss_before_kib),
                    mib_opt(r.rss_held_kib),
                    per_stream(r),
                    mib_opt(h.peak_rss_kib),
                );
            }
        }

        if let Some(m) = &self.metrics {
            let _ = writeln!(
                s,
                "\n### Switchyard's own `/metrics` after the run\n\n\
                 | histogram | dialect | count | mean | p50 ≤ | p99 ≤ |\n|---|---|---|---|---|---|"
            );
            let rows = m
                .overhead
                .iter()
                .map(|(d, h)| (prom::OVERHEAD, d, h))
                .chain(m.ttfb.iter().map(|(d, h)| (prom::TTFB, d, h)));
            let mut any = false;
            for (name, dialect, h) in rows {
                any = true;
                let _ = writeln!(
                    s,
                    "| `{name}` | {dialect} | {:.0} | {} ms | {} ms | {} ms |",
                    h.count,
                    ms(h.mean() * 1e6),
                    ms(h.quantile_bound(0.5) * 1e6),
                    ms(h.quantile_bound(0.99) * 1e6),
                );
            }
            if !any {
                let _ = writeln!(s, "| (none found) | | | | | |");
            }
        }

        if !self.memory.is_empty() {
            let _ = writeln!(s, "\n### Memory\n");
            for line in &self.memory {
                let _ = writeln!(s, "- {line}");
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s, "\n### Notes\n");
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }

    pub fn json(&self) -> serde_json::Value {
        let hist = |v: &[(String, Histogram)]| {
            v.iter()
                .map(|(d, h)| {
                    serde_json::json!({
                        "dialect": d, "count": h.count, "mean_s": h.mean(),
                        "p50_bound_s": h.quantile_bound(0.5), "p99_bound_s": h.quantile_bound(0.99),
                    })
                })
                .collect::<Vec<_>>()
        };
        serde_json::json!({
            "started": self.started,
            "machine": self.machine.json(),
            "settings": self.settings,
            "open_file_limit": self.fd_limit.map(|(s, h)| serde_json::json!({"soft": s, "hard": h})),
            "switchyard_idle_rss_kib": self.idle_rss_kib,
            "switchyard_peak_rss_kib": self.overall_peak_kib(),
            "scenarios": self.pairs.iter().map(Pair::json).collect::<Vec<_>>(),
            "open_streams": self.held.iter().map(Held::json).collect::<Vec<_>>(),
            "targets": self.verdicts().iter().map(|v| serde_json::json!({
                "target": v.name, "measured": v.value, "met": v.met,
            })).collect::<Vec<_>>(),
            "switchyard_metrics": self.metrics.as_ref().map(|m| serde_json::json!({
                "overhead": hist(&m.overhead),
                "ttfb": hist(&m.ttfb),
            })),
            "notes": self.notes,
            "memory": self.memory,
        })
    }
}
