//! The validity period of a new certificate from `Days`, `BeforeTime` + `AfterTime`,
//! `Years` and `Months`, as the API documents them.

use crate::{Result, ServiceError};

const DAY: i64 = 86_400;

#[derive(Debug, Clone, Copy, Default)]
pub struct ValidityInput {
    pub days: Option<i64>,
    /// Unix seconds.
    pub before_time: Option<i64>,
    /// Unix seconds.
    pub after_time: Option<i64>,
    pub years: Option<i64>,
    pub months: Option<i64>,
}

impl ValidityInput {
    /// The `Validity` text form (`30d`, `1y`, `<NotAfter>`, `<NotBefore>/<NotAfter>`).
    pub fn resolve_text(text: &str, now: i64) -> Result<(i64, i64, i64)> {
        let (from, to) = crate::ca::parse_validity(text, now)?;
        Ok((from, to, (to - from + DAY - 1) / DAY))
    }
}

impl ValidityInput {
    /// `(not_before, not_after, days)` in unix seconds. `Days` wins over everything
    /// (starting at `BeforeTime` when given); then `BeforeTime` + `AfterTime` (both or
    /// neither); then `Years` and `Months` added together.
    pub fn resolve(&self, now: i64) -> Result<(i64, i64, i64)> {
        let resolved = self.resolve_any(now)?;
        // A short life is allowed (tests of expiry handling need one), an expired one is not:
        // it could be used for nothing and would only count against the CA's quota.
        if resolved.1 <= now {
            return Err(ServiceError::invalid(
                "AfterTime",
                "The certificate would have expired before it was issued: its end must be in the future.",
            ));
        }
        Ok(resolved)
    }

    fn resolve_any(&self, now: i64) -> Result<(i64, i64, i64)> {
        match (self.before_time, self.after_time) {
            (Some(_), None) => {
                return Err(ServiceError::invalid(
                    "AfterTime",
                    "BeforeTime and AfterTime go together.",
                ));
            }
            (None, Some(_)) => {
                return Err(ServiceError::invalid(
                    "BeforeTime",
                    "BeforeTime and AfterTime go together.",
                ));
            }
            _ => {}
        }
        if let Some(days) = self.days {
            let start = self.before_time.unwrap_or(now);
            return Ok((start, start + days * DAY, days));
        }
        if let (Some(before), Some(after)) = (self.before_time, self.after_time) {
            if after <= before {
                return Err(ServiceError::invalid(
                    "AfterTime",
                    "AfterTime must be later than BeforeTime.",
                ));
            }
            return Ok((before, after, (after - before + DAY - 1) / DAY));
        }
        let months = self.years.unwrap_or(0) * 12 + self.months.unwrap_or(0);
        if months > 0 {
            let end = add_months(now, months)?;
            return Ok((now, end, (end - now + DAY - 1) / DAY));
        }
        Err(ServiceError::MissingParameter("Days"))
    }
}

/// Adds calendar months (the 31st becomes the last day of a shorter month).
pub(crate) fn add_months(unix: i64, months: i64) -> Result<i64> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let total = i64::from(t.year()) * 12 + i64::from(t.month() as u8) - 1 + months;
    let (year, month0) = (total.div_euclid(12) as i32, total.rem_euclid(12) as u8);
    let month = time::Month::try_from(month0 + 1).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let last_day = time::util::days_in_month(month, year);
    let date = time::Date::from_calendar_date(year, month, t.day().min(last_day))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(t.replace_date(date).unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    #[test]
    fn precedence_and_rules() {
        let days = ValidityInput {
            days: Some(10),
            years: Some(1),
            ..Default::default()
        };
        assert_eq!(days.resolve(NOW).unwrap(), (NOW, NOW + 10 * DAY, 10));
        let range = ValidityInput {
            before_time: Some(NOW),
            after_time: Some(NOW + 5 * DAY),
            ..Default::default()
        };
        assert_eq!(range.resolve(NOW).unwrap().2, 5);
        let days_from = ValidityInput {
            days: Some(2),
            before_time: Some(NOW + DAY),
            after_time: Some(NOW + 9 * DAY),
            ..Default::default()
        };
        assert_eq!(days_from.resolve(NOW).unwrap(), (NOW + DAY, NOW + 3 * DAY, 2));
        let half = ValidityInput {
            before_time: Some(NOW),
            ..Default::default()
        };
        assert!(half.resolve(NOW).is_err());
        let reversed = ValidityInput {
            before_time: Some(NOW),
            after_time: Some(NOW),
            ..Default::default()
        };
        assert!(reversed.resolve(NOW).is_err());
        assert!(ValidityInput::default().resolve(NOW).is_err());
        let past = ValidityInput {
            before_time: Some(NOW - 9 * DAY),
            after_time: Some(NOW),
            ..Default::default()
        };
        assert!(matches!(past.resolve(NOW), Err(ServiceError::InvalidParameter { .. })));
        let past_days = ValidityInput { days: Some(3), ..past };
        assert!(past_days.resolve(NOW).is_err());
        let seconds = ValidityInput {
            after_time: Some(NOW + 2),
            ..past
        };
        assert_eq!(seconds.resolve(NOW).unwrap().1, NOW + 2);
        let ym = ValidityInput {
            years: Some(1),
            months: Some(1),
            ..Default::default()
        };
        // 2026-01-01 + 13 months = 2027-02-01
        assert_eq!(ym.resolve(NOW).unwrap().1, 1_801_440_000);
    }

    #[test]
    fn month_ends_clamp() {
        // 2026-01-31 + 1 month = 2026-02-28
        assert_eq!(add_months(1_769_817_600, 1).unwrap(), 1_772_236_800);
    }
}
