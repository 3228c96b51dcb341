//! Rebuild when an embedded migration changes (include_dir cannot tell Cargo on stable).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
