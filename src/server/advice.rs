//! Why a record is skipped or failed, as a stable code (a metric label, a group on `/status`)
//! with what to do about it in plain words. The reasons are the engine's own sentences; a new
//! one lands in `other` until it is given its advice here.

/// One kind of skipped or failed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advice {
    /// Stable and label-safe: `no_person`, `not_approved`, ...
    pub code: &'static str,
    pub title: &'static str,
    pub todo: &'static str,
}

const NO_PERSON: Advice = Advice {
    code: "no_person",
    title: "No Productive person with this email",
    todo: "Make the email the same in Personio and Productive, or add an entry to \
           `sync.email_overrides` (Personio email = Productive email). The next run books it.",
};
const AMBIGUOUS_PERSON: Advice = Advice {
    code: "ambiguous_person",
    title: "Several active Productive people share this email",
    todo: "Deactivate the duplicate in Productive or give it another email, so that exactly \
           one active person has this email.",
};
const DEACTIVATED_PERSON: Advice = Advice {
    code: "deactivated_person",
    title: "The Productive person is deactivated",
    todo: "Nothing to do if the person has left. Otherwise reactivate them in Productive; the \
           next run books the absence.",
};
const NO_EMAIL: Advice = Advice {
    code: "no_email",
    title: "The Personio employee has no email",
    todo: "Enter the employee's work email in Personio (the same one as in Productive).",
};
const NOT_APPROVED: Advice = Advice {
    code: "not_approved",
    title: "Not approved in Personio",
    todo: "Nothing to do: only approved absences are booked. Once a manager approves it in \
           Personio, the next run books it.",
};
const NO_EVENT: Advice = Advice {
    code: "no_event",
    title: "The absence type has no Productive event",
    todo: "The sync could not find or create the Productive event for this absence type: see \
           the failed absence type below, fix that, and the next run books these absences.",
};
const NO_CAPACITY: Advice = Advice {
    code: "no_capacity",
    title: "No working hours in Productive on these dates",
    todo: "Productive books absences on working days only. If the person works on these \
           dates, correct their working hours (availability) in Productive.",
};
const HOURLY: Advice = Advice {
    code: "hourly",
    title: "Measured in hours",
    todo: "Absence types counted in hours are synced only with `sync.hourly_absences = true` \
           (as the hours they take each day). Turn it on, or book these in Productive by hand.",
};
const DAY_FULL: Advice = Advice {
    code: "day_full",
    title: "The working day is already taken",
    todo: "Other absences of the person already take the whole working day, and the sync never \
           books a day above its capacity. Nothing to do unless those absences are wrong.",
};
const HOURS_UNKNOWN: Advice = Advice {
    code: "hours_unknown",
    title: "Hours per day not known",
    todo: "Personio does not say how many hours this absence takes on each day (an hour \
           absence over several days without a per-day breakdown). Enter it as one absence per \
           day in Personio, or book it by hand; what was booked for it before stays.",
};
const EXCLUDED: Advice = Advice {
    code: "excluded",
    title: "Absence type excluded by configuration",
    todo: "[sync.types] exclude names this type, so the sync books none of its absences and \
           removes what it booked for them before. Remove the type from the list to sync it \
           again; nothing to do if it is meant to stay out of Productive.",
};
const EVENT_FAILED: Advice = Advice {
    code: "event_failed",
    title: "The Productive event for an absence type failed",
    todo: "Read the reason: usually the Productive token may not create or edit events, or \
           an event with this name is archived. Fix it in Productive; the next run tries again.",
};
const REJECTED: Advice = Advice {
    code: "rejected",
    title: "Rejected by an approver in Productive",
    todo: "Approve the booking in Productive, or change or delete the absence in Personio: the \
           sync never overrides an approver.",
};
const UNREADABLE: Advice = Advice {
    code: "unreadable",
    title: "A record the sync cannot read",
    todo: "Open the record in Personio or Productive and check its dates, type and person; \
           every run reads it again.",
};
const WRITE_FAILED: Advice = Advice {
    code: "write_failed",
    title: "Productive did not take the booking",
    todo: "Read the reason (often a limited event without an allowance for the person, or a \
           permission). Fix it in Productive; the sync tries again when the absence changes \
           or at the next full reconcile, or run `sync --full`.",
};
const OTHER: Advice = Advice {
    code: "other",
    title: "Other",
    todo: "Read the reason; the daemon's log has the details.",
};

/// The advice for a skipped record's reason (as counted in a run's `skipped`).
pub fn for_skip(reason: &str) -> Advice {
    if reason == "no Productive person with this email" {
        NO_PERSON
    } else if reason.ends_with("active Productive people share this email") {
        AMBIGUOUS_PERSON
    } else if reason.contains("person with this email is deactivated") {
        DEACTIVATED_PERSON
    } else if reason == "the Personio employee has no email" {
        NO_EMAIL
    } else if reason == crate::domain::type_rules::EXCLUDED {
        EXCLUDED
    } else if reason.starts_with("not approved in Personio") {
        NOT_APPROVED
    } else if reason.ends_with("has no Productive event") {
        NO_EVENT
    } else if reason.starts_with("no working capacity left") {
        DAY_FULL
    } else if reason.starts_with("no working capacity") {
        NO_CAPACITY
    } else if reason.starts_with("cannot be booked exactly") {
        HOURS_UNKNOWN
    } else if reason.starts_with("measured in hours") {
        HOURLY
    } else {
        OTHER
    }
}

/// The advice for a current issue record.
pub fn for_issue(source: &str, kind: &str, reason: &str) -> Advice {
    if kind == "skipped" {
        for_skip(reason)
    } else if reason.starts_with("unreadable record") {
        UNREADABLE
    } else if source == "types" {
        EVENT_FAILED
    } else if reason.contains("rejected booking") {
        REJECTED
    } else if source == "writes" {
        WRITE_FAILED
    } else {
        OTHER
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::matching::MatchProblem;

    #[test]
    fn every_reason_the_engine_gives_has_its_own_advice() {
        // The engine's sentences, typed out here: a reworded reason must fail this test rather
        // than drift into "other" unnoticed.
        let skips = [
            ("no Productive person with this email", "no_person"),
            (
                "2 active Productive people share this email",
                "ambiguous_person",
            ),
            (
                "the Productive person with this email is deactivated",
                "deactivated_person",
            ),
            ("the Personio employee has no email", "no_email"),
            ("not approved in Personio (status pending)", "not_approved"),
            ("type excluded by configuration", "excluded"),
            (
                "absence type 7 (Sabbatical) has no Productive event",
                "no_event",
            ),
            (
                "no working capacity in Productive on these dates",
                "no_capacity",
            ),
            (
                "measured in hours; hour-unit absences are not synced",
                "hourly",
            ),
            (
                "no working capacity left in Productive on these dates (day absences or \
                 earlier hour absences take it all)",
                "day_full",
            ),
            (
                "cannot be booked exactly: spans several days without a per-day breakdown",
                "hours_unknown",
            ),
            (
                "cannot be booked exactly: Personio gave no per-day breakdown of its hours",
                "hours_unknown",
            ),
            (
                "absence type \"Doctor\" has no Productive event",
                "no_event",
            ),
        ];
        for (reason, code) in skips {
            assert_eq!(for_skip(reason).code, code, "{reason}");
            assert_eq!(for_issue("periods", "skipped", reason).code, code);
        }
        for problem in [
            MatchProblem::NoPerson,
            MatchProblem::Ambiguous(3),
            MatchProblem::Deactivated,
            MatchProblem::NoEmail,
        ] {
            assert_ne!(for_skip(&problem.to_string()).code, "other", "{problem}");
        }
        let failed = [
            ("types", "creating the event: HTTP 403", "event_failed"),
            ("periods", "unreadable record: no start date", "unreadable"),
            (
                "writes",
                "an approver rejected booking 12 in Productive, so the sync leaves it",
                "rejected",
            ),
            ("writes", "productive: HTTP 422: allowance", "write_failed"),
            ("hourly", "something new", "other"),
        ];
        for (source, reason, code) in failed {
            assert_eq!(for_issue(source, "failed", reason).code, code, "{reason}");
        }
    }
}
