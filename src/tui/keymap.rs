//! The one keymap: every key the wizard understands, what it means (`Cmd`), where it applies
//! and how it is described. The key-hint bar and the help overlay are both generated from
//! [`BINDINGS`], so neither can disagree with what a key really does.
//!
//! Invariant: within one scope a key maps to at most one command (checked by a test).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The wizard's input vocabulary. Views and the reducer see these, never raw keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    NextScreen,
    PrevScreen,
    GoScreen(u8),
    Up,
    Down,
    SignOff,
    Start,
    Pause,
    Rollback,
    Quit,
    /// Remove the old postgres container after a run that ended done.
    Finalize,
    /// Rehearse the upgrade on a copy (`cutover rehearse`), from the checklist.
    Rehearse,
    /// Ctrl-C: like `Quit`, but a second one while the question is open stops the step now.
    Interrupt,
    Help,
    NextContainer,
    PrevContainer,
    ToggleFollow,
    ToggleTimestamps,
    Search,
    SearchNext,
    ScrollUp,
    ScrollDown,
    Top,
    Bottom,
    /// Answer yes / submit the text being typed.
    Accept,
    /// Answer no / close the popup.
    Dismiss,
    Backspace,
}

/// Which part of the wizard is listening. Popups take all keys while open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Any screen, no popup open.
    Global,
    Checklist,
    Run,
    Result,
    /// A yes/no question.
    Confirm,
    /// A text field (operator name, search): printable keys are text.
    Text,
    /// The help overlay.
    Help,
}

#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
    pub label: &'static str,
}

const fn ch(c: char, label: &'static str) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::NONE,
        label,
    }
}

const fn code(code: KeyCode, label: &'static str) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
        label,
    }
}

const CTRL_C: Key = Key {
    code: KeyCode::Char('c'),
    mods: KeyModifiers::CONTROL,
    label: "ctrl-c",
};

pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [Key],
    pub cmd: Cmd,
    /// Long description, for the help overlay.
    pub help: &'static str,
    /// Short word for the hint bar; `None` keeps it out of the bar (still in help).
    pub hint: Option<&'static str>,
}

const fn bind(
    scope: Scope,
    keys: &'static [Key],
    cmd: Cmd,
    help: &'static str,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        scope,
        keys,
        cmd,
        help,
        hint,
    }
}

use Scope::*;

#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    // Screen-specific bindings come first so the hint bar shows them first.
    bind(Checklist, &[ch(' ', "space"), ch('s', "s")], Cmd::SignOff, "sign off the selected item", Some("sign off")),
    bind(Checklist, &[ch('h', "h")], Cmd::Rehearse, "rehearse on a copy of the database (cutover rehearse)", Some("rehearse")),
    bind(Checklist, &[ch('S', "S")], Cmd::Start, "start the upgrade (every item green or signed)", Some("start")),
    bind(Checklist, &[ch('k', "k"), code(KeyCode::Up, "up")], Cmd::Up, "previous item", None),
    bind(Checklist, &[ch('j', "j"), code(KeyCode::Down, "down")], Cmd::Down, "next item", None),
    bind(Run, &[ch('c', "c")], Cmd::NextContainer, "follow the next container's logs", Some("container")),
    bind(Run, &[ch('C', "C")], Cmd::PrevContainer, "follow the previous container's logs", None),
    bind(Run, &[ch('f', "f")], Cmd::ToggleFollow, "follow new log lines / pause the log view", Some("follow")),
    bind(Run, &[ch('/', "/")], Cmd::Search, "search the log pane", Some("search")),
    bind(Run, &[ch('n', "n")], Cmd::SearchNext, "next (older) match", None),
    bind(Run, &[ch('t', "t")], Cmd::ToggleTimestamps, "show or hide timestamps", None),
    bind(Run, &[code(KeyCode::PageUp, "pgup"), ch('k', "k"), code(KeyCode::Up, "up")], Cmd::ScrollUp, "scroll the log pane back", None),
    bind(Run, &[code(KeyCode::PageDown, "pgdn"), ch('j', "j"), code(KeyCode::Down, "down")], Cmd::ScrollDown, "scroll the log pane forward", None),
    bind(Run, &[code(KeyCode::Home, "home"), ch('g', "g")], Cmd::Top, "oldest kept log line", None),
    bind(Run, &[code(KeyCode::End, "end"), ch('G', "G")], Cmd::Bottom, "newest log line, following again", None),
    bind(Run, &[ch('p', "p")], Cmd::Pause, "pause after the current step; again: continue", Some("pause")),
    bind(Result, &[ch('F', "F")], Cmd::Finalize, "finalize: remove the old postgres container (asks first)", Some("finalize")),
    bind(Result, &[code(KeyCode::Enter, "enter")], Cmd::Quit, "leave the wizard", None),
    bind(Global, &[ch('R', "R")], Cmd::Rollback, "roll back (asks first, says what will be undone)", Some("rollback")),
    bind(Global, &[code(KeyCode::Tab, "tab")], Cmd::NextScreen, "next screen", Some("screen")),
    bind(Global, &[code(KeyCode::BackTab, "shift-tab")], Cmd::PrevScreen, "previous screen", None),
    bind(Global, &[ch('1', "1")], Cmd::GoScreen(0), "overview", None),
    bind(Global, &[ch('2', "2")], Cmd::GoScreen(1), "checklist", None),
    bind(Global, &[ch('3', "3")], Cmd::GoScreen(2), "run", None),
    bind(Global, &[ch('4', "4")], Cmd::GoScreen(3), "result", None),
    bind(Global, &[ch('?', "?")], Cmd::Help, "this help", Some("help")),
    bind(Global, &[ch('q', "q")], Cmd::Quit, "quit (asks first while a run is open; the journal stays)", Some("quit")),
    bind(Global, &[CTRL_C], Cmd::Interrupt, "interrupt: asks first; twice stops the current step", None),
    bind(Confirm, &[ch('y', "y"), code(KeyCode::Enter, "enter")], Cmd::Accept, "yes", Some("yes")),
    bind(Confirm, &[ch('n', "n"), code(KeyCode::Esc, "esc")], Cmd::Dismiss, "no", Some("no")),
    bind(Confirm, &[CTRL_C], Cmd::Interrupt, "interrupt", None),
    bind(Text, &[code(KeyCode::Enter, "enter")], Cmd::Accept, "accept", Some("accept")),
    bind(Text, &[code(KeyCode::Esc, "esc")], Cmd::Dismiss, "cancel", Some("cancel")),
    bind(Text, &[code(KeyCode::Backspace, "backspace")], Cmd::Backspace, "delete a character", None),
    bind(Text, &[CTRL_C], Cmd::Interrupt, "interrupt", None),
    bind(Help, &[ch('j', "j"), code(KeyCode::Down, "down"), code(KeyCode::PageDown, "pgdn")], Cmd::ScrollDown, "scroll the help down", Some("scroll")),
    bind(Help, &[ch('k', "k"), code(KeyCode::Up, "up"), code(KeyCode::PageUp, "pgup")], Cmd::ScrollUp, "scroll the help up", None),
    bind(Help, &[ch('?', "?"), code(KeyCode::Esc, "esc"), ch('q', "q")], Cmd::Dismiss, "close help", Some("close")),
    bind(Help, &[CTRL_C], Cmd::Interrupt, "interrupt", None),
];

impl Key {
    fn matches(&self, ev: &KeyEvent) -> bool {
        // Terminals differ on whether an upper-case letter carries SHIFT; compare without it.
        let mods = ev.mods_without_shift();
        self.code == ev.code && self.mods == mods
    }
}

trait WithoutShift {
    fn mods_without_shift(&self) -> KeyModifiers;
}

impl WithoutShift for KeyEvent {
    fn mods_without_shift(&self) -> KeyModifiers {
        match self.code {
            KeyCode::Char(_) | KeyCode::BackTab => self.modifiers - KeyModifiers::SHIFT,
            _ => self.modifiers,
        }
    }
}

/// The command for a key in the given scopes (most specific first).
pub fn lookup(scopes: &[Scope], ev: &KeyEvent) -> Option<Cmd> {
    scopes.iter().find_map(|scope| {
        BINDINGS
            .iter()
            .filter(|b| b.scope == *scope)
            .find(|b| b.keys.iter().any(|k| k.matches(ev)))
            .map(|b| b.cmd)
    })
}

/// `(key, word)` pairs for the hint bar, in table order.
pub fn hints(scopes: &[Scope]) -> Vec<(&'static str, &'static str)> {
    scopes
        .iter()
        .flat_map(|scope| BINDINGS.iter().filter(move |b| b.scope == *scope))
        .filter_map(|b| Some((b.keys[0].label, b.hint?)))
        .collect()
}

/// Every binding of a scope, keys joined, for the help overlay.
pub fn help_lines(scope: Scope) -> Vec<(String, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| b.scope == scope)
        .map(|b| {
            let keys: Vec<_> = b.keys.iter().map(|k| k.label).collect();
            (keys.join(" "), b.help)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for a in BINDINGS.iter() {
            for b in BINDINGS.iter().filter(|b| b.scope == a.scope) {
                if std::ptr::eq(a, b) {
                    continue;
                }
                for ka in a.keys {
                    assert!(
                        !b.keys
                            .iter()
                            .any(|kb| kb.code == ka.code && kb.mods == ka.mods),
                        "{} bound to {:?} and {:?} in {:?}",
                        ka.label,
                        a.cmd,
                        b.cmd,
                        a.scope
                    );
                }
            }
        }
    }
}
