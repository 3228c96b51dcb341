//! Figures of the side-by-side bench: samples per series, min / median / max, the ratio of a
//! cutover median to its baseline median (both from the same bench run), the goal and whether
//! it was met, printed as a table and written as JSON.
//!
//! Invariant: a ratio is only ever computed from two series measured in the same process run,
//! interleaved, so drift (page cache, other load on the machine) hits both sides.

use serde::Serialize;

/// Which way a figure is better, and the goal from issue 7.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Goal {
    /// cutover median / baseline median must be at most this (downtime, restore time).
    RatioAtMost(f64),
    /// cutover median / baseline median must be at least this (throughput).
    RatioAtLeast(f64),
    /// Every cutover sample must be below this, in the series' unit.
    MaxBelow(f64),
    /// Every cutover sample must be exactly zero (rows lost).
    AllZero,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub samples: Vec<f64>,
}

impl Summary {
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Some(Summary {
            n,
            min: s[0],
            median,
            max: s[n - 1],
            samples: samples.to_vec(),
        })
    }
}

/// One line of the table: a cutover figure, optionally with its baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub figure: String,
    pub unit: String,
    pub cutover: Option<Summary>,
    pub baseline_name: Option<String>,
    pub baseline: Option<Summary>,
    pub ratio: Option<f64>,
    pub goal: Option<Goal>,
    pub goal_met: Option<bool>,
    /// How it was measured, or why a figure is missing.
    pub note: String,
}

impl Row {
    pub fn new(figure: &str, unit: &str, cutover: &[f64]) -> Row {
        Row {
            figure: figure.into(),
            unit: unit.into(),
            cutover: Summary::of(cutover),
            baseline_name: None,
            baseline: None,
            ratio: None,
            goal: None,
            goal_met: None,
            note: String::new(),
        }
    }

    pub fn against(mut self, name: &str, baseline: &[f64]) -> Row {
        self.baseline_name = Some(name.into());
        self.baseline = Summary::of(baseline);
        if let (Some(c), Some(b)) = (&self.cutover, &self.baseline)
            && b.median != 0.0
        {
            self.ratio = Some(c.median / b.median);
        }
        self
    }

    pub fn goal(mut self, goal: Goal) -> Row {
        self.goal = Some(goal);
        self.goal_met = match (goal, &self.cutover, self.ratio) {
            (Goal::RatioAtMost(g), _, Some(r)) => Some(r <= g),
            (Goal::RatioAtLeast(g), _, Some(r)) => Some(r >= g),
            (Goal::MaxBelow(g), Some(c), _) => Some(c.max < g),
            (Goal::AllZero, Some(c), _) => Some(c.samples.iter().all(|v| *v == 0.0)),
            _ => None,
        };
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn triple(s: &Option<Summary>) -> String {
    match s {
        Some(s) => format!("{} / {} / {}", fmt(s.min), fmt(s.median), fmt(s.max)),
        None => "—".into(),
    }
}

fn goal_text(r: &Row) -> String {
    let g = match r.goal {
        None => return String::new(),
        Some(Goal::RatioAtMost(g)) => format!("≤ {g}×"),
        Some(Goal::RatioAtLeast(g)) => format!("≥ {g}×"),
        Some(Goal::MaxBelow(g)) => format!("< {} {}", fmt(g), r.unit),
        Some(Goal::AllZero) => "0".into(),
    };
    match r.goal_met {
        Some(true) => format!("{g} met"),
        Some(false) => format!("{g} MISSED"),
        None => format!("{g} n/a"),
    }
}

/// The rows as a Markdown table (also readable on a terminal): min / median / max per side.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| figure | unit | cutover min / median / max | baseline | baseline min / median / max | ratio | goal |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.figure,
            r.unit,
            triple(&r.cutover),
            r.baseline_name.as_deref().unwrap_or("—"),
            triple(&r.baseline),
            r.ratio.map_or("—".into(), |x| format!("{x:.2}×")),
            goal_text(r),
        ));
    }
    out
}
