//! Likely matches for Personio employees whose absences are not booked because no single active
//! Productive person has their email: hints for `status`, each with the exact override that
//! would match them. Nothing is ever matched on a suggestion alone (a wrong guess would book one
//! person's absences on another's calendar).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::matching::{is_email_shape, normalize_email, OVERRIDES_ENV};
use super::{EmployeeName, Person};

/// Which rule found the match, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    /// Several active Productive accounts have the employee's email.
    Duplicate,
    /// `ann+hr@x` and `ann@x`, either side.
    PlusAddress,
    /// The same local part at another domain that Productive people use.
    OtherDomain,
    /// The same first and last name.
    SameName,
}

/// A likely Productive person for an unmatched employee, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub kind: SuggestionKind,
    /// The person it points to (for duplicates: the one to keep).
    pub person_id: i64,
    /// Their email, normalized as matching compares it.
    pub productive_email: String,
    /// Other active people with that same email: to deactivate or give another email, or no
    /// override can single one out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deactivate: Vec<i64>,
    /// The line to add under `[sync.email_overrides]`; `None` when an override cannot help
    /// (duplicates of the employee's own email) or an address could not stand in one.
    pub config_line: Option<String>,
    /// The same override in the environment's form.
    pub env: Option<String>,
    /// What was found and what to do, in plain words.
    pub text: String,
}

/// One active Productive person, with the forms of their email and name the rules compare.
struct Candidate<'a> {
    person: &'a Person,
    email: String,
    /// The local part without its `+tag`.
    local: String,
    domain: String,
    name: Option<String>,
}

/// Whether a candidate fits one rule.
type Rule<'r> = &'r dyn Fn(&Candidate) -> bool;

/// The active Productive people, prepared once for the suggestions of a run.
pub struct Suggester<'a> {
    candidates: Vec<Candidate<'a>>,
}

/// `local@domain`, split, with the local part's `+tag` dropped.
fn parts(email: &str) -> Option<(String, String)> {
    let (local, domain) = email.split_once('@')?;
    let local = local.split('+').next().unwrap_or(local);
    (!local.is_empty() && !domain.is_empty()).then(|| (local.to_string(), domain.to_string()))
}

/// First and last name compared without case and with blanks collapsed; `None` unless both
/// are given.
fn name_key(first: &str, last: &str) -> Option<String> {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let (first, last) = (norm(first), norm(last));
    (!first.is_empty() && !last.is_empty()).then(|| format!("{first} {last}"))
}

impl<'a> Suggester<'a> {
    pub fn new(people: impl IntoIterator<Item = &'a Person>) -> Self {
        let candidates = people
            .into_iter()
            .filter(|p| p.active)
            .filter_map(|person| {
                let email = normalize_email(person.email.as_deref()?);
                let (local, domain) = parts(&email)?;
                Some(Candidate {
                    person,
                    local,
                    domain,
                    name: name_key(&person.first_name, &person.last_name),
                    email,
                })
            })
            .collect();
        Self { candidates }
    }

    /// The likely match for an employee with `personio_email` (and `name`, if known) that
    /// matching found none or several for, looking up `looked_up` (the email after overrides).
    /// The strongest rule that fits anyone decides; `None` when it points to several addresses.
    pub fn suggest(
        &self,
        personio_email: &str,
        name: Option<&EmployeeName>,
        looked_up: &str,
    ) -> Option<Suggestion> {
        let email = normalize_email(personio_email);
        let accounts: Vec<&Candidate> = self.of_email(looked_up);
        if accounts.len() > 1 {
            return Some(duplicate(personio_email.trim(), &accounts));
        }
        let (local, domain) = parts(&email)?;
        let name = name.and_then(|n| name_key(&n.first, &n.last));
        let rules: [(SuggestionKind, Rule); 3] = [
            (SuggestionKind::PlusAddress, &|c| {
                c.local == local && c.domain == domain && c.email != email
            }),
            (SuggestionKind::OtherDomain, &|c| {
                c.local == local && c.domain != domain
            }),
            (SuggestionKind::SameName, &|c| {
                name.is_some() && c.name == name
            }),
        ];
        let (kind, fitting) = rules.iter().find_map(|(kind, fits)| {
            let emails: BTreeSet<&str> = self
                .candidates
                .iter()
                .filter(|c| fits(c))
                .map(|c| c.email.as_str())
                .collect();
            (!emails.is_empty()).then_some((*kind, emails))
        })?;
        let [target] = fitting.into_iter().collect::<Vec<_>>()[..] else {
            return None;
        };
        Some(pointing(
            kind,
            &email,
            &self.of_email(target),
            name.as_deref(),
        ))
    }

    fn of_email(&self, email: &str) -> Vec<&Candidate<'a>> {
        self.candidates
            .iter()
            .filter(|c| c.email == email)
            .collect()
    }
}

/// The override line and its environment form, when both addresses can stand in them.
fn override_forms(from: &str, to: &str) -> Option<(String, String)> {
    (is_email_shape(from) && is_email_shape(to)).then(|| {
        (
            format!("\"{from}\" = \"{to}\""),
            format!("{OVERRIDES_ENV}=\"{from}={to}\""),
        )
    })
}

/// Of several accounts of one email: the one whose address is written exactly like the
/// employee's if there is one such, else the oldest (lowest id); and the others.
fn keep_one(accounts: &[&Candidate], written: Option<&str>) -> (i64, Vec<i64>) {
    let exact: Vec<i64> = accounts
        .iter()
        .filter(|c| written.is_some() && c.person.email.as_deref().map(str::trim) == written)
        .map(|c| c.person.id)
        .collect();
    let keep = match exact[..] {
        [one] => one,
        _ => accounts
            .iter()
            .map(|c| c.person.id)
            .min()
            .unwrap_or_default(),
    };
    let mut others: Vec<i64> = accounts
        .iter()
        .map(|c| c.person.id)
        .filter(|id| *id != keep)
        .collect();
    others.sort_unstable();
    (keep, others)
}

fn ids(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn duplicate(written: &str, accounts: &[&Candidate]) -> Suggestion {
    let (keep, others) = keep_one(accounts, Some(written));
    let email = accounts
        .first()
        .map(|c| c.email.clone())
        .unwrap_or_default();
    Suggestion {
        kind: SuggestionKind::Duplicate,
        person_id: keep,
        productive_email: email.clone(),
        text: format!(
            "Productive people {keep} and {} all have the email {email}, so none is booked on. \
             Keep {keep} and deactivate {} in Productive (or give it another email): then \
             {keep} is used. An override cannot tell accounts of one email apart.",
            ids(&others),
            ids(&others)
        ),
        deactivate: others,
        config_line: None,
        env: None,
    }
}

fn pointing(
    kind: SuggestionKind,
    from: &str,
    accounts: &[&Candidate],
    name: Option<&str>,
) -> Suggestion {
    let (person_id, others) = keep_one(accounts, None);
    let to = accounts
        .first()
        .map(|c| c.email.clone())
        .unwrap_or_default();
    let why = match kind {
        SuggestionKind::PlusAddress => "the same address but for a +tag".to_string(),
        SuggestionKind::OtherDomain => {
            "the same name before the @, at another domain used in Productive".to_string()
        }
        SuggestionKind::SameName | SuggestionKind::Duplicate => {
            format!(
                "the same first and last name ({})",
                name.unwrap_or_default()
            )
        }
    };
    let forms = override_forms(from, &to);
    let what = match &forms {
        Some((line, env)) => format!(
            "to match them, add `{line}` under `[sync.email_overrides]` (or `{env}`, entries \
             separated by commas)"
        ),
        None => "to match them, make the emails the same in Personio and Productive".into(),
    };
    let shared = match others.is_empty() {
        true => String::new(),
        false => format!(
            " Productive people {} have this email too: deactivate them or give them another \
             email, or the override matches no one.",
            ids(&others)
        ),
    };
    Suggestion {
        kind,
        person_id,
        productive_email: to.clone(),
        text: format!(
            "Likely Productive person {person_id} ({to}): {why}. Nothing is booked on a \
             guess; {what}.{shared}"
        ),
        deactivate: others,
        config_line: forms.as_ref().map(|(line, _)| line.clone()),
        env: forms.map(|(_, env)| env),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: i64, email: &str, first: &str, last: &str) -> Person {
        Person {
            id,
            email: Some(email.into()),
            first_name: first.into(),
            last_name: last.into(),
            active: true,
            availabilities: vec![],
        }
    }

    fn name(first: &str, last: &str) -> EmployeeName {
        EmployeeName {
            first: first.into(),
            last: last.into(),
        }
    }

    /// The suggestion for an employee whose email no override redirects.
    fn suggest(
        people: &[Person],
        email: &str,
        employee: Option<&EmployeeName>,
    ) -> Option<Suggestion> {
        Suggester::new(people).suggest(email, employee, &normalize_email(email))
    }

    fn company() -> Vec<Person> {
        vec![
            person(1, "Ann@Corp.example", "Ann", "Smith"),
            person(2, "bo+pm@corp.example", "Bo", "Jones"),
            person(3, "cy@corp-uk.example", "Cy", "Brown"),
            person(4, "dee.ray@corp.example", "Dee", "Ray"),
            Person {
                active: false,
                ..person(5, "ed@corp.example", "Ed", "Gone")
            },
        ]
    }

    #[test]
    fn a_tag_on_the_personio_side_points_to_the_plain_address() {
        let s = suggest(&company(), " Ann+HR@corp.example", None).unwrap();
        assert_eq!(s.kind, SuggestionKind::PlusAddress);
        assert_eq!(
            (s.person_id, s.productive_email.as_str()),
            (1, "ann@corp.example")
        );
        assert_eq!(
            s.config_line.as_deref(),
            Some(r#""ann+hr@corp.example" = "ann@corp.example""#)
        );
        assert_eq!(
            s.env.as_deref(),
            Some(r#"PPS__SYNC__EMAIL_OVERRIDES="ann+hr@corp.example=ann@corp.example""#)
        );
        assert!(s.text.contains("Likely Productive person 1"), "{}", s.text);
        assert!(s.text.contains("[sync.email_overrides]"), "{}", s.text);
    }

    #[test]
    fn a_tag_on_the_productive_side_counts_too() {
        let s = suggest(&company(), "bo@corp.example", None).unwrap();
        assert_eq!(s.kind, SuggestionKind::PlusAddress);
        assert_eq!(
            s.config_line.as_deref(),
            Some(r#""bo@corp.example" = "bo+pm@corp.example""#)
        );
    }

    #[test]
    fn the_same_local_part_at_another_company_domain() {
        let s = suggest(&company(), "cy@corp.example", None).unwrap();
        assert_eq!(s.kind, SuggestionKind::OtherDomain);
        assert_eq!(s.person_id, 3);
        assert_eq!(
            s.config_line.as_deref(),
            Some(r#""cy@corp.example" = "cy@corp-uk.example""#)
        );
    }

    #[test]
    fn the_same_first_and_last_name() {
        let s = suggest(&company(), "dray@corp.example", Some(&name(" dee ", "RAY"))).unwrap();
        assert_eq!(s.kind, SuggestionKind::SameName);
        assert_eq!(s.person_id, 4);
        assert_eq!(
            s.config_line.as_deref(),
            Some(r#""dray@corp.example" = "dee.ray@corp.example""#)
        );
        assert!(s.text.contains("(dee ray)"), "{}", s.text);
    }

    #[test]
    fn two_accounts_of_one_email_name_the_one_to_keep_and_the_one_to_deactivate() {
        let people = vec![
            person(7, " FAY@corp.example", "Fay", "Old"),
            person(9, "fay@corp.example", "Fay", "New"),
        ];
        let s = suggest(&people, "fay@corp.example", None).unwrap();
        assert_eq!(s.kind, SuggestionKind::Duplicate);
        // Written exactly as in Personio: kept, although it is the newer account.
        assert_eq!((s.person_id, s.deactivate.clone()), (9, vec![7]));
        assert_eq!(s.config_line, None);
        assert!(s.text.contains("deactivate 7"), "{}", s.text);
        // Otherwise the oldest account is kept.
        let s = suggest(&people, "Fay@Corp.example", None).unwrap();
        assert_eq!((s.person_id, s.deactivate), (7, vec![9]));
    }

    #[test]
    fn a_guess_landing_on_a_shared_email_says_so() {
        let people = vec![
            person(1, "gil@corp.example", "Gil", "A"),
            person(2, "Gil@corp.example", "Gil", "B"),
        ];
        let s = suggest(&people, "gil+x@corp.example", None).unwrap();
        assert_eq!(s.kind, SuggestionKind::PlusAddress);
        assert_eq!((s.person_id, s.deactivate.clone()), (1, vec![2]));
        assert!(s.text.contains("have this email too"), "{}", s.text);
    }

    #[test]
    fn no_suggestion_without_a_single_likely_person() {
        let people = company();
        // Nothing alike.
        assert_eq!(suggest(&people, "zed@elsewhere.example", None), None);
        // Only a deactivated person fits.
        assert_eq!(suggest(&people, "ed+x@corp.example", None), None);
        // A name alone is not enough when either half is missing.
        assert_eq!(
            suggest(&people, "x@corp.example", Some(&name("", "Ray"))),
            None
        );
        // Not an email at all.
        assert_eq!(suggest(&people, "ann", None), None);
        // The strongest rule that fits points to two addresses: no guess, and no weaker one.
        let two = vec![
            person(1, "hal+a@corp.example", "Hal", "A"),
            person(2, "hal+b@corp.example", "Hal", "B"),
            person(3, "hal@other.example", "Hal", "C"),
        ];
        assert_eq!(suggest(&two, "hal@corp.example", None), None);
    }

    #[test]
    fn an_address_that_cannot_stand_in_an_override_gets_no_line() {
        let people = vec![person(1, "ivy@corp.example", "Ivy", "Lee")];
        let s = suggest(&people, "ivy=x@corp.example", Some(&name("Ivy", "Lee"))).unwrap();
        assert_eq!(
            (s.kind, s.config_line, s.env),
            (SuggestionKind::SameName, None, None)
        );
        assert!(s.text.contains("make the emails the same"), "{}", s.text);
    }
}
