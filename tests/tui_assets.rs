//! The README's pictures cannot go stale: every screen is rendered again, the same way
//! `cargo run --example render_assets` renders it, into a temporary directory, and compared
//! byte for byte with the committed assets/. Leftover pictures no screen draws any more fail too.

mod tui_support;

use std::path::Path;

use tui_support::assets::{REFRESH, write_all};

#[test]
fn the_committed_pictures_are_what_the_wizard_draws_now() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_all(tmp.path());
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let mut stale = Vec::new();
    for file in &written {
        let now = std::fs::read(tmp.path().join(file)).unwrap();
        if std::fs::read(assets.join(file)).ok().as_deref() != Some(now.as_slice()) {
            stale.push(format!(
                "assets/{file} differs from what the wizard draws now"
            ));
        }
    }
    for e in std::fs::read_dir(&assets).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".svg") && !written.contains(&name.as_str()) {
            stale.push(format!(
                "assets/{name} is not drawn by any screen any more: remove it"
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nrefresh them with `{REFRESH}` and commit assets/",
        stale.join("\n")
    );
}
