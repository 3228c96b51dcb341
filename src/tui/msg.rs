//! What flows into the reducer (`Msg`) and what comes out of it (`Effect`).
//!
//! Effects are the only way the wizard acts on the world; the app loop executes them. A view
//! or the reducer never sends a command or touches a stream itself.

use chrono::{DateTime, Utc};

use super::containers::LogEntry;
use super::keymap::Cmd;
use crate::engine::recovery::RunState;
use crate::engine::{Command, Event};
use crate::report::Report;
use crate::upgrade::rollback::new_data::NewData;

#[derive(Debug, Clone)]
pub enum Msg {
    /// An engine event, in order.
    Engine(Event),
    /// A key, already translated through the keymap.
    Cmd(Cmd),
    /// A printable character while a text field is open.
    Char(char),
    /// A left click at a cell.
    Click {
        col: u16,
        row: u16,
    },
    Resize {
        width: u16,
        height: u16,
    },
    /// The clock moved (spinner tick, or before handling a batch).
    Tick(DateTime<Utc>),
    /// The journal's state, re-read after a step ended (outputs, sign-offs).
    Journal(Box<RunState>),
    /// The report, built once the run has stopped.
    Report(Box<Report>),
    ContainerLog {
        container: String,
        entry: LogEntry,
    },
    ContainerLogEnded {
        container: String,
        why: String,
    },
    /// What `finalize` said, or why it failed.
    Finalized(Result<String, String>),
    /// The engine refused to roll back the ended run (or could not start).
    AfterRunRefused(String),
    /// A line or the end of the rehearsal started from the checklist (`tui::rehearse`).
    Rehearsal(super::rehearse::Report),
    /// The rows a rollback would drop, counted before asking (`tui::new_data`); `finished`:
    /// for the ended run's rollback, else for the open run's.
    NewDataCounted {
        finished: bool,
        counted: Result<Option<NewData>, String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a command to the runner.
    Send(Command),
    /// Follow this container's logs (cancelling and joining the current follower), or none.
    Follow(Option<String>),
    /// Remove the old postgres container of the ended run (`cutover finalize`).
    Finalize,
    /// Roll back the run that ended done, on a new runner over the same journal.
    RollbackFinished,
    /// Count the rows a rollback would drop, then ask (`tui::new_data`).
    CountNewData { finished: bool },
    /// Record the operator's consent to drop the new version's rows, then roll back (the
    /// ended run's rollback when `finished`, else the open run's).
    DiscardNewData { finished: bool },
    /// Start a rehearsal on a copy (`tui::rehearse`), on a thread of its own.
    Rehearse,
    /// Leave the wizard. Only produced once the run has stopped.
    Quit,
}
