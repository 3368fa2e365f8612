//! Pure conversion of v2 records into domain values: local wall times, half days, the end-date
//! convention, approval states. No I/O: what needs another request (a type's unit, a person's
//! email, the learnt end convention) comes in as [`Context`].

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::Value;

use super::wire;
use crate::domain::key_for_v2;
use crate::domain::model::{
    AbsencePeriod, AbsenceType, AbsenceUnit, EmployeeName, HourlyAbsence, PeriodStatus,
    RejectedRecord, SourceIds,
};

/// What a period's conversion needs to know about its absence type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeInfo {
    pub name: String,
    pub unit: AbsenceUnit,
}

/// How a day-unit period's `ends_at` at local midnight after its first day is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndRule {
    /// The midnight that ends the last day (Personio's live convention): last day = end - 1.
    Exclusive,
    /// The last day itself.
    Inclusive,
}

/// What converting one period needs from elsewhere.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub kind: Option<&'a TypeInfo>,
    /// `Err` holds the reason there is none.
    pub email: Result<&'a str, &'a str>,
    /// The person's name, when `/v2/persons` gave it (only for match suggestions).
    pub name: Option<&'a EmployeeName>,
    pub end_rule: EndRule,
    /// Where a period without an end ends: the last day the read asked about.
    pub open_end: NaiveDate,
}

pub const NO_EMAIL: &str = "no employee email (is the email attribute whitelisted?)";

pub fn rejected(id: Option<&str>, reason: impl Into<String>) -> RejectedRecord {
    RejectedRecord {
        id: id.map(str::to_string),
        reason: reason.into(),
    }
}

/// Decodes one raw record, or says which record could not be read and why.
pub fn decode<T: serde::de::DeserializeOwned>(record: Value) -> Result<T, RejectedRecord> {
    let id = wire::raw_id(&record);
    serde_json::from_value(record).map_err(|e| rejected(id.as_deref(), e.to_string()))
}

/// A v2 local date-time as written (`2026-06-05T00:00:00`, maybe `.000`). A stray `Z` or offset is
/// ignored rather than applied: the wall time is what the absence means, and converting would move
/// local midnights to another day. A plain date reads as its midnight.
pub fn wall_time(raw: &str) -> Result<NaiveDateTime, String> {
    let trimmed = raw.trim();
    let unreadable = || format!("unreadable date-time {raw:?}");
    let mut wall = trimmed.trim_end_matches(['Z', 'z']);
    // An offset starts with + or - after the date (whose own dashes end at byte 10).
    if let Some(at) = wall.get(10..).and_then(|t| t.find(['+', '-'])) {
        wall = &wall[..10 + at];
    }
    NaiveDateTime::parse_from_str(wall, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(wall, "%Y-%m-%d %H:%M:%S%.f"))
        .or_else(|_| {
            NaiveDate::parse_from_str(wall, "%Y-%m-%d").map(|d| d.and_time(NaiveTime::MIN))
        })
        .map_err(|_| unreadable())
}

/// The end date of a day-unit period whose end is ambiguous (local midnight after its first
/// day), which only the learnt [`EndRule`] resolves; `None` for any other end.
pub fn ambiguous_end(p: &wire::Period) -> Option<NaiveDate> {
    let start = wall_time(&p.starts_from.date_time).ok()?;
    let end = wall_time(&p.ends_at.as_ref()?.date_time).ok()?;
    (end.time() == NaiveTime::MIN && end.date() > start.date()).then(|| end.date())
}

/// An absence type; the key is derived from its v2 id.
pub fn absence_type(t: wire::AbsenceType) -> Result<(TypeInfo, AbsenceType), RejectedRecord> {
    let unit = match t
        .unit
        .as_deref()
        .map(|u| u.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("DAY") => AbsenceUnit::Day,
        Some("HOUR") => AbsenceUnit::Hour,
        other => {
            return Err(rejected(
                Some(&t.id),
                format!("unknown absence unit {other:?} (expected DAY or HOUR)"),
            ))
        }
    };
    let name = t.name.unwrap_or_default();
    let info = TypeInfo {
        name: name.clone(),
        unit,
    };
    let domain = AbsenceType {
        id: key_for_v2(&t.id),
        ids: SourceIds {
            v1: None,
            v2: Some(t.id),
        },
        name,
        category: t.category.filter(|c| !c.trim().is_empty()),
        unit,
    };
    Ok((info, domain))
}

/// Personio's open set of approval states; only APPROVED is booked.
pub fn status(approval: Option<&wire::Approval>) -> Option<PeriodStatus> {
    let raw = approval?.status.as_deref()?.trim();
    Some(match raw.to_ascii_uppercase().as_str() {
        "" => return None,
        "APPROVED" => PeriodStatus::Approved,
        "PENDING" => PeriodStatus::Pending,
        _ => PeriodStatus::Other(raw.to_ascii_lowercase()),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Half {
    First,
    Second,
}

fn half(id: &str, raw: Option<&str>, whole: Half) -> Result<Half, RejectedRecord> {
    match raw.map(|h| h.trim().to_ascii_uppercase()).as_deref() {
        None | Some("") => Ok(whole),
        Some("FIRST_HALF") => Ok(Half::First),
        Some("SECOND_HALF") => Ok(Half::Second),
        Some(other) => Err(rejected(
            Some(id),
            format!("unknown half-day type {other:?}"),
        )),
    }
}

/// A day-unit period. Start `SECOND_HALF` begins at midday, end `FIRST_HALF` ends at midday; on
/// a single day `FIRST_HALF..FIRST_HALF` is the morning and `SECOND_HALF..SECOND_HALF` the
/// afternoon (the domain's `half_day_start` / `half_day_end` there).
pub fn period(p: &wire::Period, ctx: &Context<'_>) -> Result<AbsencePeriod, RejectedRecord> {
    let id = p.id.as_str();
    let reject = |reason: String| rejected(Some(id), reason);
    let kind = ctx.kind.ok_or_else(|| {
        reject(format!(
            "unknown absence type {:?}",
            p.absence_type.id.as_str()
        ))
    })?;
    if kind.unit == AbsenceUnit::Hour {
        return Err(reject(format!(
            "absence type {:?} is measured in hours",
            kind.name
        )));
    }
    let start = wall_time(&p.starts_from.date_time).map_err(&reject)?.date();
    let end = match &p.ends_at {
        None => ctx.open_end.max(start),
        Some(b) => {
            let end = wall_time(&b.date_time).map_err(&reject)?;
            let ends_at_midnight = end.time() == NaiveTime::MIN && end.date() > start;
            match ctx.end_rule {
                EndRule::Exclusive if ends_at_midnight => end.date() - Days::new(1),
                _ => end.date(),
            }
        }
    };
    if end < start {
        return Err(reject(format!("ends ({end}) before it starts ({start})")));
    }
    let first = half(id, p.starts_from.half.as_deref(), Half::First)?;
    let last = match &p.ends_at {
        Some(b) => half(id, b.half.as_deref(), Half::Second)?,
        None => Half::Second,
    };
    let (half_day_start, half_day_end) = if start == end {
        match (first, last) {
            (Half::First, Half::Second) => (false, false),
            (Half::First, Half::First) => (true, false),
            (Half::Second, Half::Second) => (false, true),
            (Half::Second, Half::First) => {
                return Err(reject(
                    "starts at midday and ends at midday of the same day".into(),
                ))
            }
        }
    } else {
        (first == Half::Second, last == Half::First)
    };
    let email = ctx.email.map_err(|reason| reject(reason.to_string()))?;
    let status = status(p.approval.as_ref()).ok_or_else(|| reject("no approval status".into()))?;
    Ok(AbsencePeriod {
        id: key_for_v2(id),
        ids: SourceIds {
            v1: None,
            v2: Some(id.to_string()),
        },
        employee_id: employee_key(&p.person.id),
        email: email.to_string(),
        type_id: key_for_v2(&p.absence_type.id),
        type_name: kind.name.clone(),
        status,
        start,
        end,
        half_day_start,
        half_day_end,
        name: ctx.name.cloned(),
    })
}

/// Why an hour-unit period's minutes are not known yet: it spans days, so they come from its
/// breakdown (read by the caller).
pub const NEEDS_BREAKDOWN: &str = "spans several days without a per-day breakdown";

/// An hour-unit period. Its clock times (local wall time) give its day and, within one day, its
/// minutes; one spanning days carries [`NEEDS_BREAKDOWN`] until its breakdown is read.
pub fn hourly(p: &wire::Period, ctx: &Context<'_>) -> Result<HourlyAbsence, RejectedRecord> {
    let reject = |reason: String| rejected(Some(&p.id), reason);
    let from = wall_time(&p.starts_from.date_time).map_err(&reject)?;
    let until = match &p.ends_at {
        Some(b) => Some(wall_time(&b.date_time).map_err(&reject)?),
        None => None,
    };
    let minutes = match until {
        None => Err("has no end yet".to_string()),
        Some(until) if until < from => Err(format!("ends ({until}) before it starts ({from})")),
        // Within one day, or up to the midnight that ends it.
        Some(until)
            if until.date() == from.date()
                || (until.time() == NaiveTime::MIN
                    && until.date() == from.date() + Days::new(1)) =>
        {
            Ok(vec![(from.date(), (until - from).num_minutes())])
        }
        Some(_) => Err(NEEDS_BREAKDOWN.to_string()),
    };
    let email = ctx.email.map_err(|reason| reject(reason.to_string()))?;
    Ok(HourlyAbsence {
        id: p.id.clone(),
        email: email.to_string(),
        type_id: Some(key_for_v2(&p.absence_type.id)),
        type_name: ctx.kind.map(|k| k.name.clone()).unwrap_or_default(),
        status: status(p.approval.as_ref()).ok_or_else(|| reject("no approval status".into()))?,
        start: from.date(),
        end: until.map(|u| u.date()),
        minutes,
    })
}

/// Minutes per day from a period's breakdown; any day given in another unit makes it unknown.
pub fn breakdown_minutes(days: &[wire::Breakdown]) -> Result<Vec<(NaiveDate, i64)>, String> {
    if days.is_empty() {
        return Err(NEEDS_BREAKDOWN.to_string());
    }
    let mut minutes = std::collections::BTreeMap::new();
    for b in days {
        let date = wall_time(&b.date)?.date();
        let m = b
            .effective_duration
            .as_ref()
            .and_then(wire::Amount::minutes)
            .ok_or_else(|| format!("the breakdown of {date} gives no time in hours"))?;
        *minutes.entry(date).or_insert(0) += m;
    }
    Ok(minutes.into_iter().collect())
}

/// v2 person ids are the v1 employee ids as text, which keeps the employee keys of both
/// versions equal; any other id gets a derived key.
fn employee_key(person: &str) -> i64 {
    person
        .trim()
        .parse::<i64>()
        .unwrap_or_else(|_| key_for_v2(person))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn vacation() -> TypeInfo {
        TypeInfo {
            name: "Vacation".into(),
            unit: AbsenceUnit::Day,
        }
    }

    fn raw(start: &str, start_half: &str, end: Option<(&str, &str)>, status: &str) -> wire::Period {
        serde_json::from_value(json!({
            "id": "f8228cda-5615-4e81-8cba-21fa5e996291",
            "person": {"id": "3003"},
            "absence_type": {"id": "ef02a5fa-8bf0-43d9-9b93-6ddd496e42b9"},
            "starts_from": {"date_time": start, "type": start_half},
            "ends_at": end.map(|(e, h)| json!({"date_time": e, "type": h})),
            "approval": {"status": status},
        }))
        .unwrap()
    }

    fn convert(p: &wire::Period, rule: EndRule) -> Result<AbsencePeriod, RejectedRecord> {
        let kind = vacation();
        period(
            p,
            &Context {
                kind: Some(&kind),
                email: Ok("jen.doe@example.com"),
                name: None,
                end_rule: rule,
                open_end: d("2026-07-31"),
            },
        )
    }

    /// (first day, last day, half_day_start, half_day_end)
    fn days(p: &AbsencePeriod) -> (NaiveDate, NaiveDate, bool, bool) {
        (p.start, p.end, p.half_day_start, p.half_day_end)
    }

    #[test]
    fn a_full_day_ends_at_the_next_midnight() {
        let p = raw(
            "2026-06-05T00:00:00",
            "FIRST_HALF",
            Some(("2026-06-06T00:00:00", "SECOND_HALF")),
            "APPROVED",
        );
        let got = convert(&p, EndRule::Exclusive).unwrap();
        assert_eq!(days(&got), (d("2026-06-05"), d("2026-06-05"), false, false));
        assert_eq!(got.employee_id, 3003);
        assert_eq!(got.email, "jen.doe@example.com");
        assert_eq!(got.type_name, "Vacation");
        assert_eq!(got.status, PeriodStatus::Approved);
        assert_eq!(
            got.ids.v2.as_deref(),
            Some("f8228cda-5615-4e81-8cba-21fa5e996291")
        );
        assert_eq!(
            (got.id, got.type_id),
            (
                key_for_v2("f8228cda-5615-4e81-8cba-21fa5e996291"),
                key_for_v2("ef02a5fa-8bf0-43d9-9b93-6ddd496e42b9")
            )
        );
        // Read inclusively, the same end is the next day too.
        let inclusive = convert(&p, EndRule::Inclusive).unwrap();
        assert_eq!(
            days(&inclusive),
            (d("2026-06-05"), d("2026-06-06"), false, false)
        );
    }

    #[test]
    fn an_end_on_the_first_day_is_that_day() {
        for rule in [EndRule::Exclusive, EndRule::Inclusive] {
            let p = raw(
                "2026-06-05T00:00:00",
                "FIRST_HALF",
                Some(("2026-06-05T00:00:00", "SECOND_HALF")),
                "APPROVED",
            );
            let got = convert(&p, rule).unwrap();
            assert_eq!(days(&got), (d("2026-06-05"), d("2026-06-05"), false, false));
        }
    }

    #[test]
    fn every_half_day_combination() {
        // (start half, end half, end date) → (last day, half_day_start, half_day_end)
        let cases = [
            // Multi-day (10th to 12th, exclusive end on the 13th).
            (
                "FIRST_HALF",
                "SECOND_HALF",
                "2026-06-13",
                ("2026-06-12", false, false),
            ),
            (
                "SECOND_HALF",
                "SECOND_HALF",
                "2026-06-13",
                ("2026-06-12", true, false),
            ),
            (
                "FIRST_HALF",
                "FIRST_HALF",
                "2026-06-13",
                ("2026-06-12", false, true),
            ),
            (
                "SECOND_HALF",
                "FIRST_HALF",
                "2026-06-13",
                ("2026-06-12", true, true),
            ),
            // A single day: the morning, the afternoon.
            (
                "FIRST_HALF",
                "FIRST_HALF",
                "2026-06-11",
                ("2026-06-10", true, false),
            ),
            (
                "SECOND_HALF",
                "SECOND_HALF",
                "2026-06-11",
                ("2026-06-10", false, true),
            ),
        ];
        for (start_half, end_half, end, (last, hs, he)) in cases {
            let end_time = format!("{end}T00:00:00");
            let p = raw(
                "2026-06-10T00:00:00",
                start_half,
                Some((end_time.as_str(), end_half)),
                "APPROVED",
            );
            let got = convert(&p, EndRule::Exclusive).unwrap();
            assert_eq!(
                days(&got),
                (d("2026-06-10"), d(last), hs, he),
                "{start_half}..{end_half} to {end}"
            );
        }
        let backwards = raw(
            "2026-06-10T00:00:00",
            "SECOND_HALF",
            Some(("2026-06-11T00:00:00", "FIRST_HALF")),
            "APPROVED",
        );
        let err = convert(&backwards, EndRule::Exclusive).unwrap_err();
        assert!(err.reason.contains("midday"), "{err:?}");
        let odd = raw("2026-06-10T00:00:00", "MORNING", None, "APPROVED");
        assert!(convert(&odd, EndRule::Exclusive)
            .unwrap_err()
            .reason
            .contains("MORNING"));
    }

    #[test]
    fn an_open_end_ends_with_the_read() {
        let p = raw("2026-06-20T00:00:00", "FIRST_HALF", None, "APPROVED");
        let got = convert(&p, EndRule::Exclusive).unwrap();
        assert_eq!(days(&got), (d("2026-06-20"), d("2026-07-31"), false, false));
        // Starting after the read's last day, it is at least its first day.
        let late = raw("2026-08-03T00:00:00", "SECOND_HALF", None, "APPROVED");
        let got = convert(&late, EndRule::Exclusive).unwrap();
        assert_eq!(days(&got), (d("2026-08-03"), d("2026-08-03"), false, true));
    }

    #[test]
    fn a_stray_zone_is_ignored() {
        for (start, end) in [
            ("2026-06-10T00:00:00Z", "2026-06-13T00:00:00Z"),
            ("2026-06-10T00:00:00.000", "2026-06-13T00:00:00.000+02:00"),
            ("2026-06-10T00:00:00-05:00", "2026-06-13T00:00:00.000Z"),
        ] {
            let p = raw(start, "FIRST_HALF", Some((end, "SECOND_HALF")), "APPROVED");
            let got = convert(&p, EndRule::Exclusive).unwrap();
            assert_eq!(
                days(&got),
                (d("2026-06-10"), d("2026-06-12"), false, false),
                "{end}"
            );
        }
        assert!(wall_time("10.06.2026").is_err());
        assert_eq!(
            wall_time("2026-06-10").unwrap(),
            d("2026-06-10").and_time(NaiveTime::MIN)
        );
    }

    #[test]
    fn approval_states() {
        let end = Some(("2026-06-11T00:00:00", "SECOND_HALF"));
        let status_of = |s: &str| {
            convert(
                &raw("2026-06-10T00:00:00", "FIRST_HALF", end, s),
                EndRule::Exclusive,
            )
        };
        assert_eq!(
            status_of("approved").unwrap().status,
            PeriodStatus::Approved
        );
        assert_eq!(status_of("PENDING").unwrap().status, PeriodStatus::Pending);
        assert_eq!(
            status_of("DELETION_PENDING").unwrap().status,
            PeriodStatus::Other("deletion_pending".into())
        );
        assert!(status_of(" ").unwrap_err().reason.contains("approval"));
    }

    #[test]
    fn broken_records_are_rejected_with_a_reason() {
        let p = raw(
            "2026-06-10T00:00:00",
            "FIRST_HALF",
            Some(("2026-06-11T00:00:00", "SECOND_HALF")),
            "APPROVED",
        );
        let kind = vacation();
        let ctx = Context {
            kind: Some(&kind),
            email: Err(NO_EMAIL),
            name: None,
            end_rule: EndRule::Exclusive,
            open_end: d("2026-07-31"),
        };
        let err = period(&p, &ctx).unwrap_err();
        assert_eq!(err.reason, NO_EMAIL);
        assert_eq!(
            err.id.as_deref(),
            Some("f8228cda-5615-4e81-8cba-21fa5e996291")
        );
        let unknown = period(&p, &Context { kind: None, ..ctx }).unwrap_err();
        assert!(
            unknown.reason.contains("unknown absence type"),
            "{unknown:?}"
        );
        let hours = TypeInfo {
            name: "Doctor".into(),
            unit: AbsenceUnit::Hour,
        };
        let hourly = period(
            &p,
            &Context {
                kind: Some(&hours),
                ..ctx
            },
        )
        .unwrap_err();
        assert!(hourly.reason.contains("hours"), "{hourly:?}");
        let backwards = raw(
            "2026-06-10T00:00:00",
            "FIRST_HALF",
            Some(("2026-06-08T00:00:00", "SECOND_HALF")),
            "APPROVED",
        );
        assert!(convert(&backwards, EndRule::Exclusive)
            .unwrap_err()
            .reason
            .contains("before it starts"));
        let garbled = raw("soon", "FIRST_HALF", None, "APPROVED");
        assert!(convert(&garbled, EndRule::Exclusive).is_err());
        let undecodable = decode::<wire::Period>(json!({"id": "x9", "person": 5}));
        assert_eq!(undecodable.unwrap_err().id.as_deref(), Some("x9"));
    }

    #[test]
    fn non_numeric_person_ids_get_a_derived_key() {
        assert_eq!(employee_key(" 3003 "), 3003);
        assert_eq!(employee_key("p1"), key_for_v2("p1"));
    }

    #[test]
    fn type_units() {
        let t = |unit: Option<&str>| wire::AbsenceType {
            id: "t1".into(),
            name: Some("Vacation".into()),
            category: Some("".into()),
            unit: unit.map(str::to_string),
        };
        let (info, domain) = absence_type(t(Some("day"))).unwrap();
        assert_eq!(info.unit, AbsenceUnit::Day);
        assert_eq!(domain.category, None);
        assert_eq!(domain.ids.v2.as_deref(), Some("t1"));
        assert_eq!(
            absence_type(t(Some("HOUR"))).unwrap().0.unit,
            AbsenceUnit::Hour
        );
        for bad in [None, Some("WEEK")] {
            let err = absence_type(t(bad)).unwrap_err();
            assert!(err.reason.contains("unknown absence unit"), "{err:?}");
        }
    }

    #[test]
    fn hour_periods_take_their_minutes_from_the_clock_or_their_breakdown() {
        let hours = TypeInfo {
            name: "Doctor".into(),
            unit: AbsenceUnit::Hour,
        };
        let minutes = |start: &str, end: Option<&str>| {
            let p = raw(
                start,
                "FIRST_HALF",
                end.map(|e| (e, "SECOND_HALF")),
                "APPROVED",
            );
            let ctx = Context {
                kind: Some(&hours),
                email: Ok("jen.doe@example.com"),
                name: None,
                end_rule: EndRule::Inclusive,
                open_end: d("2026-07-31"),
            };
            hourly(&p, &ctx).unwrap().minutes
        };
        let one_day = Ok(vec![(d("2026-06-10"), 150)]);
        assert_eq!(
            minutes("2026-06-10T09:00:00", Some("2026-06-10T11:30:00")),
            one_day
        );
        assert_eq!(
            minutes("2026-06-10T22:00:00", Some("2026-06-11T00:00:00")),
            Ok(vec![(d("2026-06-10"), 120)]),
            "up to the midnight that ends the day"
        );
        assert_eq!(
            minutes("2026-06-10T22:00:00", Some("2026-06-11T02:00:00")),
            Err(NEEDS_BREAKDOWN.to_string())
        );
        assert!(minutes("2026-06-10T09:00:00", None).is_err());
        assert!(minutes("2026-06-10T09:00:00", Some("2026-06-10T08:00:00")).is_err());

        let breakdown =
            |items: Value| -> Vec<wire::Breakdown> { serde_json::from_value(items).unwrap() };
        assert_eq!(
            breakdown_minutes(&breakdown(json!([
                {"date": "2026-06-10", "effective_duration": {"unit": "HOUR", "value": 2}},
                {"date": "2026-06-11T00:00:00", "effective_duration": {"unit": "hours", "value": "1.5"}},
                {"date": "2026-06-12", "effective_duration": {"unit": "MINUTES", "value": 45}},
            ]))),
            Ok(vec![
                (d("2026-06-10"), 120),
                (d("2026-06-11"), 90),
                (d("2026-06-12"), 45)
            ])
        );
        for unreadable in [
            json!([{"date": "2026-06-10", "effective_duration": {"unit": "DAY", "value": 1}}]),
            json!([{"date": "2026-06-10"}]),
            json!([{"date": "2026-06-10", "effective_duration": {"unit": "HOUR", "value": -1}}]),
            json!([]),
        ] {
            assert!(
                breakdown_minutes(&breakdown(unreadable.clone())).is_err(),
                "{unreadable}"
            );
        }
    }
}
