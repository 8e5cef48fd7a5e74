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
use opencas_store::{RevocationVersion, RevokedSerial};
use std::collections::HashMap;
use std::sync::Arc;

const WINDOW_MS: i64 = 60_000;

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

    fn of(rows: &[RevokedSerial]) -> Tail {
        let latest = rows.iter().map(|r| r.revoked_at).max().unwrap_or(0);
        Tail {
            number: 0,
            count: rows.len() as i64,
            latest,
            recent: Arc::new(recent(latest, rows.iter(), std::iter::empty())),
        }
    }

    /// This tail with `fresh` appended.
    fn extended(&self, fresh: &[RevokedSerial]) -> Tail {
        let latest = fresh.iter().map(|r| r.revoked_at).max().unwrap_or(0).max(self.latest);
        let old = self.recent.iter();
        Tail {
            number: 0,
            count: self.count + fresh.len() as i64,
            latest,
            recent: Arc::new(recent(latest, fresh.iter(), old)),
        }
    }
}

fn recent<'a>(
    latest: i64,
    rows: impl Iterator<Item = &'a RevokedSerial>,
    old: impl Iterator<Item = (&'a String, &'a i64)>,
) -> HashMap<String, i64> {
    let from = latest - WINDOW_MS;
    old.map(|(s, at)| (s.clone(), *at))
        .chain(rows.map(|r| (r.serial_hex.clone(), r.revoked_at)))
        .filter(|(_, at)| *at > from)
        .collect()
}

fn encode(rows: Vec<RevokedSerial>, mut out: Vec<u8>) -> opencas_pki::Result<Vec<u8>> {
    out.reserve(rows.len() * 40);
    for e in rows {
        let reason = e.reason.as_deref().and_then(|r| RevocationReason::from_name(r).ok());
        RevokedEntry::from_hex(&e.serial_hex, e.revoked_at / 1000, reason)?.encode_into(&mut out)?;
    }
    Ok(out)
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
                    let since = self.store.revoked_since(id, t.latest - WINDOW_MS).await?;
                    let fresh: Vec<_> = since
                        .into_iter()
                        .filter(|r| !t.recent.contains_key(&r.serial_hex))
                        .collect();
                    if t.count + fresh.len() as i64 == total {
                        let next = t.extended(&fresh);
                        let entries = blocking(move || encode(fresh, listed)).await?.map_err(internal)?;
                        return Ok((entries, Some(next)));
                    }
                    tracing::info!(ca = %id, listed = t.count, total, "CRL entries re-read in full");
                }
            }
        }
        // Every row: the store reads them off the async workers, the encoding runs on the
        // blocking pool.
        let rows = self.store.revoked_by_issuer(id).await?;
        let (entries, tail) = blocking(move || -> Result<_> {
            let tail = Tail::of(&rows);
            Ok((encode(rows, Vec::new()).map_err(internal)?, tail))
        })
        .await??;
        Ok((entries, Some(tail)))
    }
}
