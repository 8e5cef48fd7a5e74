//! Issuing CAs kept in process, for the issuance path only (`Store::find_issuing_ca`).
//!
//! Every issuance read its CA's row, and every commit of the writer thread invalidates a
//! reader's page cache, so that read re-read its pages each time: ~5 % of the request path's CPU.
//! A CA's settings change rarely, but its counters (`cert_issued_count` with every issuance,
//! `revocation_seq`, `crl_number`) change all the time; a kept record may show old counters,
//! and nothing that reads it may rely on them. The issuance path does not: its writer re-reads
//! the row inside its transaction and takes the quota there, refusing when none is left.
//!
//! Every transaction that changes a CA's settings (status, quota, alias, resource group) counts
//! one change after its commit (`Tx::commit`), and a kept record is used only while no change
//! has been counted since the count read before its row was read: a record read before a
//! commit but kept after it carries the older count and is never used. The count is shared by
//! every store of the process; a change elsewhere only costs other stores a read. Writes by
//! other processes are not seen; no opencas command changes a CA behind a running server, and
//! on PostgreSQL, which replicas share, nothing is kept.

use crate::CaRecord;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Changes to CA settings committed by this process.
static CHANGES: AtomicU64 = AtomicU64::new(0);
/// More CAs than this, and the kept ones are dropped and kept again as they are read.
const MAX_KEPT: usize = 256;

/// Counts a committed change to some CA's settings.
pub(crate) fn changed() {
    CHANGES.fetch_add(1, Ordering::AcqRel);
}

/// The count to read before a row whose record may be kept.
pub(crate) fn changes() -> u64 {
    CHANGES.load(Ordering::Acquire)
}

/// Per account, per identifier: the count read before the row, and the record.
type Kept = HashMap<i64, HashMap<String, (u64, Arc<CaRecord>)>>;

#[derive(Debug, Default)]
pub(crate) struct CaCache {
    kept: Mutex<Kept>,
}

impl CaCache {
    /// The record kept for the CA, if it was read with no change counted since.
    pub(crate) fn get(&self, account_id: i64, identifier: &str) -> Option<Arc<CaRecord>> {
        let now = changes();
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let (read_at, ca) = kept.get(&account_id)?.get(identifier)?;
        (*read_at == now).then(|| Arc::clone(ca))
    }

    /// Keeps `ca`, whose row was read after `changes()` answered `read_at`.
    pub(crate) fn keep(&self, read_at: u64, ca: Arc<CaRecord>) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.values().map(HashMap::len).sum::<usize>() >= MAX_KEPT {
            kept.clear();
        }
        kept.entry(ca.account_id)
            .or_default()
            .insert(ca.identifier.clone(), (read_at, ca));
    }
}

#[cfg(test)]
#[path = "ca_cache_tests.rs"]
mod tests;
