//! The README's pictures: every screen of the wizard on the real pgvector plan, drawn by the
//! wizard's own `views::draw` into ratatui's TestBackend from states built by feeding the
//! reducer (see [`super::pgvector`]), then written as SVG from the buffer's cells.
//!
//! `cargo run --example render_assets` writes them into assets/; tests/tui_assets.rs renders
//! them again and fails when a committed picture differs from what the wizard draws now.

use std::path::Path;

use cutover::engine::EventKind;
use cutover::tui::State;
use cutover::tui::containers::from_outputs;
use cutover::tui::keymap::Cmd;
use cutover::tui::msg::Msg;
use cutover::tui::state::Screen;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::pgvector::{checklist, discovery, done, rolled_back_from_result, running};
use super::{at, ev, feed};

/// The command that refreshes assets/, named by the freshness test when they differ.
pub const REFRESH: &str = "cargo run --example render_assets";

/// One picture: its file name, what it shows (README's caption), the state and the size.
pub struct Picture {
    pub file: &'static str,
    pub caption: &'static str,
    pub state: State,
    pub size: (u16, u16),
}

fn on(mut s: State, msgs: impl IntoIterator<Item = Msg>) -> State {
    feed(&mut s, msgs);
    s
}

/// The checklist with every item signed: ready to start.
fn all_signed() -> State {
    on(
        checklist(),
        [
            ev(
                20,
                EventKind::SignedOff {
                    step: "window-agreed".into(),
                    title: String::new(),
                    by: "Ann Example".into(),
                },
            ),
            ev(20, EventKind::AwaitingStart { unsigned: vec![] }),
            Msg::Tick(at(21)),
        ],
    )
}

/// `h` on the checklist, the side run under way.
fn rehearsing() -> State {
    use cutover::tui::rehearse::Report;
    let mut s = checklist();
    s.rehearses = true;
    let lines = [
        "copying privexbot (1052 MB) from privexbot-postgres with pg_basebackup",
        "copied 1089 MB in 9.8 s; starting the copy on postgres:16-alpine",
        "the upgrade, on the copy",
        "  Stop the writers (0.3 s)",
        "  Back up the database (0.8 s)",
        "  Recreate postgres on the new image (2.4 s)",
    ];
    on(
        s,
        std::iter::once(Msg::Cmd(Cmd::Rehearse))
            .chain(lines.map(|l| Msg::Rehearsal(Report::Said(format!("rehearsal: {l}"))))),
    )
}

fn overview() -> State {
    let mut s = checklist();
    s.outputs = discovery();
    s.containers = from_outputs(&s.outputs).unwrap();
    s.screen = Screen::Overview;
    s
}

/// Every screen and popup, in the order an operator meets them.
pub fn pictures() -> Vec<Picture> {
    const BIG: (u16, u16) = (120, 40);
    const SMALL: (u16, u16) = (80, 24);
    let mut name_prompt = checklist();
    name_prompt.operator = None;
    let typed = "Ann Example".chars().map(Msg::Char);
    let name_prompt = on(
        name_prompt,
        std::iter::once(Msg::Cmd(Cmd::SignOff)).chain(typed),
    );
    let search = on(
        running(),
        std::iter::once(Msg::Cmd(Cmd::Search)).chain("checkpoint".chars().map(Msg::Char)),
    );
    vec![
        Picture {
            file: "1-overview.svg",
            caption: "Overview: the discovered stack, the pre-flight's figures, what will change",
            state: overview(),
            size: BIG,
        },
        Picture {
            file: "2-checklist.svg",
            caption: "Checklist: the pre-flight checks with their evidence, the sign-offs",
            state: checklist(),
            size: BIG,
        },
        Picture {
            file: "2-sign-off-name.svg",
            caption: "Signing off: the operator's name is asked once",
            state: name_prompt,
            size: BIG,
        },
        Picture {
            file: "2-rehearsal.svg",
            caption: "h on the checklist: a rehearsal on a copy, its progress, Start waiting",
            state: rehearsing(),
            size: BIG,
        },
        Picture {
            file: "2-start-confirm.svg",
            caption: "Start: every step that will run, in order",
            state: on(all_signed(), [Msg::Cmd(Cmd::Start)]),
            size: BIG,
        },
        Picture {
            file: "3-run.svg",
            caption: "Run: the steps, the backup's progress, the followed container's log",
            state: running(),
            size: BIG,
        },
        Picture {
            file: "3-run-search.svg",
            caption: "Run: searching the container log",
            state: search,
            size: BIG,
        },
        Picture {
            file: "3-run-rollback-confirm.svg",
            caption: "Rollback during the run: what will be undone, newest first",
            state: on(running(), [Msg::Cmd(Cmd::Rollback)]),
            size: BIG,
        },
        Picture {
            file: "3-help.svg",
            caption: "Help: every key (80×24, scrolls)",
            state: on(running(), [Msg::Cmd(Cmd::Help)]),
            size: SMALL,
        },
        Picture {
            file: "4-result-done.svg",
            caption: "Result: the measured figures of a run that ended done",
            state: done(),
            size: BIG,
        },
        Picture {
            file: "4-result-finalize-confirm.svg",
            caption: "Finalize: remove the old postgres container",
            state: on(done(), [Msg::Cmd(Cmd::Finalize)]),
            size: BIG,
        },
        Picture {
            file: "4-result-rollback-confirm.svg",
            caption: "Roll the finished upgrade back",
            state: on(done(), [Msg::Cmd(Cmd::Rollback)]),
            size: BIG,
        },
        Picture {
            file: "4-result-rolled-back.svg",
            caption: "Result after that rollback: path, resume proof, wall time, rows kept, check",
            state: rolled_back_from_result(),
            size: BIG,
        },
        Picture {
            file: "4-result-rolled-back-80x24.svg",
            caption: "The same at 80×24",
            state: rolled_back_from_result(),
            size: SMALL,
        },
        Picture {
            file: "5-too-small.svg",
            caption: "A terminal below 80×24",
            state: running(),
            size: (64, 16),
        },
    ]
}

/// The picture as the wizard draws it.
pub fn svg(p: &Picture) -> String {
    let mut term = Terminal::new(TestBackend::new(p.size.0, p.size.1)).unwrap();
    term.draw(|f| cutover::tui::views::draw(&p.state, f))
        .unwrap();
    super::svg::to_svg(term.backend().buffer())
}

/// Writes every picture into `dir`; returns the file names written.
pub fn write_all(dir: &Path) -> Vec<&'static str> {
    std::fs::create_dir_all(dir).unwrap();
    pictures()
        .iter()
        .map(|p| {
            std::fs::write(dir.join(p.file), svg(p)).unwrap();
            p.file
        })
        .collect()
}
