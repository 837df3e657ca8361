//! The reputation model: beta reputation with forgetting (Jøsang & Ismail, 2002).
//!
//! Positive evidence α and negative evidence β start at 0; the score is the mean of
//! Beta(α+1, β+1), `(α+1)/(α+β+2)`, so an agent nobody has seen is 0.5. Each event adds its
//! weight to α (success) or β (everything else). Forgetting: both shrink by
//! `2^(−Δt/half_life)`, so old evidence fades and an inactive agent drifts back to 0.5. Decay
//! composes (`2^−a · 2^−b = 2^−(a+b)`), so applying it lazily on read, or in steps from a
//! background loop, gives the same numbers.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::events::OutcomeKind;

/// Default half-life of evidence.
pub const DEFAULT_HALF_LIFE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Hourly history kept per agent: 7 days. Older hours are dropped as new ones start.
pub const HISTORY_HOURS: usize = 7 * 24;

/// Evidence each kind of event adds; success goes to α, every other kind to β.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// α per success.
    pub success: f64,
    /// β per failure.
    pub failure: f64,
    /// β per timeout.
    pub timeout: f64,
    /// β per bad response signature.
    pub bad_signature: f64,
    /// β per rate-limit violation.
    pub rate_limit: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            success: 1.0,
            failure: 1.0,
            timeout: 1.0,
            bad_signature: 5.0,
            rate_limit: 0.5,
        }
    }
}

impl Weights {
    /// `(Δα, Δβ)` of one event of `kind`.
    pub fn of(&self, kind: OutcomeKind) -> (f64, f64) {
        match kind {
            OutcomeKind::Success => (self.success, 0.0),
            OutcomeKind::Failure => (0.0, self.failure),
            OutcomeKind::Timeout => (0.0, self.timeout),
            OutcomeKind::BadSignature => (0.0, self.bad_signature),
            OutcomeKind::RateLimit => (0.0, self.rate_limit),
        }
    }

    /// Refuses negative or non-finite weights (which would push a score outside 0–1).
    pub fn validate(&self) -> Result<(), String> {
        for (name, w) in [
            ("success", self.success),
            ("failure", self.failure),
            ("timeout", self.timeout),
            ("bad_signature", self.bad_signature),
            ("rate_limit", self.rate_limit),
        ] {
            if !w.is_finite() || w < 0.0 {
                return Err(format!(
                    "trust weight `{name}` must be a finite number ≥ 0, got {w}"
                ));
            }
        }
        Ok(())
    }
}

/// The score of evidence `(α, β)`.
pub fn score(alpha: f64, beta: f64) -> f64 {
    (alpha + 1.0) / (alpha + beta + 2.0)
}

/// The factor evidence shrinks by over `dt` seconds.
pub fn decay_factor(dt: f64, half_life_s: f64) -> f64 {
    if dt <= 0.0 {
        1.0
    } else {
        (-dt / half_life_s).exp2()
    }
}

/// One hour of an agent's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hour {
    /// Unix time of the hour's start.
    pub start: i64,
    /// Events of each kind in the hour, in [`OutcomeKind::ALL`] order.
    pub counts: [u32; 5],
    /// The score after the hour's last event.
    pub score: f64,
}

pub use crate::wire::Report;

/// Everything a node knows about one agent's trust.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Positive evidence as of `last_decay`.
    pub alpha: f64,
    /// Negative evidence as of `last_decay`.
    pub beta: f64,
    /// Unix seconds (fractional) at which α and β were last decayed.
    pub last_decay: f64,
    /// Events of each kind ever seen, in [`OutcomeKind::ALL`] order.
    pub counts: [u64; 5],
    /// Of those, how many came from admin reports.
    pub reports: u64,
    /// The latest event and its unix time.
    pub last_event: Option<(OutcomeKind, i64)>,
    /// The latest admin report.
    pub last_report: Option<Report>,
    /// Hourly buckets, oldest first, at most [`HISTORY_HOURS`].
    pub history: VecDeque<Hour>,
}

impl Record {
    /// No evidence, as of `now`.
    pub fn new(now: f64) -> Self {
        Self {
            alpha: 0.0,
            beta: 0.0,
            last_decay: now,
            counts: [0; 5],
            reports: 0,
            last_event: None,
            last_report: None,
            history: VecDeque::new(),
        }
    }

    /// Evidence decayed to `now`, without changing the record.
    pub fn evidence_at(&self, now: f64, half_life_s: f64) -> (f64, f64) {
        let f = decay_factor(now - self.last_decay, half_life_s);
        (self.alpha * f, self.beta * f)
    }

    /// The score as of `now`.
    pub fn score_at(&self, now: f64, half_life_s: f64) -> f64 {
        let (a, b) = self.evidence_at(now, half_life_s);
        score(a, b)
    }

    /// Applies decay up to `now` (a clock that stepped back leaves the record alone).
    pub fn decay_to(&mut self, now: f64, half_life_s: f64) {
        if now > self.last_decay {
            let f = decay_factor(now - self.last_decay, half_life_s);
            self.alpha *= f;
            self.beta *= f;
            // Below this the evidence cannot move a score printed to 4 places.
            if self.alpha + self.beta < 1e-9 {
                self.alpha = 0.0;
                self.beta = 0.0;
            }
            self.last_decay = now;
        }
    }

    /// Adds one event of `kind` that happened at unix second `at`, with decay to `now` first.
    pub fn apply(&mut self, kind: OutcomeKind, at: i64, now: f64, w: &Weights, half_life_s: f64) {
        self.decay_to(now, half_life_s);
        let (da, db) = w.of(kind);
        self.alpha += da;
        self.beta += db;
        self.counts[kind.index()] += 1;
        if self.last_event.is_none_or(|(_, t)| at >= t) {
            self.last_event = Some((kind, at));
        }
        let s = score(self.alpha, self.beta);
        let start = at.div_euclid(3600) * 3600;
        match self.history.back_mut() {
            Some(h) if h.start == start => {
                h.counts[kind.index()] = h.counts[kind.index()].saturating_add(1);
                h.score = s;
            }
            Some(h) if h.start > start => {} // a late event for an hour already closed
            _ => {
                let mut counts = [0; 5];
                counts[kind.index()] = 1;
                self.history.push_back(Hour {
                    start,
                    counts,
                    score: s,
                });
            }
        }
        let oldest = start - (HISTORY_HOURS as i64 - 1) * 3600;
        while self.history.len() > HISTORY_HOURS
            || self.history.front().is_some_and(|h| h.start < oldest)
        {
            self.history.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HL: f64 = 7.0 * 24.0 * 3600.0;

    #[test]
    fn unknown_is_neutral_and_weights_move_the_right_way() {
        let w = Weights::default();
        let mut r = Record::new(0.0);
        assert_eq!(r.score_at(0.0, HL), 0.5);
        r.apply(OutcomeKind::Success, 0, 0.0, &w, HL);
        assert_eq!((r.alpha, r.beta), (1.0, 0.0));
        assert!((r.score_at(0.0, HL) - 2.0 / 3.0).abs() < 1e-12);
        for (kind, beta) in [
            (OutcomeKind::Failure, 1.0),
            (OutcomeKind::Timeout, 1.0),
            (OutcomeKind::RateLimit, 0.5),
            (OutcomeKind::BadSignature, 5.0),
        ] {
            let mut r = Record::new(0.0);
            r.apply(kind, 0, 0.0, &w, HL);
            assert_eq!((r.alpha, r.beta), (0.0, beta), "{kind:?}");
            assert!(r.score_at(0.0, HL) < 0.5, "{kind:?}");
            assert_eq!(r.counts[kind.index()], 1);
        }
    }

    #[test]
    fn one_half_life_halves_the_evidence_and_the_score_returns_to_neutral() {
        let w = Weights::default();
        let mut r = Record::new(0.0);
        for _ in 0..10 {
            r.apply(OutcomeKind::Failure, 0, 0.0, &w, HL);
        }
        let before = r.score_at(0.0, HL);
        let (a, b) = r.evidence_at(HL, HL);
        assert_eq!(a, 0.0);
        assert!((b - 5.0).abs() < 1e-9, "β after one half-life: {b}");
        let after = r.score_at(HL, HL);
        assert!(after > before && after < 0.5, "{before} → {after}");
        assert!((r.score_at(20.0 * HL, HL) - 0.5).abs() < 1e-5);
        // Lazy decay on read and stepwise decay agree.
        let mut stepped = r.clone();
        for i in 1..=4 {
            stepped.decay_to(f64::from(i) * HL / 4.0, HL);
        }
        assert!((stepped.beta - b).abs() < 1e-9);
        // A clock stepping back changes nothing.
        stepped.decay_to(0.0, HL);
        assert!((stepped.beta - b).abs() < 1e-9);
    }

    #[test]
    fn history_is_hourly_and_bounded() {
        let w = Weights::default();
        let mut r = Record::new(0.0);
        r.apply(OutcomeKind::Success, 10, 10.0, &w, HL);
        r.apply(OutcomeKind::Failure, 20, 20.0, &w, HL);
        assert_eq!(r.history.len(), 1);
        assert_eq!(r.history[0].counts, [1, 1, 0, 0, 0]);
        for h in 1..400i64 {
            r.apply(OutcomeKind::Success, h * 3600, (h * 3600) as f64, &w, HL);
        }
        assert_eq!(r.history.len(), HISTORY_HOURS);
        assert_eq!(r.history.back().map(|h| h.start), Some(399 * 3600));
        assert_eq!(r.counts[0], 400);
    }

    #[test]
    fn weights_must_be_finite_and_non_negative() {
        assert!(Weights::default().validate().is_ok());
        let w = Weights {
            failure: -1.0,
            ..Weights::default()
        };
        assert!(w.validate().expect_err("negative").contains("failure"));
    }
}
