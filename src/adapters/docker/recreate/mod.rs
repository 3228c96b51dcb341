//! Recreating a container on a new image, as journaled, idempotent steps:
//! `plan_recreate` → (caller stops the old one) → `rename_old` → `create_new` → `start_new`,
//! undone by `restore_old`, made permanent by `finalize_recreate`.
//!
//! Invariants:
//! - The old container is only ever renamed and stopped, never removed before `finalize`, and
//!   always addressed by its id, which survives renames.
//! - The new container carries `io.cutover.replaces=<old id>`, so every step can tell its own
//!   earlier work from a stranger's container and tolerate finding the work already done.
//! - The plan is journaled, so it holds no secret: env values whose names look secret are
//!   stored masked and filled in from the (kept) old container at `create_new`.

mod plan;
mod steps;

pub use plan::{RecreatePlan, build_plan};
pub use steps::RecreateState;
