//! `check`'s absence-type items: whether Personio's types could be read, and what the
//! `[sync.types]` rules do to them.

use super::{Item, Status};
use crate::domain::type_rules::{Rule, TypeRules};
use crate::domain::{AbsenceType, Fetched};

pub(super) fn types_item(types: &Fetched<AbsenceType>) -> Item {
    match types.rejected.first() {
        None => Item::new(
            "personio absence types",
            Status::Ok,
            format!("{} absence types", types.items.len()),
        ),
        Some(bad) => Item::new(
            "personio absence types",
            Status::Warn,
            format!(
                "{} readable, {} not (first: {}); their periods are reported as skipped",
                types.items.len(),
                types.rejected.len(),
                bad.reason
            ),
        ),
    }
}

/// What `[sync.types]` does to the types Personio has, and the rules that name none of them.
pub(super) fn type_rules_item(rules: &TypeRules, types: &[AbsenceType]) -> Option<Item> {
    if *rules == TypeRules::default() {
        return None;
    }
    let mut excluded = Vec::new();
    let mut mapped = Vec::new();
    for t in types {
        match rules.rule(t) {
            Rule::Exclude => excluded.push(format!("{:?}", t.name)),
            Rule::MapTo(event) => mapped.push(format!("{:?} → {event:?}", t.name)),
            Rule::Own => {}
        }
    }
    let mut detail = format!(
        "excluded: {}; mapped: {}",
        list_or_none(&excluded),
        list_or_none(&mapped)
    );
    let unused: Vec<String> = rules.unused(types).iter().map(|r| r.to_string()).collect();
    if unused.is_empty() {
        return Some(Item::new("type rules", Status::Ok, detail));
    }
    detail.push_str(&format!(
        "; {} name no Personio type (check the spelling or id): they do nothing",
        unused.join(", ")
    ));
    Some(Item::new("type rules", Status::Warn, detail))
}

fn list_or_none(items: &[String]) -> String {
    match items.is_empty() {
        true => "none".into(),
        false => items.join(", "),
    }
}
