//! The operator's rules for absence types (`[sync.types]`): which are not synced, and which are
//! booked on an event of another name. A rule names a type by its name (any case, trimmed), its
//! v1 id, or its v2 id, so that a rule keeps working across renames-by-case and a switch of API.
//! Pure.

use serde::Deserialize;

use super::model::AbsenceType;

/// A Personio absence type as a rule names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum TypeRef {
    Id(i64),
    /// A name, a v2 id, or a v1 id written as text (table keys are always text).
    Text(String),
}

impl TypeRef {
    /// Whether this names `t`. `t.id` is the sync's key, which is the v1 id for a type first
    /// synced through v1 and stays so after a switch to v2.
    pub fn names(&self, t: &AbsenceType) -> bool {
        let is_id = |n: i64| t.ids.v1 == Some(n) || t.id == n;
        match self {
            Self::Id(n) => is_id(*n),
            Self::Text(s) => {
                let s = s.trim();
                s.eq_ignore_ascii_case(t.name.trim())
                    || t.ids
                        .v2
                        .as_deref()
                        .is_some_and(|v2| v2.eq_ignore_ascii_case(s))
                    || s.parse().is_ok_and(is_id)
            }
        }
    }

    /// Names an id rather than a name (an id rule wins over a name rule for the same type).
    fn is_id(&self) -> bool {
        match self {
            Self::Id(_) => true,
            Self::Text(s) => {
                let s = s.trim();
                let uuid = s.contains('-') && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
                uuid || s.parse::<i64>().is_ok()
            }
        }
    }
}

impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(n) => write!(f, "{n}"),
            Self::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// What the rules say about one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule<'a> {
    /// Not synced: its periods are skipped and the sync's bookings for them go.
    Exclude,
    /// Booked on the event of this name (reused if one exists, else created once).
    MapTo(&'a str),
    /// Booked on its own event, named as the type.
    Own,
}

/// Why a period of an excluded type is not booked (also what `status` shows).
pub const EXCLUDED: &str = "type excluded by configuration";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeRules {
    pub exclude: Vec<TypeRef>,
    /// Type → the name of the event to book it on.
    pub map: Vec<(TypeRef, String)>,
}

impl TypeRules {
    /// The rule for `t`: exclusion wins over a mapping; of several mappings naming it, one by id
    /// wins over one by name.
    pub fn rule(&self, t: &AbsenceType) -> Rule<'_> {
        if self.exclude.iter().any(|r| r.names(t)) {
            return Rule::Exclude;
        }
        let mut matching = self.map.iter().filter(|(r, _)| r.names(t));
        let first = matching.next();
        let by_id = first
            .into_iter()
            .chain(matching)
            .find(|(r, _)| r.is_id())
            .or(first);
        match by_id {
            Some((_, event)) => Rule::MapTo(event.trim()),
            None => Rule::Own,
        }
    }

    /// The rules that name none of `types` (a typo, or a type since deleted in Personio).
    pub fn unused<'r>(&'r self, types: &[AbsenceType]) -> Vec<&'r TypeRef> {
        let mapped = self.map.iter().map(|(r, _)| r);
        self.exclude
            .iter()
            .chain(mapped)
            .filter(|r| !types.iter().any(|t| r.names(t)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AbsenceUnit, SourceIds};

    fn sick(v1: Option<i64>, v2: Option<&str>) -> AbsenceType {
        AbsenceType {
            id: v1.unwrap_or(1 << 62),
            ids: SourceIds {
                v1,
                v2: v2.map(String::from),
            },
            name: "Sick leave".into(),
            category: None,
            unit: AbsenceUnit::Day,
        }
    }

    fn text(s: &str) -> TypeRef {
        TypeRef::Text(s.into())
    }

    #[test]
    fn a_rule_names_a_type_by_name_in_any_case_or_by_either_id() {
        let v1 = sick(Some(1234), None);
        let v2 = sick(None, Some("0b6c9e2a-51f0-4c1e-9d7a-3f2e1a0b9c8d"));
        assert!(text(" sick LEAVE ").names(&v1));
        assert!(TypeRef::Id(1234).names(&v1));
        assert!(text("1234").names(&v1));
        assert!(text("0B6C9E2A-51F0-4C1E-9D7A-3F2E1A0B9C8D").names(&v2));
        assert!(!TypeRef::Id(1234).names(&v2));
        assert!(!text("Sick").names(&v1));
        assert!(!text("0b6c9e2a-51f0-4c1e-9d7a-3f2e1a0b9c8d").names(&v1));
        // A type first synced through v1 keeps its v1 id as key when read through v2.
        let adopted = AbsenceType {
            id: 1234,
            ..sick(None, Some("0b6c9e2a-51f0-4c1e-9d7a-3f2e1a0b9c8d"))
        };
        assert!(TypeRef::Id(1234).names(&adopted));
    }

    #[test]
    fn exclusion_wins_then_an_id_mapping_then_a_name_mapping() {
        let t = sick(Some(7), None);
        let rules = |exclude: Vec<TypeRef>, map: &[(&str, &str)]| TypeRules {
            exclude,
            map: map.iter().map(|(k, v)| (text(k), v.to_string())).collect(),
        };
        assert_eq!(rules(vec![], &[]).rule(&t), Rule::Own);
        assert_eq!(
            rules(vec![], &[("sick leave", " Absence ")]).rule(&t),
            Rule::MapTo("Absence")
        );
        assert_eq!(
            rules(vec![], &[("Sick leave", "By name"), ("7", "By id")]).rule(&t),
            Rule::MapTo("By id")
        );
        assert_eq!(
            rules(vec![], &[("7", "By id"), ("Sick leave", "By name")]).rule(&t),
            Rule::MapTo("By id")
        );
        assert_eq!(
            rules(vec![TypeRef::Id(7)], &[("Sick leave", "Absence")]).rule(&t),
            Rule::Exclude
        );
        assert_eq!(
            rules(vec![text("Vacation")], &[]).rule(&t),
            Rule::Own,
            "another type's rule"
        );
        let some = rules(
            vec![text("Vacation"), TypeRef::Id(7)],
            &[("Sik leave", "Absence")],
        );
        assert_eq!(
            some.unused(std::slice::from_ref(&t)),
            vec![&text("Vacation"), &text("Sik leave")]
        );
    }
}
