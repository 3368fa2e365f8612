//! Matching Personio employees to Productive people by email: trimmed, case-insensitive, with
//! explicit overrides for people whose addresses differ.

use std::collections::{BTreeMap, HashMap};

use super::Person;

/// Why a period has no Productive person to book on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchProblem {
    NoPerson,
    Ambiguous(usize),
    Deactivated,
    NoEmail,
}

impl std::fmt::Display for MatchProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoPerson => write!(f, "no Productive person with this email"),
            Self::Ambiguous(n) => write!(f, "{n} active Productive people share this email"),
            Self::Deactivated => write!(f, "the Productive person with this email is deactivated"),
            Self::NoEmail => write!(f, "the Personio employee has no email"),
        }
    }
}

/// The environment variable that gives `sync.email_overrides` as `a@x=b@y,c@x=d@y` (the layered
/// config would take the dots in emails for key paths).
pub const OVERRIDES_ENV: &str = "PPS__SYNC__EMAIL_OVERRIDES";

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Whether `email` (trimmed) can stand on either side of an override: one `@` between a
/// non-empty local part and domain, and nothing that would break the config forms (blanks,
/// quotes, backslashes, `=` and `,`).
pub fn is_email_shape(email: &str) -> bool {
    let email = email.trim();
    let forbidden = |c: char| c.is_whitespace() || matches!(c, '"' | '\\' | '=' | ',' | '@');
    email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !local.contains(forbidden)
            && !domain.contains(forbidden)
    })
}

#[derive(Debug, Default)]
pub struct PeopleIndex {
    by_email: HashMap<String, Vec<Person>>,
    overrides: HashMap<String, String>,
}

impl PeopleIndex {
    pub fn new(people: Vec<Person>, overrides: &BTreeMap<String, String>) -> Self {
        let mut by_email: HashMap<String, Vec<Person>> = HashMap::new();
        for person in people {
            if let Some(email) = person.email.as_deref().map(normalize_email) {
                if !email.is_empty() {
                    by_email.entry(email).or_default().push(person);
                }
            }
        }
        let overrides = overrides
            .iter()
            .map(|(from, to)| (normalize_email(from), normalize_email(to)))
            .collect();
        Self {
            by_email,
            overrides,
        }
    }

    /// Every Productive person with an email.
    pub fn people(&self) -> impl Iterator<Item = &Person> {
        self.by_email.values().flatten()
    }

    /// The normalized email a Personio email is looked up by: its override's, if it has one.
    pub fn target(&self, personio_email: &str) -> String {
        let email = normalize_email(personio_email);
        self.overrides.get(&email).cloned().unwrap_or(email)
    }

    /// The one active Productive person for a Personio email.
    pub fn find(&self, personio_email: &str) -> Result<&Person, MatchProblem> {
        let email = normalize_email(personio_email);
        if email.is_empty() {
            return Err(MatchProblem::NoEmail);
        }
        let email = self.overrides.get(&email).unwrap_or(&email);
        let candidates = self
            .by_email
            .get(email)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let active: Vec<&Person> = candidates.iter().filter(|p| p.active).collect();
        match active.as_slice() {
            [one] => Ok(one),
            [] if candidates.is_empty() => Err(MatchProblem::NoPerson),
            [] => Err(MatchProblem::Deactivated),
            many => Err(MatchProblem::Ambiguous(many.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: i64, email: Option<&str>, active: bool) -> Person {
        Person {
            id,
            email: email.map(str::to_string),
            first_name: "F".into(),
            last_name: "L".into(),
            active,
            availabilities: vec![],
        }
    }

    #[test]
    fn matches_trimmed_and_case_insensitive() {
        let idx = PeopleIndex::new(
            vec![person(1, Some(" Ada.Lovelace@Example.COM "), true)],
            &BTreeMap::new(),
        );
        assert_eq!(idx.find("ada.lovelace@example.com").unwrap().id, 1);
        assert_eq!(idx.find("  ADA.LOVELACE@example.com\t").unwrap().id, 1);
    }

    #[test]
    fn reports_each_problem() {
        let idx = PeopleIndex::new(
            vec![
                person(1, Some("twin@x.io"), true),
                person(2, Some("Twin@x.io"), true),
                person(3, Some("gone@x.io"), false),
                person(4, Some("back@x.io"), false),
                person(5, Some("back@x.io"), true),
                person(6, None, true),
            ],
            &BTreeMap::new(),
        );
        assert_eq!(idx.find("nobody@x.io").unwrap_err(), MatchProblem::NoPerson);
        assert_eq!(
            idx.find("twin@x.io").unwrap_err(),
            MatchProblem::Ambiguous(2)
        );
        assert_eq!(
            idx.find("gone@x.io").unwrap_err(),
            MatchProblem::Deactivated
        );
        assert_eq!(
            idx.find("back@x.io").unwrap().id,
            5,
            "an active twin of a deactivated person wins"
        );
        assert_eq!(idx.find("  ").unwrap_err(), MatchProblem::NoEmail);
    }

    #[test]
    fn overrides_redirect_personio_emails() {
        let overrides = BTreeMap::from([(
            "Old.Name@corp.example".to_string(),
            "new.name@corp.example".to_string(),
        )]);
        let idx = PeopleIndex::new(
            vec![person(9, Some("new.name@corp.example"), true)],
            &overrides,
        );
        assert_eq!(idx.find("old.name@corp.example").unwrap().id, 9);
    }
}
