//! [`AbsenceSource`] over API v2: absence types (cached for the periods, which name only the
//! type's id), day-unit periods filtered by overlap, hour-unit ones for reporting, lookups by id,
//! and the calibration that learns how Personio writes a period's end.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde_json::Value;

use super::client::{PersonioV2Client, ABSENCES_READ, API};
use super::periods::{self, decode, Context, EndRule, TypeInfo, NO_EMAIL};
use super::persons::Email;
use super::wire;
use crate::domain::model::{
    AbsencePeriod, AbsenceType, AbsenceUnit, EmployeeName, Fetched, HourlyAbsence, RejectedRecord,
    SourceIds,
};
use crate::http::ApiError;
use crate::personio::{AbsenceSource, Lookup, TimeOffQuery};

const PERIODS_LIMIT: usize = 100;
const TYPES_LIMIT: usize = 100;
const BREAKDOWNS_LIMIT: usize = 28;
/// Periods whose breakdowns are read before the exclusive convention is assumed.
const CALIBRATION_TRIES: usize = 3;

/// What the client knows of the end-date convention: learnt once per client from breakdowns.
#[derive(Debug, Default)]
pub struct EndConvention {
    learnt: Option<EndRule>,
    tried: HashSet<String>,
}

#[async_trait::async_trait]
impl AbsenceSource for PersonioV2Client {
    async fn absence_types(&self) -> Result<Fetched<AbsenceType>, ApiError> {
        let url = self.url("/v2/absence-types", &[("limit", TYPES_LIMIT.to_string())]);
        let mut fetched = Fetched::default();
        let mut known = HashMap::new();
        for record in unique(self.read_pages(url, ABSENCES_READ).await?) {
            match decode::<wire::AbsenceType>(record).and_then(periods::absence_type) {
                Ok((info, domain)) => {
                    if let Some(id) = &domain.ids.v2 {
                        known.insert(id.clone(), info);
                    }
                    fetched.items.push(domain);
                }
                Err(rejected) => reject(&mut fetched.rejected, rejected),
            }
        }
        *self.types.lock().await = Some(Arc::new(known));
        Ok(fetched)
    }

    async fn time_offs(&self, query: &TimeOffQuery) -> Result<Fetched<AbsencePeriod>, ApiError> {
        let (raw, undecodable) = self.read_periods(query, AbsenceUnit::Day).await?;
        if query.updated_from.is_none() {
            *self.open_end.lock().await = Some(query.to);
        }
        let mut fetched = self.convert(raw, undecodable, query.to).await?;
        fetched
            .items
            .retain(|p| p.start <= query.to && p.end >= query.from);
        Ok(fetched)
    }

    async fn time_off(&self, ids: &SourceIds) -> Result<Lookup<AbsencePeriod>, ApiError> {
        let Some(id) = ids.v2.as_deref() else {
            return Ok(Lookup::Unreadable(RejectedRecord {
                id: ids.v1.map(|id| id.to_string()),
                reason: "no Personio v2 id to look the period up by (read through API v1?)".into(),
            }));
        };
        let period = match self.period_by_id(id).await? {
            None => return Ok(Lookup::Gone),
            Some(Err(rejected)) => return Ok(Lookup::Unreadable(rejected)),
            Some(Ok(p)) => p,
        };
        let types = self.known_types(std::slice::from_ref(&period)).await?;
        if types
            .get(&period.absence_type.id)
            .is_some_and(|t| t.unit == AbsenceUnit::Hour)
        {
            // Not a day-unit period (a webhook names both kinds): hour absences are read whole.
            return Ok(Lookup::Gone);
        }
        // Looked up alone, a period without an end ends where the last whole read ended.
        let open_end = self
            .open_end
            .lock()
            .await
            .unwrap_or_else(|| chrono::Utc::now().date_naive());
        let mut fetched = self.convert(vec![period], Vec::new(), open_end).await?;
        Ok(match (fetched.items.pop(), fetched.rejected.pop()) {
            (Some(p), _) => Lookup::Found(p),
            (None, Some(rejected)) => Lookup::Unreadable(rejected),
            (None, None) => Lookup::Gone,
        })
    }

    /// Never: cursor pages carry no totals, so a read cannot prove a record absent (a page may
    /// come back short without saying so). Every period that vanishes from a read is looked up
    /// by id before it counts as deleted; deletions are rare, so that costs little.
    fn could_return(&self, _query: &TimeOffQuery, _p: &AbsencePeriod) -> bool {
        false
    }

    async fn hourly_absences(
        &self,
        query: &TimeOffQuery,
    ) -> Result<Fetched<HourlyAbsence>, ApiError> {
        let (raw, undecodable) = self.read_periods(query, AbsenceUnit::Hour).await?;
        let types = self.known_types(&raw).await?;
        let persons: Vec<String> = raw.iter().map(|p| p.person.id.clone()).collect();
        let emails = self.emails(&persons).await?;
        let mut fetched = Fetched::default();
        for rejected in undecodable {
            reject(&mut fetched.rejected, rejected);
        }
        for p in raw {
            let ctx = Context {
                kind: types.get(&p.absence_type.id),
                email: email_of(&emails, &p.person.id),
                name: name_of(&emails, &p.person.id),
                end_rule: EndRule::Inclusive,
                open_end: query.to,
            };
            match periods::hourly(&p, &ctx) {
                Ok(a) => fetched.items.push(a),
                Err(rejected) => reject(&mut fetched.rejected, rejected),
            }
        }
        fetched
            .items
            .retain(|a| a.start <= query.to && a.end.unwrap_or(query.to) >= query.from);
        for a in &mut fetched.items {
            self.complete_minutes(a).await?;
        }
        Ok(fetched)
    }

    /// Looked up by id: a cursor read proves nothing absent (see [`Self::could_return`]).
    async fn confirm_hourly(&self, id: &str) -> Result<Lookup<HourlyAbsence>, ApiError> {
        let Some(p) = self.period_by_id(id).await? else {
            return Ok(Lookup::Gone);
        };
        let p = match p {
            Ok(p) => p,
            Err(rejected) => return Ok(Lookup::Unreadable(rejected)),
        };
        let types = self.known_types(std::slice::from_ref(&p)).await?;
        let emails = self.emails(std::slice::from_ref(&p.person.id)).await?;
        let ctx = Context {
            kind: types.get(&p.absence_type.id),
            email: email_of(&emails, &p.person.id),
            name: name_of(&emails, &p.person.id),
            end_rule: EndRule::Inclusive,
            open_end: chrono::Utc::now().date_naive(),
        };
        Ok(match periods::hourly(&p, &ctx) {
            Ok(mut a) => {
                self.complete_minutes(&mut a).await?;
                Lookup::Found(a)
            }
            Err(rejected) => Lookup::Unreadable(rejected),
        })
    }
}

impl PersonioV2Client {
    /// One period by id: `None` when Personio no longer has it.
    async fn period_by_id(
        &self,
        id: &str,
    ) -> Result<Option<Result<wire::Period, RejectedRecord>>, ApiError> {
        let url = self.url(&format!("/v2/absence-periods/{}", path_segment(id)), &[]);
        let reply = match self.get(url, ABSENCES_READ).await {
            Ok(reply) => reply,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let record = wire::unwrap_single(reply.json::<Value>(API)?);
        Ok(Some(decode::<wire::Period>(record)))
    }

    /// An hour-unit period spanning days takes its minutes from its breakdown.
    async fn complete_minutes(&self, a: &mut HourlyAbsence) -> Result<(), ApiError> {
        if !matches!(&a.minutes, Err(reason) if reason == periods::NEEDS_BREAKDOWN) {
            return Ok(());
        }
        if let Some(days) = self.breakdowns(&a.id).await? {
            a.minutes = periods::breakdown_minutes(&days);
        }
        Ok(())
    }

    /// The absence types, read when not yet known.
    async fn types(&self) -> Result<Arc<HashMap<String, TypeInfo>>, ApiError> {
        if let Some(types) = self.types.lock().await.clone() {
            return Ok(types);
        }
        self.absence_types().await?;
        Ok(self.types.lock().await.clone().unwrap_or_default())
    }

    /// The types, read again when one of `raw` names a type not yet known.
    async fn known_types(
        &self,
        raw: &[wire::Period],
    ) -> Result<Arc<HashMap<String, TypeInfo>>, ApiError> {
        let types = self.types().await?;
        if raw.iter().all(|p| types.contains_key(&p.absence_type.id)) {
            return Ok(types);
        }
        self.absence_types().await?;
        self.types().await
    }

    /// The periods of `unit`'s types that `query` asks for, decoded, and the records that
    /// would not decode.
    async fn read_periods(
        &self,
        query: &TimeOffQuery,
        unit: AbsenceUnit,
    ) -> Result<(Vec<wire::Period>, Vec<RejectedRecord>), ApiError> {
        let types = self.types().await?;
        let mut type_ids: Vec<&str> = types
            .iter()
            .filter(|(_, t)| t.unit == unit)
            .map(|(id, _)| id.as_str())
            .collect();
        if type_ids.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        type_ids.sort_unstable();
        let mut params = vec![
            ("limit", PERIODS_LIMIT.to_string()),
            ("absence_type.id", type_ids.join(",")),
        ];
        match query.updated_from {
            // Periods of any dates changed since the day before (changes late on the previous
            // run's day in any zone); Personio takes UTC with `Z` here.
            Some(since) => params.push((
                "updated_at.gte",
                format!("{}T00:00:00Z", since - Days::new(1)),
            )),
            None => {
                // Overlap filters in naive local time: long absences need no reach-back, but an
                // earlier start asked for is honoured.
                let from = query.reach_back.map_or(query.from, |r| r.min(query.from));
                params.push(("ends_at.date_time.gte", format!("{from}T00:00:00")));
                params.push((
                    "starts_from.date_time.lte",
                    format!("{}T23:59:59", query.to),
                ));
            }
        }
        let url = self.url("/v2/absence-periods", &params);
        let mut decoded = Vec::new();
        let mut undecodable = Vec::new();
        let mut seen = HashSet::new();
        self.read_pages_each(url, ABSENCES_READ, |record| {
            // A repeat across pages is one record.
            if wire::raw_id(&record).is_some_and(|id| !seen.insert(id)) {
                return;
            }
            match decode::<wire::Period>(record) {
                Ok(p) => decoded.push(p),
                Err(rejected) => undecodable.push(rejected),
            }
        })
        .await?;
        Ok((decoded, undecodable))
    }

    /// Day-unit periods as domain values: with their types' names and units, their persons'
    /// emails and the end convention.
    async fn convert(
        &self,
        raw: Vec<wire::Period>,
        undecodable: Vec<RejectedRecord>,
        open_end: NaiveDate,
    ) -> Result<Fetched<AbsencePeriod>, ApiError> {
        let types = self.known_types(&raw).await?;
        let persons: Vec<String> = raw.iter().map(|p| p.person.id.clone()).collect();
        let emails = self.emails(&persons).await?;
        let end_rule = self.end_rule(&raw, &types).await?;
        let mut fetched = Fetched::default();
        for rejected in undecodable {
            reject(&mut fetched.rejected, rejected);
        }
        for p in &raw {
            let ctx = Context {
                kind: types.get(&p.absence_type.id),
                email: email_of(&emails, &p.person.id),
                name: name_of(&emails, &p.person.id),
                end_rule,
                open_end,
            };
            match periods::period(p, &ctx) {
                Ok(period) => fetched.items.push(period),
                Err(rejected) => reject(&mut fetched.rejected, rejected),
            }
        }
        Ok(fetched)
    }

    /// How to read the ambiguous ends among `raw`. Personio writes a day-unit period's end as the
    /// midnight after its last day, but does not document it, so the first ambiguous ends met
    /// are checked against their per-day breakdowns and the answer kept for the client's
    /// lifetime. Only periods ending Tuesday to Friday are checked: a breakdown may leave out
    /// days off, and a weekend on either side of the end would blur the answer.
    async fn end_rule(
        &self,
        raw: &[wire::Period],
        types: &HashMap<String, TypeInfo>,
    ) -> Result<EndRule, ApiError> {
        let mut state = self.ends.lock().await;
        if let Some(rule) = state.learnt {
            return Ok(rule);
        }
        let candidates = raw
            .iter()
            .filter(|p| {
                types
                    .get(&p.absence_type.id)
                    .is_some_and(|t| t.unit == AbsenceUnit::Day)
            })
            .filter_map(|p| periods::ambiguous_end(p).map(|end| (p.id.as_str(), end)))
            .filter(|(_, end)| {
                matches!(
                    end.weekday(),
                    Weekday::Tue | Weekday::Wed | Weekday::Thu | Weekday::Fri
                )
            });
        for (id, end) in candidates {
            if state.tried.len() >= CALIBRATION_TRIES {
                break;
            }
            if !state.tried.insert(id.to_string()) {
                continue;
            }
            let Some(days) = self.breakdown_days(id).await? else {
                continue;
            };
            let learnt = if days.contains(&end) {
                EndRule::Inclusive
            } else if days.iter().max() == Some(&(end - Days::new(1))) {
                EndRule::Exclusive
            } else {
                continue;
            };
            tracing::info!(api = API, period = id, rule = ?learnt, "learnt how Personio writes the end of a day absence");
            state.learnt = Some(learnt);
            return Ok(learnt);
        }
        if state.tried.len() >= CALIBRATION_TRIES {
            tracing::warn!(
                api = API,
                "the breakdowns of {CALIBRATION_TRIES} absence periods did not show how Personio \
                 writes an absence's end; taking it as the midnight after the last day"
            );
            state.learnt = Some(EndRule::Exclusive);
        }
        Ok(EndRule::Exclusive)
    }

    /// The days a period's breakdown lists; `None` when the period is gone.
    async fn breakdown_days(&self, id: &str) -> Result<Option<Vec<NaiveDate>>, ApiError> {
        Ok(self.breakdowns(id).await?.map(|days| {
            days.iter()
                .filter_map(|b| periods::wall_time(&b.date).ok())
                .map(|t| t.date())
                .collect()
        }))
    }

    /// A period's breakdown (unreadable entries left out); `None` when the period is gone.
    async fn breakdowns(&self, id: &str) -> Result<Option<Vec<wire::Breakdown>>, ApiError> {
        let url = self.url(
            &format!("/v2/absence-periods/{}/breakdowns", path_segment(id)),
            &[("limit", BREAKDOWNS_LIMIT.to_string())],
        );
        let records = match self.read_pages(url, ABSENCES_READ).await {
            Ok(records) => records,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(
            records
                .into_iter()
                .filter_map(|r| serde_json::from_value::<wire::Breakdown>(r).ok())
                .collect(),
        ))
    }
}

/// Records in order with repeats (by id) dropped: a repeat across pages is one record.
fn unique(records: Vec<Value>) -> Vec<Value> {
    let mut seen = HashSet::new();
    records
        .into_iter()
        .filter(|r| wire::raw_id(r).is_none_or(|id| seen.insert(id)))
        .collect()
}

fn reject(rejected: &mut Vec<RejectedRecord>, record: RejectedRecord) {
    tracing::warn!(api = API, id = ?record.id, reason = %record.reason, "skipping unreadable record");
    rejected.push(record);
}

fn email_of<'a>(emails: &'a HashMap<String, Email>, person: &str) -> Result<&'a str, &'a str> {
    match emails.get(person) {
        Some(Email::Known(known)) => Ok(&known.email),
        Some(Email::Missing) => Err(NO_EMAIL),
        _ => Err("person not found in /v2/persons"),
    }
}

fn name_of<'a>(emails: &'a HashMap<String, Email>, person: &str) -> Option<&'a EmployeeName> {
    match emails.get(person) {
        Some(Email::Known(known)) => known.name.as_ref(),
        _ => None,
    }
}

/// An id as one path segment: ids are UUIDs, but one that is not must not change the path.
fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
