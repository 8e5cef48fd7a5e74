//! The revoked entries a new CRL lists, got as cheaply as possible: unchanged since the
//! last CRL → that CRL's own encoded entries; changed → the last CRL's entries plus the
//! rows revoked since (an index range read), checked against an index-only count; else
//! (first CRL of this process, or the check fails) every row.
//!
//! "Revoked since" is a window: the rows revoked after `WINDOW_MS` before the latest time
//! already listed. Serials already listed inside the window are remembered and skipped, so
//! a revocation that committed a little out of time order is still picked up once. One
//! further out of order (or inserted behind the service's back) makes the count differ,
//! and the full read puts it right.

use super::Service;
use crate::{Result, ServiceError, blocking};
use opencas_pki::{RevocationReason, RevokedEntry, crl_encoded_entries};
use opencas_store::{RevocationVersion, RevokedRow};
use std::collections::HashMap;
use std::sync::Arc;

const WINDOW_MS: i64 = 60_000;
/// Octets an encoded entry takes, about (39 for a 16-octet serial without a reason).
const ENTRY_LEN_GUESS: usize = 40;

/// What an incremental update of a CA's entries starts from.
#[derive(Clone, Default)]
pub(super) struct Tail {
    /// The CRL whose entries these are (0 until it is signed).
    number: i64,
    count: i64,
    /// Latest revocation time listed, unix ms.
    latest: i64,
    /// Serials listed with a revocation time inside the window before `latest`.
    recent: Arc<HashMap<String, i64>>,
}

impl Tail {
    pub(super) fn listed_by(self, number: i64) -> Tail {
        Tail { number, ..self }
    }
}

/// Encodes the rows as the store hands them over (no copy of a row is kept, but for the
/// few that may fall in the next tail's window) and gathers that tail.
struct Encoder {
    out: Vec<u8>,
    count: i64,
    latest: i64,
    /// Only rows revoked after this (unix ms) can be in the window of the resulting tail:
    /// its `latest` is at least the latest revocation time read before the rows.
    keep_after: i64,
    kept: Vec<(String, i64)>,
    /// Serials already listed: skipped.
    skip: Option<Arc<HashMap<String, i64>>>,
    error: Option<opencas_pki::Error>,
}

impl Encoder {
    fn new(out: Vec<u8>, latest_before: i64, skip: Option<Arc<HashMap<String, i64>>>) -> Self {
        Encoder {
            out,
            count: 0,
            latest: 0,
            keep_after: latest_before - WINDOW_MS,
            kept: Vec::new(),
            skip,
            error: None,
        }
    }

    fn row(&mut self, r: RevokedRow<'_>) {
        if self.error.is_some() || self.skip.as_ref().is_some_and(|s| s.contains_key(r.serial_hex)) {
            return;
        }
        let reason = r.reason.and_then(|name| RevocationReason::from_name(name).ok());
        if let Err(e) = RevokedEntry::encode_hex_into(r.serial_hex, r.revoked_at / 1000, reason, &mut self.out) {
            self.error = Some(e);
            return;
        }
        self.count += 1;
        self.latest = self.latest.max(r.revoked_at);
        if r.revoked_at > self.keep_after {
            self.kept.push((r.serial_hex.to_owned(), r.revoked_at));
        }
    }

    /// The encoded entries, and the tail after `base` (or from nothing) with these rows added.
    fn finish(self, base: Option<&Tail>) -> opencas_pki::Result<(Vec<u8>, Tail)> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let latest = base.map_or(0, |t| t.latest).max(self.latest);
        let from = latest - WINDOW_MS;
        let old = base
            .into_iter()
            .flat_map(|t| t.recent.iter().map(|(s, at)| (s.clone(), *at)));
        let recent = old.chain(self.kept).filter(|(_, at)| *at > from).collect();
        let tail = Tail {
            number: 0,
            count: base.map_or(0, |t| t.count) + self.count,
            latest,
            recent: Arc::new(recent),
        };
        Ok((self.out, tail))
    }
}

fn internal(e: opencas_pki::Error) -> ServiceError {
    ServiceError::Internal(format!("CRL entries: {e}"))
}

impl Service {
    /// The encoded entries of the CA `ca` in the state `version`, and the tail the next
    /// update can start from (`None` when unknown).
    pub(super) async fn crl_entries(
        &self,
        ca: &opencas_store::CaRecord,
        version: RevocationVersion,
    ) -> Result<(Vec<u8>, Option<Tail>)> {
        let id = &ca.identifier;
        let mut previous = self.pki.crls.get(id);
        if previous.is_none()
            && let Some(meta) = self.store.crl_meta(id).await?
            && meta.signed
            && meta.version == Some(version)
        {
            previous = self.load_crl(id, &meta).await?;
        }
        let tail = self.pki.crls.tail(id);
        if let Some(p) = &previous {
            let tail = tail.filter(|t| t.number == p.number);
            if p.version == version || tail.is_some() {
                let der = p.der.clone();
                let listed = blocking(move || crl_encoded_entries(&der).map(<[u8]>::to_vec))
                    .await?
                    .map_err(internal)?;
                if p.version == version {
                    return Ok((listed, tail));
                }
                if let Some(t) = tail {
                    let total = self.store.revoked_count(id).await?;
                    let latest_before = self.store.revoked_latest(id).await?;
                    let mut out = listed;
                    out.reserve(usize::try_from(total - t.count).unwrap_or(0) * ENTRY_LEN_GUESS);
                    let encoder = Encoder::new(out, latest_before, Some(t.recent.clone()));
                    let fresh = self
                        .store
                        .fold_revoked(id, Some(t.latest - WINDOW_MS), encoder, Encoder::row)
                        .await?;
                    if t.count + fresh.count == total {
                        let (entries, next) = fresh.finish(Some(&t)).map_err(internal)?;
                        return Ok((entries, Some(next)));
                    }
                    tracing::info!(ca = %id, listed = t.count, total, "CRL entries re-read in full");
                }
            }
        }
        // Every row, encoded as the store reads them on a blocking thread, into a buffer of
        // about the right size: growing it by doubling copied and faulted in twice the memory.
        let expected = self.store.revoked_count(id).await?;
        let latest_before = self.store.revoked_latest(id).await?;
        let out = Vec::with_capacity(usize::try_from(expected).unwrap_or(0) * ENTRY_LEN_GUESS);
        let encoder = Encoder::new(out, latest_before, None);
        let all = self.store.fold_revoked(id, None, encoder, Encoder::row).await?;
        let (entries, tail) = all.finish(None).map_err(internal)?;
        Ok((entries, Some(tail)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(serial_hex: &'static str, revoked_at: i64, reason: Option<&'static str>) -> RevokedRow<'static> {
        RevokedRow {
            serial_hex,
            revoked_at,
            reason,
        }
    }

    fn general(serial: &str, at_ms: i64, reason: Option<RevocationReason>) -> Vec<u8> {
        RevokedEntry::from_hex(serial, at_ms / 1000, reason)
            .unwrap()
            .to_der()
            .unwrap()
    }

    #[test]
    fn encoder_encodes_rows_and_carries_the_tail_on() {
        let mut e = Encoder::new(Vec::new(), 70_500, None);
        e.row(row("0a", 1_000, None));
        e.row(row("0b", 70_000, Some("keyCompromise")));
        e.row(row("0c", 70_500, Some("no such reason")));
        let (der, tail) = e.finish(None).unwrap();
        let want = [
            general("0a", 1_000, None),
            general("0b", 70_000, Some(RevocationReason::KeyCompromise)),
            general("0c", 70_500, None),
        ]
        .concat();
        assert_eq!(der, want);
        assert_eq!((tail.count, tail.latest), (3, 70_500));
        let mut recent: Vec<_> = tail.recent.keys().cloned().collect();
        recent.sort();
        assert_eq!(recent, ["0b", "0c"], "only the last minute is remembered");

        // The next update skips what the tail lists and appends to the listed entries.
        let mut e = Encoder::new(der.clone(), 70_500, Some(tail.recent.clone()));
        e.row(row("0c", 70_500, None));
        e.row(row("0d", 131_000, None));
        let (der2, next) = e.finish(Some(&tail)).unwrap();
        assert_eq!(der2, [der, general("0d", 131_000, None)].concat());
        assert_eq!((next.count, next.latest), (4, 131_000));
        assert_eq!(next.recent.keys().collect::<Vec<_>>(), ["0d"]);
    }

    #[test]
    fn encoder_reports_a_bad_serial() {
        let mut e = Encoder::new(Vec::new(), 0, None);
        e.row(row("0a", 1_000, None));
        e.row(row("zz", 1_000, None));
        e.row(row("0b", 1_000, None));
        assert!(matches!(e.finish(None), Err(opencas_pki::Error::InvalidSerial(_))));
    }
}
