//! The sync's keys for Personio records, whichever API they were read from. Bookings, the journal
//! and the caches are keyed by one number per period and per type; API v1 provides numbers, v2
//! provides UUIDs. A v2-only record gets a number derived from its UUID; a record known to both
//! APIs keeps the key it was first synced under, so that switching `personio.api` either way finds
//! the bookings already made instead of making them again.

use std::collections::HashMap;

use super::model::{AbsencePeriod, AbsenceType, SourceIds};

/// Derived keys live in `[2^62, 2^63)`, above any v1 id Personio hands out, so they never
/// collide with one and stay positive (they appear in booking notes).
const DERIVED_BASE: u64 = 1 << 62;

/// The stable key of a record known only by its v2 id: FNV-1a of the id, folded into the derived
/// range. Stable across versions and machines (no per-process hash seed).
pub fn key_for_v2(v2_id: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in v2_id.trim().to_ascii_lowercase().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // Below 2^63 after the fold, so the cast keeps the value.
    (DERIVED_BASE | (hash & (DERIVED_BASE - 1))) as i64
}

/// What a kind of record is keyed as in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    Period,
    Type,
    /// An hour-unit absence booked by the sync (its key is always derived): kept so that one
    /// missing from a read can be looked up by id before its bookings go.
    Hourly,
}

impl IdKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Period => "period",
            Self::Type => "type",
            Self::Hourly => "hourly",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Period, Self::Type, Self::Hourly]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// The keys already given to v2 ids, and the ones given in this run (to be stored).
#[derive(Debug, Default)]
pub struct Identities {
    known: HashMap<(IdKind, String), i64>,
    added: Vec<(IdKind, String, i64)>,
    /// This run's types: the id their source gave them → their key.
    type_keys: HashMap<i64, i64>,
    /// Hour-unit absences booked before: Personio id → key.
    hourly: Vec<(String, i64)>,
}

impl Identities {
    pub fn new(known: impl IntoIterator<Item = (IdKind, String, i64)>) -> Self {
        let mut ids = Self::default();
        for (kind, v2, key) in known {
            match kind {
                // Looked up by id, so kept as Personio wrote it.
                IdKind::Hourly => ids.hourly.push((v2, key)),
                _ => drop(ids.known.insert((kind, normal(&v2)), key)),
            }
        }
        ids
    }

    /// Keys first seen in this run, to be stored before anything is written under them.
    pub fn added(&self) -> &[(IdKind, String, i64)] {
        &self.added
    }

    /// The key of this run's type whose source gave it the id `raw` (see [`Self::types`]).
    pub fn type_key(&self, raw: i64) -> Option<i64> {
        self.type_keys.get(&raw).copied()
    }

    /// The hour-unit absences booked before: id → key.
    pub fn hourly(&self) -> &[(String, i64)] {
        &self.hourly
    }

    /// The key of a period named by the id an API gave it (a v1 number or a v2 id).
    pub fn period_key(&self, raw: &str) -> i64 {
        if let Ok(v1) = raw.trim().parse() {
            return v1;
        }
        let v2 = normal(raw);
        match self.known.get(&(IdKind::Period, v2)) {
            Some(&key) => key,
            None => key_for_v2(raw),
        }
    }

    /// Gives a record its key: the one its v2 id already has, else the id its source gave it
    /// (recorded for its v2 id). `adopt` offers an earlier key for a record seen for the first
    /// time by its v2 id (a record synced by a version that did not yet keep v2 ids).
    fn key(&mut self, kind: IdKind, raw: i64, ids: &SourceIds, adopt: Option<i64>) -> i64 {
        let Some(v2) = ids.v2.as_deref().map(normal) else {
            return raw;
        };
        if let Some(&key) = self.known.get(&(kind, v2.clone())) {
            return key;
        }
        let key = match adopt {
            Some(earlier) if ids.v1.is_none() => earlier,
            _ => raw,
        };
        self.known.insert((kind, v2.clone()), key);
        self.added.push((kind, v2, key));
        key
    }

    /// Keys this run's types. `earlier` are the types synced before (key, name): a v2 type seen
    /// for the first time takes the key of an earlier v1 type of the same name, so that its event
    /// mapping carries over.
    pub fn types(&mut self, types: &mut [AbsenceType], earlier: &[(i64, String)]) {
        let keyed: std::collections::HashSet<i64> = self.known.values().copied().collect();
        for t in types.iter_mut() {
            let adopt = earlier
                .iter()
                .find(|(key, name)| {
                    *key < DERIVED_BASE as i64
                        && !keyed.contains(key)
                        && name.trim().eq_ignore_ascii_case(t.name.trim())
                })
                .map(|(key, _)| *key);
            let key = self.key(IdKind::Type, t.id, &t.ids, adopt);
            self.type_keys.insert(t.id, key);
            t.id = key;
        }
    }

    /// Keys periods (after [`Self::types`]). `cached` are the periods known before: a v2 period
    /// seen for the first time takes the key of a cached v1 period with the same person, type,
    /// days and half days (Personio does not let one person's absences overlap), and the ids
    /// either API gave a period are kept together.
    pub fn periods(&mut self, periods: &mut [AbsencePeriod], cached: &[AbsencePeriod]) {
        for p in periods.iter_mut() {
            if let Some(&key) = self.type_keys.get(&p.type_id) {
                p.type_id = key;
            }
            let adopt = cached
                .iter()
                .find(|c| c.ids.v2.is_none() && same_absence(c, p))
                .map(|c| c.id);
            p.id = self.key(IdKind::Period, p.id, &p.ids, adopt);
            if let Some(before) = cached.iter().find(|c| c.id == p.id) {
                p.ids.v1 = p.ids.v1.or(before.ids.v1);
                p.ids.v2 = p.ids.v2.take().or_else(|| before.ids.v2.clone());
            }
        }
    }
}

fn normal(v2: &str) -> String {
    v2.trim().to_ascii_lowercase()
}

fn same_absence(a: &AbsencePeriod, b: &AbsencePeriod) -> bool {
    a.employee_id == b.employee_id
        && a.type_id == b.type_id
        && a.start == b.start
        && a.end == b.end
        && a.half_day_start == b.half_day_start
        && a.half_day_end == b.half_day_end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{AbsenceUnit, PeriodStatus};

    fn ids(v1: Option<i64>, v2: Option<&str>) -> SourceIds {
        SourceIds {
            v1,
            v2: v2.map(str::to_string),
        }
    }

    fn period(id: i64, ids: SourceIds, type_id: i64) -> AbsencePeriod {
        AbsencePeriod {
            id,
            ids,
            employee_id: 7,
            email: "ann@example.com".into(),
            type_id,
            type_name: "Vacation".into(),
            status: PeriodStatus::Approved,
            start: "2026-12-07".parse().unwrap(),
            end: "2026-12-09".parse().unwrap(),
            half_day_start: false,
            half_day_end: true,
            name: None,
        }
    }

    fn kind(id: i64, ids: SourceIds, name: &str) -> AbsenceType {
        AbsenceType {
            id,
            ids,
            name: name.into(),
            category: None,
            unit: AbsenceUnit::Day,
        }
    }

    const UUID: &str = "f8228cda-5615-4e81-8cba-21fa5e996291";
    const TYPE_UUID: &str = "ef02a5fa-8bf0-43d9-9b93-6ddd496e42b9";

    #[test]
    fn derived_keys_are_stable_positive_and_above_v1_ids() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector); folded into the
        // derived range it keeps its low 62 bits.
        assert_eq!(
            key_for_v2("a"),
            ((1u64 << 62) | (0xaf63_dc4c_8601_ec8c & ((1 << 62) - 1))) as i64
        );
        assert_eq!(key_for_v2(UUID), key_for_v2(&UUID.to_uppercase()));
        assert_ne!(key_for_v2(UUID), key_for_v2(TYPE_UUID));
        assert!(key_for_v2(UUID) > i64::from(u32::MAX) * 1_000);
    }

    #[test]
    fn a_v1_record_keeps_its_id_and_teaches_its_v2_id() {
        let mut ids_ = Identities::new([]);
        let mut types = [kind(10, ids(Some(10), Some(TYPE_UUID)), "Vacation")];
        ids_.types(&mut types, &[]);
        let mut periods = [period(500, ids(Some(500), Some(UUID)), 10)];
        ids_.periods(&mut periods, &[]);
        assert_eq!(
            (types[0].id, periods[0].id, periods[0].type_id),
            (10, 500, 10)
        );
        assert_eq!(
            ids_.added(),
            &[
                (IdKind::Type, TYPE_UUID.to_string(), 10),
                (IdKind::Period, UUID.to_string(), 500)
            ]
        );
    }

    #[test]
    fn a_v2_read_finds_the_keys_v1_gave() {
        let mut ids_ = Identities::new([
            (IdKind::Type, TYPE_UUID.to_string(), 10),
            (IdKind::Period, UUID.to_uppercase(), 500),
        ]);
        let mut types = [kind(
            key_for_v2(TYPE_UUID),
            ids(None, Some(TYPE_UUID)),
            "Vacation",
        )];
        ids_.types(&mut types, &[(10, "Vacation".into())]);
        let mut periods = [period(
            key_for_v2(UUID),
            ids(None, Some(UUID)),
            key_for_v2(TYPE_UUID),
        )];
        let cached = [period(500, ids(Some(500), Some(UUID)), 10)];
        ids_.periods(&mut periods, &cached);
        assert_eq!(
            (types[0].id, periods[0].id, periods[0].type_id),
            (10, 500, 10)
        );
        // The v1 id stays known, for lookups after switching back.
        assert_eq!(periods[0].ids, ids(Some(500), Some(UUID)));
        assert!(ids_.added().is_empty());
    }

    #[test]
    fn a_v2_only_record_gets_its_derived_key_and_v1_then_finds_it() {
        let mut first = Identities::new([]);
        let mut periods = [period(key_for_v2(UUID), ids(None, Some(UUID)), 10)];
        first.periods(&mut periods, &[]);
        assert_eq!(periods[0].id, key_for_v2(UUID));
        let mut back = Identities::new(first.added().to_vec());
        let mut periods = [period(900, ids(Some(900), Some(UUID)), 10)];
        back.periods(&mut periods, &[]);
        assert_eq!(periods[0].id, key_for_v2(UUID));
    }

    #[test]
    fn records_synced_before_v2_ids_were_kept_are_adopted_by_content() {
        let mut ids_ = Identities::new([]);
        let mut types = [kind(
            key_for_v2(TYPE_UUID),
            ids(None, Some(TYPE_UUID)),
            " vacation",
        )];
        ids_.types(&mut types, &[(3, "Sick".into()), (10, "Vacation".into())]);
        assert_eq!(types[0].id, 10);
        let cached = [period(500, ids(Some(500), None), 10)];
        let mut periods = [period(
            key_for_v2(UUID),
            ids(None, Some(UUID)),
            key_for_v2(TYPE_UUID),
        )];
        ids_.periods(&mut periods, &cached);
        assert_eq!(periods[0].id, 500);
        // A different absence of the same person is not adopted.
        let mut other = [period(key_for_v2("x"), ids(None, Some("x")), 10)];
        other[0].end = "2026-12-10".parse().unwrap();
        ids_.periods(&mut other, &cached);
        assert_eq!(other[0].id, key_for_v2("x"));
    }
}
