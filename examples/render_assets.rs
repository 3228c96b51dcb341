//! Renders the README's pictures of every wizard screen into assets/ (or the directory given):
//! the real `views::draw` on states built by feeding the real reducer, drawn into ratatui's
//! TestBackend and written as SVG. tests/tui_assets.rs fails when assets/ is not what this
//! writes now.
//!
//!     cargo run --example render_assets [DIR]

#[path = "../tests/tui_support/mod.rs"]
mod tui_support;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/assets").to_string());
    let dir = std::path::Path::new(&dir);
    for file in tui_support::assets::write_all(dir) {
        println!("{}", dir.join(file).display());
    }
}
