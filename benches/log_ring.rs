//! Log pane ingest (criterion): how many container log lines per second the wizard's reducer
//! takes in, and proof that the memory they hold stays bounded.
//!
//! The measured path is the real one: `update(&mut State, Msg::ContainerLog { .. })`, which is
//! what the app loop calls for every line the follower task sends, into a pane whose ring is at
//! its default capacity and already full (the steady state during a long run: every push also
//! evicts the oldest line and counts it as dropped).
//!
//! Memory: a counting global allocator reports the heap held by the pane after 10 000, 100 000
//! and 1 000 000 lines; the figures are printed and written to
//! `target/bench-results-log-ring.json`, and the bench fails if the heap keeps growing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cutover::tui::State;
use cutover::tui::containers::LogEntry;
use cutover::tui::msg::Msg;
use cutover::tui::ring::DEFAULT_CAPACITY;
use cutover::tui::update::update;

/// Counts live heap bytes so the pane's footprint can be read without an external profiler.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const CONTAINER: &str = "privexbot-postgres";

/// A postgres-like log line of realistic length (about 90 bytes).
fn line(i: u64) -> Msg {
    Msg::ContainerLog {
        container: CONTAINER.into(),
        entry: LogEntry {
            at: Some(
                Utc.timestamp_opt(1_790_000_000 + (i / 1000) as i64, 0)
                    .unwrap(),
            ),
            stderr: i.is_multiple_of(7),
            note: false,
            text: format!(
                "2026-11-25 02:00:00.000 UTC [{i}] LOG:  checkpoint complete: wrote {} buffers",
                i % 4096
            ),
        },
    }
}

fn fresh_state() -> State {
    let plan = cutover::plans::scripted::plan(
        "/srv/privexbot/compose.yaml".into(),
        "/srv/privexbot/scripted-world".into(),
        Default::default(),
    )
    .expect("scripted plan");
    State::new(&plan, "privexbot", Utc::now())
}

/// Heap held by a pane after `n` lines, measured from an empty state.
fn heap_after(n: u64) -> usize {
    let mut s = fresh_state();
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..n {
        update(&mut s, line(i));
    }
    let held = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    black_box(&s);
    held
}

fn memory_bound() {
    let sizes = [10_000u64, 100_000, 1_000_000];
    let held: Vec<usize> = sizes.iter().map(|&n| heap_after(n)).collect();
    for (n, b) in sizes.iter().zip(&held) {
        println!(
            "log pane heap after {n:>9} lines: {:>6.2} MiB (ring capacity {DEFAULT_CAPACITY})",
            *b as f64 / (1 << 20) as f64
        );
    }
    let json = serde_json::json!({
        "ring_capacity": DEFAULT_CAPACITY,
        "heap_bytes_after_lines": sizes.iter().zip(&held)
            .map(|(n, b)| serde_json::json!({"lines": n, "heap_bytes": b}))
            .collect::<Vec<_>>(),
    });
    let out =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results-log-ring.json");
    let _ = std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap());
    // Bounded: 100x the lines may not cost more than the first full ring plus 10% slack.
    assert!(
        held[2] <= held[0] + held[0] / 10,
        "the log pane's heap grows with the lines ingested: {held:?}"
    );
}

fn ingest(c: &mut Criterion) {
    memory_bound();
    let mut g = c.benchmark_group("log_ring");
    const BATCH: u64 = 10_000;
    g.throughput(Throughput::Elements(BATCH));
    // Steady state: the ring is already full, so every push evicts one line.
    let mut s = fresh_state();
    for i in 0..DEFAULT_CAPACITY as u64 {
        update(&mut s, line(i));
    }
    let msgs: Vec<Msg> = (0..BATCH).map(line).collect();
    g.bench_function("ingest_full_ring", |b| {
        b.iter_batched(
            || msgs.clone(),
            |batch| {
                for m in batch {
                    black_box(update(&mut s, m));
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
