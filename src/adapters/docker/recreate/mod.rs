//! Recreating a container on a new image, as journaled, idempotent steps. The upgrade:
//! `plan_recreate` → `keep_old_image` → (caller stops the old one) → `park_old` →
//! `guard_single_server` → (Compose creates the new one from the edited file), undone by
//! `restore_old` (from the journal if need be), made permanent by `finalize_recreate`.
//! `rename_old` → `create_new` → `start_new` create through the Engine API instead (the
//! disaster path's recreate of a finalized container).
//!
//! Invariants:
//! - The old container's configuration is journaled before it is stopped, and its image is
//!   kept tagged until `finalize`: that is all the fast rollback needs (see park.rs for why
//!   the old container itself is replaced by a parked placeholder).
//! - The new container carries `io.cutover.replaces=<old id>`, so every step can tell its own
//!   earlier work from a stranger's container and tolerate finding the work already done.
//! - The plan is journaled, so it holds no secret: env values whose names look secret are
//!   stored masked and filled in from the (kept) old container at `create_new`.

mod park;
mod plan;
mod steps;

pub use park::PARKED;
pub use plan::{RecreatePlan, build_plan};
pub use steps::RecreateState;
