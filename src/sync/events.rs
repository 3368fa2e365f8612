//! Absence types → Productive events: the recorded event, else an active event of the same name,
//! else a new one; events the sync created follow renames of their type.

use std::collections::HashMap;

use crate::domain::{AbsenceType, Event, EventDraft, EventKind};
use crate::http::ApiError;
use crate::store::TypeMapping;
use crate::telemetry::error_chain;

use super::error::SyncError;
use super::issues::Issues;
use super::run::Syncer;
use crate::domain::Counts;

/// The event id a type mapping holds while the event's create is in flight (the store's column
/// is not nullable; nothing else reads this value).
const EVENT_BEING_CREATED: i64 = 0;

/// The Productive event a Personio type is booked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventRef {
    Id(i64),
    /// Dry runs only: the event a real run would create for this type.
    ToCreate {
        type_id: i64,
    },
}

impl EventRef {
    pub fn id(self) -> Option<i64> {
        match self {
            Self::Id(id) => Some(id),
            Self::ToCreate { .. } => None,
        }
    }
}

/// Every type's event, by Personio type id.
#[derive(Debug, Clone, Default)]
pub struct EventMap(pub HashMap<i64, EventRef>);

impl EventMap {
    /// The events bookings of the sync can be on (to read them back).
    pub fn existing(&self) -> Vec<i64> {
        self.0.values().filter_map(|e| e.id()).collect()
    }
}

/// Productive refused a rename or create: what was tried, and the event the type stays on.
struct TypeFailure {
    what: String,
    error: ApiError,
    kept: Option<i64>,
}

/// What mapping one type did (counted and logged by the caller).
struct Mapped {
    mapping: TypeMapping,
    renamed: bool,
    created: bool,
}

impl Syncer {
    /// Maps every absence type to an event. Failures are reported per type; that type's periods
    /// then have no event and are skipped.
    pub(super) async fn map_events(
        &self,
        types: &[AbsenceType],
        events: &[Event],
        dry: bool,
        counts: &mut Counts,
        issues: &Issues<'_>,
    ) -> Result<(EventMap, Vec<crate::store::Issue>), SyncError> {
        let mappings: HashMap<i64, TypeMapping> = self
            .store
            .mappings()
            .await?
            .into_iter()
            .map(|m| (m.personio_type_id, m))
            .collect();
        let active: HashMap<i64, &Event> = events
            .iter()
            .filter(|e| !e.archived)
            .map(|e| (e.id, e))
            .collect();
        let mut out = HashMap::new();
        let mut failures = Vec::new();
        for t in types {
            if let Some(lost) = mappings.get(&t.id).filter(|m| lost_event(m, &active)) {
                // Replacing it would move every booking of the type to a new event behind the
                // operator's back; the type's bookings stay as they are until someone decides.
                let reason = format!(
                    "its Productive event {} is archived or deleted, so the sync books nothing \
                     for this type and leaves its bookings as they are; unarchive the event in \
                     Productive, or map the type to another event",
                    lost.event_id
                );
                failures.push(issues.failed("types", Some(t.id.to_string()), reason));
                continue;
            }
            let recorded = recorded_mapping(mappings.get(&t.id), &active);
            let mapped = match self.map_type(t, recorded, &active, dry).await? {
                Ok(Some(mapped)) => mapped,
                Ok(None) => {
                    counts.events_created += 1;
                    out.insert(t.id, EventRef::ToCreate { type_id: t.id });
                    continue;
                }
                Err(f) => {
                    // The type's absences go unbooked this run: a failure that may pass makes the
                    // run partial, so that it is tried again soon rather than at the next hour.
                    if f.error.is_transient() {
                        counts.failed += 1;
                        counts.failed_transient += 1;
                    }
                    let reason = format!("{}: {}", f.what, error_chain(&f.error));
                    failures.push(issues.failed("types", Some(t.id.to_string()), reason));
                    if let Some(id) = f.kept {
                        out.insert(t.id, EventRef::Id(id));
                    }
                    continue;
                }
            };
            counts.events_renamed += usize::from(mapped.renamed);
            counts.events_created += usize::from(mapped.created);
            if !dry && mappings.get(&t.id) != Some(&mapped.mapping) {
                self.store.put_mapping(&mapped.mapping).await?;
            }
            out.insert(t.id, EventRef::Id(mapped.mapping.event_id));
        }
        Ok((EventMap(out), failures))
    }

    /// One type's mapping. `Ok(None)`: a dry run that would create the event. `Err`: Productive
    /// refused.
    async fn map_type(
        &self,
        t: &AbsenceType,
        recorded: Option<TypeMapping>,
        active: &HashMap<i64, &Event>,
        dry: bool,
    ) -> Result<Result<Option<Mapped>, TypeFailure>, SyncError> {
        let mapped = |mapping, renamed, created| {
            Ok(Some(Mapped {
                mapping,
                renamed,
                created,
            }))
        };
        let renamed_to = |m: &TypeMapping| TypeMapping {
            personio_name: t.name.clone(),
            ..m.clone()
        };
        Ok(match recorded {
            Some(m) if m.personio_name == t.name => mapped(m, false, false),
            Some(m) if !m.created_by_sync => mapped(renamed_to(&m), false, false),
            Some(m) => {
                tracing::info!(personio_type_id = t.id, event_id = m.event_id, from = %m.personio_name, to = %t.name, "renaming event");
                if !dry {
                    if let Err(e) = self.productive.rename_event(m.event_id, &t.name).await {
                        return Ok(Err(TypeFailure {
                            what: format!("renaming event {} failed", m.event_id),
                            error: e,
                            kept: Some(m.event_id),
                        }));
                    }
                }
                mapped(renamed_to(&m), true, false)
            }
            None => match named(active, &t.name) {
                Some(e) => mapped(mapping(t, e.id, false), false, false),
                None if dry => Ok(None),
                None => match self.create_event(t).await? {
                    Ok(e) => {
                        tracing::info!(personio_type_id = t.id, event_id = e.id, name = %t.name, "created event");
                        mapped(mapping(t, e.id, true), false, true)
                    }
                    Err(e) => Err(TypeFailure {
                        what: format!("creating event {:?} failed", t.name),
                        error: e,
                        kept: None,
                    }),
                },
            },
        })
    }

    /// Creates the event for a type, recording the intent first so that an event whose create
    /// answer is lost is still known as the sync's own (renamed with its type) next run.
    async fn create_event(&self, t: &AbsenceType) -> Result<Result<Event, ApiError>, SyncError> {
        self.store
            .put_mapping(&mapping(t, EVENT_BEING_CREATED, true))
            .await?;
        Ok(self.productive.create_event(&event_draft(t)).await)
    }
}

fn mapping(t: &AbsenceType, event_id: i64, created_by_sync: bool) -> TypeMapping {
    TypeMapping {
        personio_type_id: t.id,
        event_id,
        personio_name: t.name.clone(),
        created_by_sync,
    }
}

/// A mapping whose event existed and is no longer active (not one whose create is unfinished).
fn lost_event(m: &TypeMapping, active: &HashMap<i64, &Event>) -> bool {
    m.event_id != EVENT_BEING_CREATED && !active.contains_key(&m.event_id)
}

/// The recorded mapping if its event is still active. A create whose answer was lost is found by
/// the name the event was created with.
fn recorded_mapping(
    recorded: Option<&TypeMapping>,
    active: &HashMap<i64, &Event>,
) -> Option<TypeMapping> {
    let m = recorded?;
    if active.contains_key(&m.event_id) {
        return Some(m.clone());
    }
    let created = (m.event_id == EVENT_BEING_CREATED)
        .then(|| named(active, &m.personio_name))
        .flatten()?;
    Some(TypeMapping {
        event_id: created.id,
        ..m.clone()
    })
}

/// The oldest active event with this name, compared as people read names (any case, trimmed).
fn named<'e>(active: &HashMap<i64, &'e Event>, name: &str) -> Option<&'e Event> {
    active
        .values()
        .copied()
        .filter(|e| e.name.trim().eq_ignore_ascii_case(name.trim()))
        .min_by_key(|e| e.id)
}

/// The event a Personio type becomes: unpaid for unpaid categories, remote work (always unpaid)
/// for offsite work, otherwise paid time off.
pub fn event_draft(t: &AbsenceType) -> EventDraft {
    let category = t.category.as_deref().unwrap_or_default();
    let kind = if category == "offsite_work" {
        EventKind::RemoteWork
    } else {
        EventKind::TimeOff
    };
    let unpaid = kind == EventKind::RemoteWork
        || category.starts_with("unpaid")
        || category == "unexcused_absence";
    EventDraft {
        name: t.name.clone(),
        kind,
        paid: !unpaid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AbsenceUnit;

    #[test]
    fn event_kinds_follow_personio_categories() {
        let t = |category: &str| AbsenceType {
            id: 1,
            ids: Default::default(),
            name: "X".into(),
            category: Some(category.into()),
            unit: AbsenceUnit::Day,
        };
        let draft = |kind, paid| EventDraft {
            name: "X".into(),
            kind,
            paid,
        };
        assert_eq!(
            event_draft(&t("paid_vacation")),
            draft(EventKind::TimeOff, true)
        );
        assert_eq!(
            event_draft(&t("unpaid_vacation")),
            draft(EventKind::TimeOff, false)
        );
        assert_eq!(
            event_draft(&t("offsite_work")),
            draft(EventKind::RemoteWork, false)
        );
        assert!(
            event_draft(&AbsenceType {
                category: None,
                ..t("")
            })
            .paid
        );
    }
}
