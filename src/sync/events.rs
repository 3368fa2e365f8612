//! Absence types → Productive events: the recorded event, else an active event of the same name,
//! else a new one; events the sync created follow renames of their type. `[sync.types]` rules
//! exclude types, or book them on an event of another name (found or created the same way, once
//! for every type mapped onto it); a changed rule moves the type to its new event.

use std::collections::{HashMap, HashSet};

use crate::domain::type_rules::Rule;
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
    /// Dry runs only: the event a real run would create for this type (the first type of the
    /// run that needs it, when several are mapped onto one name).
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

/// Why a type's absences have no event to be booked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbooked {
    /// `[sync.types] exclude` names it: the sync's bookings for it go.
    Excluded,
    /// Its event could not be had this run: what it has stays.
    NoEvent,
}

/// Every type's event, by Personio type key.
#[derive(Debug, Clone, Default)]
pub struct EventMap {
    pub by_type: HashMap<i64, EventRef>,
    pub excluded: HashSet<i64>,
    /// Event names, for reports (a dry run shows where bookings move).
    pub names: HashMap<EventRef, String>,
}

impl EventMap {
    /// A map of these types' events (tests and callers that need no rules).
    pub fn of(by_type: impl IntoIterator<Item = (i64, EventRef)>) -> Self {
        Self {
            by_type: by_type.into_iter().collect(),
            ..Self::default()
        }
    }

    pub fn lookup(&self, type_id: i64) -> Result<EventRef, Unbooked> {
        if self.excluded.contains(&type_id) {
            return Err(Unbooked::Excluded);
        }
        self.by_type.get(&type_id).copied().ok_or(Unbooked::NoEvent)
    }

    /// The events bookings of the sync can be on (to read them back).
    pub fn existing(&self) -> Vec<i64> {
        self.by_type.values().filter_map(|e| e.id()).collect()
    }

    /// An event's name as people read it.
    pub fn name(&self, event: EventRef) -> String {
        match self.names.get(&event) {
            Some(name) => format!("{name:?}"),
            None => match event {
                EventRef::Id(id) => format!("event {id}"),
                EventRef::ToCreate { type_id } => format!("a new event for type {type_id}"),
            },
        }
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
    /// The event it created.
    event: Option<Event>,
}

impl Syncer {
    /// Maps every absence type to an event under the type rules. Failures are reported per
    /// type; that type's periods then have no event and are skipped.
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
        // Events created in this run join it: the next type mapped onto the name reuses them.
        let mut active: HashMap<i64, Event> = events
            .iter()
            .filter(|e| !e.archived)
            .map(|e| (e.id, e.clone()))
            .collect();
        let mut out = EventMap::default();
        // Dry runs: the event each new name would get, so that types sharing it share one.
        let mut to_create: HashMap<String, EventRef> = HashMap::new();
        // Names whose create failed in this run (the answer may merely have been lost): not
        // created again for the next type mapped onto them, which would make a second event.
        let mut failed_creates: HashMap<String, (String, bool)> = HashMap::new();
        let mut failures = Vec::new();
        for rule in self.settings.type_rules.unused(types) {
            tracing::warn!(rule = %rule, "a [sync.types] rule names no Personio absence type; it does nothing");
        }
        for t in types {
            let target = match self.settings.type_rules.rule(t) {
                Rule::Exclude => {
                    out.excluded.insert(t.id);
                    continue;
                }
                Rule::MapTo(name) => Some(name),
                Rule::Own => None,
            };
            // A changed rule: the recorded event is not this type's any more.
            let recorded = mappings
                .get(&t.id)
                .filter(|m| same_name(m.mapped_to.as_deref(), target));
            if let Some(lost) = recorded.filter(|m| lost_event(m, &active)) {
                // Replacing it would move every booking of the type to a new event behind the
                // operator's back; the type's bookings stay as they are until someone decides.
                let reason = format!(
                    "its Productive event {} is archived or deleted, so the sync books nothing \
                     for this type and leaves its bookings as they are; unarchive the event in \
                     Productive, or map the type to another event in [sync.types.map]",
                    lost.event_id
                );
                failures.push(issues.failed("types", Some(t.id.to_string()), reason));
                continue;
            }
            let recorded = recorded_mapping(recorded, &active);
            let name = target.unwrap_or(&t.name);
            let failed_create = failed_creates.get(&name_key(name));
            if let Some((reason, transient)) = failed_create.filter(|_| recorded.is_none()) {
                counts.failed += usize::from(*transient);
                counts.failed_transient += usize::from(*transient);
                failures.push(issues.failed("types", Some(t.id.to_string()), reason.clone()));
                continue;
            }
            let mapped = match self.map_type(t, recorded, target, &active, dry).await? {
                Ok(Some(mapped)) => mapped,
                Ok(None) => {
                    let event = *to_create.entry(name_key(name)).or_insert_with(|| {
                        counts.events_created += 1;
                        EventRef::ToCreate { type_id: t.id }
                    });
                    out.names.insert(event, name.to_string());
                    out.by_type.insert(t.id, event);
                    continue;
                }
                Err(f) => {
                    // The type's absences go unbooked this run: a failure that may pass makes the
                    // run partial, so that it is tried again soon rather than at the next hour.
                    let transient = f.error.is_transient();
                    counts.failed += usize::from(transient);
                    counts.failed_transient += usize::from(transient);
                    let reason = format!("{}: {}", f.what, error_chain(&f.error));
                    if f.kept.is_none() {
                        failed_creates.insert(name_key(name), (reason.clone(), transient));
                    }
                    failures.push(issues.failed("types", Some(t.id.to_string()), reason));
                    if let Some(id) = f.kept {
                        out.by_type.insert(t.id, EventRef::Id(id));
                    }
                    continue;
                }
            };
            counts.events_renamed += usize::from(mapped.renamed);
            counts.events_created += usize::from(mapped.event.is_some());
            if !dry && mappings.get(&t.id) != Some(&mapped.mapping) {
                self.store.put_mapping(&mapped.mapping).await?;
            }
            if let Some(event) = mapped.event {
                active.insert(event.id, event);
            }
            out.by_type
                .insert(t.id, EventRef::Id(mapped.mapping.event_id));
        }
        out.names
            .extend(active.into_values().map(|e| (EventRef::Id(e.id), e.name)));
        Ok((out, failures))
    }

    /// One type's mapping onto its own event or onto `target`. `Ok(None)`: a dry run that would
    /// create the event. `Err`: Productive refused.
    async fn map_type(
        &self,
        t: &AbsenceType,
        recorded: Option<TypeMapping>,
        target: Option<&str>,
        active: &HashMap<i64, Event>,
        dry: bool,
    ) -> Result<Result<Option<Mapped>, TypeFailure>, SyncError> {
        let mapped = |mapping, renamed, event: Option<Event>| {
            Ok(Some(Mapped {
                mapping,
                renamed,
                event,
            }))
        };
        let renamed_to = |m: &TypeMapping| TypeMapping {
            personio_name: t.name.clone(),
            ..m.clone()
        };
        let name = target.unwrap_or(&t.name);
        Ok(match recorded {
            Some(m) if m.personio_name == t.name => mapped(m, false, None),
            // A mapped event is named by the rule, not by the type.
            Some(m) if !m.created_by_sync || m.mapped_to.is_some() => {
                mapped(renamed_to(&m), false, None)
            }
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
                mapped(renamed_to(&m), true, None)
            }
            None => match named(active, name) {
                Some(e) => mapped(mapping(t, e.id, false, target), false, None),
                None if dry => Ok(None),
                None => match self.create_event(t, target).await? {
                    Ok(e) => {
                        tracing::info!(personio_type_id = t.id, event_id = e.id, name = %e.name, "created event");
                        mapped(mapping(t, e.id, true, target), false, Some(e))
                    }
                    Err(e) => Err(TypeFailure {
                        what: format!("creating event {name:?} failed"),
                        error: e,
                        kept: None,
                    }),
                },
            },
        })
    }

    /// Creates the event for a type (named `target` when mapped), recording the intent first so
    /// that an event whose create answer is lost is still known as the sync's own next run.
    async fn create_event(
        &self,
        t: &AbsenceType,
        target: Option<&str>,
    ) -> Result<Result<Event, ApiError>, SyncError> {
        self.store
            .put_mapping(&mapping(t, EVENT_BEING_CREATED, true, target))
            .await?;
        let mut draft = event_draft(t);
        if let Some(name) = target {
            draft.name = name.to_string();
        }
        Ok(self.productive.create_event(&draft).await)
    }
}

fn mapping(
    t: &AbsenceType,
    event_id: i64,
    created_by_sync: bool,
    mapped_to: Option<&str>,
) -> TypeMapping {
    TypeMapping {
        personio_type_id: t.id,
        event_id,
        personio_name: t.name.clone(),
        created_by_sync,
        mapped_to: mapped_to.map(String::from),
    }
}

/// Event names as people read them: any case, trimmed.
fn name_key(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

fn same_name(a: Option<&str>, b: Option<&str>) -> bool {
    a.map(name_key) == b.map(name_key)
}

/// A mapping whose event existed and is no longer active (not one whose create is unfinished).
fn lost_event(m: &TypeMapping, active: &HashMap<i64, Event>) -> bool {
    m.event_id != EVENT_BEING_CREATED && !active.contains_key(&m.event_id)
}

/// The recorded mapping if its event is still active. A create whose answer was lost is found by
/// the name the event was created with.
fn recorded_mapping(
    recorded: Option<&TypeMapping>,
    active: &HashMap<i64, Event>,
) -> Option<TypeMapping> {
    let m = recorded?;
    if active.contains_key(&m.event_id) {
        return Some(m.clone());
    }
    let name = m.mapped_to.as_deref().unwrap_or(&m.personio_name);
    let created = (m.event_id == EVENT_BEING_CREATED)
        .then(|| named(active, name))
        .flatten()?;
    Some(TypeMapping {
        event_id: created.id,
        ..m.clone()
    })
}

/// The oldest active event with this name, compared as people read names (any case, trimmed).
fn named<'e>(active: &'e HashMap<i64, Event>, name: &str) -> Option<&'e Event> {
    active
        .values()
        .filter(|e| name_key(&e.name) == name_key(name))
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
