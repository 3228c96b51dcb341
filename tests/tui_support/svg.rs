//! A ratatui buffer as an SVG picture: one text run per stretch of cells with the same style,
//! placed on the cell grid (each run is stretched to exactly its cells, so the picture lines up
//! whatever monospace font the viewer has), backgrounds as rectangles. The output depends only
//! on the buffer, so a picture can be compared byte for byte with a committed one.

use std::fmt::Write as _;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::text::Span;

const CELL_W: u32 = 9;
const CELL_H: u32 = 18;
const FONT_SIZE: u32 = 15;
const FG: &str = "#d4d4d4";
const BG: &str = "#1e1e1e";

/// A dark terminal's palette (the one VS Code's terminal uses).
fn hex(c: Color, default: &str) -> String {
    let named = match c {
        Color::Reset => return default.to_string(),
        Color::Black => "#000000",
        Color::Red => "#cd3131",
        Color::Green => "#0dbc79",
        Color::Yellow => "#e5e510",
        Color::Blue => "#2472c8",
        Color::Magenta => "#bc3fbc",
        Color::Cyan => "#11a8cd",
        Color::Gray => "#e5e5e5",
        Color::DarkGray => "#767676",
        Color::LightRed => "#f14c4c",
        Color::LightGreen => "#23d18b",
        Color::LightYellow => "#f5f543",
        Color::LightBlue => "#3b8eea",
        Color::LightMagenta => "#d670d6",
        Color::LightCyan => "#29b8db",
        Color::White => "#ffffff",
        Color::Rgb(r, g, b) => return format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) => return indexed(i),
    };
    named.to_string()
}

/// xterm's 256-colour cube and grey ramp (the first 16 as the named colours above).
fn indexed(i: u8) -> String {
    const BASE: [Color; 16] = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    match i {
        0..16 => hex(BASE[i as usize], FG),
        16..232 => {
            let i = i - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            let (r, g, b) = (level(i / 36), level((i / 6) % 6), level(i % 6));
            format!("#{r:02x}{g:02x}{b:02x}")
        }
        _ => {
            let v = 8 + 10 * (i - 232);
            format!("#{v:02x}{v:02x}{v:02x}")
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The resolved look of one cell.
#[derive(Clone, PartialEq)]
struct Look {
    fg: String,
    bg: String,
    bold: bool,
    underline: bool,
}

fn look(cell: &ratatui::buffer::Cell) -> Look {
    let (mut fg, mut bg) = (hex(cell.fg, FG), hex(cell.bg, BG));
    if cell.modifier.contains(Modifier::REVERSED) {
        std::mem::swap(&mut fg, &mut bg);
    }
    Look {
        fg,
        bg,
        bold: cell.modifier.contains(Modifier::BOLD),
        underline: cell.modifier.contains(Modifier::UNDERLINED),
    }
}

pub fn to_svg(buf: &Buffer) -> String {
    let (w, h) = (buf.area.width as u32, buf.area.height as u32);
    let (pw, ph) = (w * CELL_W, h * CELL_H);
    let mut back = String::new();
    let mut text = String::new();
    for y in 0..h {
        // Runs of cells with the same look: (first column, cells, symbols, look).
        let mut runs: Vec<(u32, u32, String, Look)> = Vec::new();
        let mut x = 0;
        while x < w {
            let cell = &buf[(x as u16, y as u16)];
            let sym = cell.symbol();
            // A wide character covers the next cell too, which holds nothing of its own.
            let cells = (Span::raw(sym).width() as u32).clamp(1, 2);
            let l = look(cell);
            match runs.last_mut() {
                Some((_, n, s, last)) if *last == l => {
                    *n += cells;
                    s.push_str(sym);
                }
                _ => runs.push((x, cells, sym.to_string(), l)),
            }
            x += cells;
        }
        for (x, n, s, l) in runs {
            let (px, py) = (x * CELL_W, y * CELL_H);
            if l.bg != BG {
                let _ = writeln!(
                    back,
                    r#"<rect x="{px}" y="{py}" width="{}" height="{CELL_H}" fill="{}"/>"#,
                    n * CELL_W,
                    l.bg
                );
            }
            if s.trim().is_empty() && !l.underline {
                continue;
            }
            let mut attrs = format!(r#" fill="{}""#, l.fg);
            if l.bold {
                attrs.push_str(r#" font-weight="bold""#);
            }
            if l.underline {
                attrs.push_str(r#" text-decoration="underline""#);
            }
            let _ = writeln!(
                text,
                r#"<text x="{px}" y="{}" textLength="{}" lengthAdjust="spacingAndGlyphs"{attrs}>{}</text>"#,
                py + CELL_H - 5,
                n * CELL_W,
                escape(&s)
            );
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{pw}\" height=\"{ph}\" \
         viewBox=\"0 0 {pw} {ph}\" font-family=\"'DejaVu Sans Mono', Menlo, Consolas, monospace\" \
         font-size=\"{FONT_SIZE}\" xml:space=\"preserve\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"{BG}\"/>\n{back}{text}</svg>\n"
    )
}
