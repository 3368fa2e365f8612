//! `sync.email_overrides` from the file's table and from `PPS__SYNC__EMAIL_OVERRIDES`, whose
//! emails the layered configuration cannot carry (it splits keys at dots).

use std::collections::{BTreeMap, HashSet};

use super::{invalid, ConfigError};
use crate::domain::matching::{is_email_shape, normalize_email, OVERRIDES_ENV};

const OVERRIDES_KEY: &str = "sync.email_overrides";

/// Checks the file's overrides and merges the environment's (`a@x=b@y,c@x=d@y`) over them, the
/// environment winning per Personio email. Both sides come out trimmed and lowercased, as
/// matching compares them, so two spellings of one key are one key (and an error in one source).
pub(super) fn email_overrides(
    file: &BTreeMap<String, String>,
    env: Option<&str>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut merged = BTreeMap::new();
    for (from, to) in file {
        let (from, to) = override_entry(from, to).map_err(|problem| {
            invalid(
                OVERRIDES_KEY,
                format!("entry \"{from}\" = \"{to}\": {problem}"),
            )
        })?;
        if merged.insert(from.clone(), to).is_some() {
            return Err(invalid(
                OVERRIDES_KEY,
                format!("{from} is given twice (keys are compared without case and blanks)"),
            ));
        }
    }
    let Some(env) = env else {
        return Ok(merged);
    };
    let bad = |entry: &str, problem: String| {
        invalid(
            OVERRIDES_KEY,
            format!("{OVERRIDES_ENV} entry {:?}: {problem}", entry.trim()),
        )
    };
    let mut seen = HashSet::new();
    // Blank entries (an empty variable, a trailing comma) say nothing and are passed over.
    for entry in env.split(',').filter(|e| !e.trim().is_empty()) {
        let Some((from, to)) = entry.split_once('=') else {
            return Err(bad(
                entry,
                "has no `=` (expected personio@email=productive@email)".into(),
            ));
        };
        let (from, to) = override_entry(from, to).map_err(|problem| bad(entry, problem))?;
        if !seen.insert(from.clone()) {
            return Err(bad(entry, format!("{from} is given twice")));
        }
        merged.insert(from, to);
    }
    Ok(merged)
}

/// One override, normalized, or what is wrong with it.
fn override_entry(from: &str, to: &str) -> Result<(String, String), String> {
    for (side, email) in [("Personio", from), ("Productive", to)] {
        if email.trim().is_empty() {
            return Err(format!("the {side} email is empty"));
        }
        if !is_email_shape(email) {
            return Err(format!(
                "the {side} email {:?} is not an email",
                email.trim()
            ));
        }
    }
    Ok((normalize_email(from), normalize_email(to)))
}
