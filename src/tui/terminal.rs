//! Owning the terminal: raw mode, the alternate screen and mouse capture on the way in, and
//! all three undone on every way out — normal return and `?` errors (the guard's `Drop`),
//! panics (a hook chained before ratatui's own restoring hook). Signals are turned into a
//! clean stop by the app loop, which then returns through the guard.

use std::io::stdout;

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;

pub struct Guard {
    _private: (),
}

impl Guard {
    pub fn enter() -> std::io::Result<(DefaultTerminal, Guard)> {
        // try_init also installs a panic hook that restores raw mode and the screen.
        let terminal = ratatui::try_init()?;
        let guard = Guard { _private: () };
        execute!(stdout(), EnableMouseCapture)?;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = execute!(stdout(), DisableMouseCapture);
            previous(info);
        }));
        Ok((terminal, guard))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = execute!(stdout(), DisableMouseCapture);
        ratatui::restore();
    }
}
