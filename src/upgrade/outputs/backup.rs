//! What `backup` hands on: the pre-upgrade fingerprint and the verified dump (read by
//! `start-writers`, `verify-data`, `backend-healthy`, the rollback check and the disaster path).

use serde::{Deserialize, Serialize};

use crate::adapters::backup::BackupRecord;
use crate::adapters::fingerprint::Fingerprint;

/// The schema whose tables are fingerprinted, dumped and compared.
pub const SCHEMA: &str = "public";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupOutput {
    pub fingerprint_before: Fingerprint,
    pub file_name: String,
    /// Set once the dump is complete and verified.
    pub record: Option<BackupRecord>,
}
