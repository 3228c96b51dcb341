//! Column widths for the wizard's tables, from what the cells hold: every column gets its widest
//! cell when the table fits, so a name is never cut while a wider column would fit it. Only
//! when the whole table does not fit are the widest columns narrowed, one cell at a time, and a
//! cell cut that way shows its END after `…` (table and container names differ at their end:
//! `…_identities`, `…celery-worker-1`, an image's tag).

use ratatui::layout::Constraint;
use ratatui::text::Span;

/// Display width of `s` in terminal cells (ratatui's own measure, so cells line up).
fn width(s: &str) -> usize {
    Span::raw(s).width()
}

/// Space ratatui's `Table` leaves between columns (its default `column_spacing`).
pub const SPACING: usize = 1;

/// Widths for columns whose widest cells are `natural`, each at least `min` wide (or its
/// natural width if smaller), in `avail` cells. Extra room goes to column `grow`.
pub fn fit(natural: &[usize], min: &[usize], avail: usize, grow: usize) -> Vec<usize> {
    let mut w = natural.to_vec();
    let floor: Vec<usize> = w
        .iter()
        .enumerate()
        .map(|(i, n)| (*n).min(min.get(i).copied().unwrap_or(1)))
        .collect();
    let spacing = SPACING * w.len().saturating_sub(1);
    while w.iter().sum::<usize>() + spacing > avail {
        // Narrow the column with the most room above its floor (the widest, usually).
        let Some(i) = (0..w.len())
            .filter(|&i| w[i] > floor[i])
            .max_by_key(|&i| (w[i] - floor[i], i))
        else {
            break;
        };
        w[i] -= 1;
    }
    let used = w.iter().sum::<usize>() + spacing;
    if let Some(g) = w.get_mut(grow) {
        *g += avail.saturating_sub(used);
    }
    w
}

/// The widest cell of each column, header included.
pub fn natural(header: &[&str], rows: &[Vec<String>]) -> Vec<usize> {
    header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| width(c))
                .chain([width(h)])
                .max()
                .unwrap_or(0)
        })
        .collect()
}

pub fn constraints(widths: &[usize]) -> Vec<Constraint> {
    widths
        .iter()
        .map(|w| Constraint::Length(*w as u16))
        .collect()
}

/// `s` in `width` cells: whole if it fits, else its end after `…`.
pub fn cut_start(s: &str, cells: usize) -> String {
    if width(s) <= cells {
        return s.to_string();
    }
    if cells == 0 {
        return String::new();
    }
    let mut tail: Vec<char> = Vec::new();
    let mut used = 1; // the ellipsis
    for c in s.chars().rev() {
        let cw = width(c.encode_utf8(&mut [0; 4]));
        if used + cw > cells {
            break;
        }
        used += cw;
        tail.push(c);
    }
    std::iter::once('…').chain(tail.into_iter().rev()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_that_fits_is_not_cut() {
        assert_eq!(fit(&[15, 6, 5, 1], &[8, 4, 4, 1], 34, 0), vec![19, 6, 5, 1]);
    }

    #[test]
    fn the_widest_column_gives_way_first_and_shows_its_end() {
        let w = fit(&[30, 6, 5, 1], &[8, 4, 4, 1], 30, 0);
        assert_eq!(w, vec![15, 6, 5, 1]);
        assert_eq!(
            cut_start("a_really_long_auth_identities", w[0]),
            "…uth_identities"
        );
        assert_eq!(cut_start("users", 0), "");
        assert_eq!(cut_start("users", 5), "users");
    }
}
