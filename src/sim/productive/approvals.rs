//! `approval_statuses`: one approval step per booking of a person with an approval policy;
//! approving every step approves the booking.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::body::parse_body;
use super::bookings::render_booking;
use super::error::{api_error, not_found, Reject};
use super::model::{now, Db, SimApproval};
use super::query::{Accepts, ListQuery};
use super::render::{linkage, single, stub, Included};
use super::resource::{path_id, Resource};
use super::ProductiveSim;

pub(super) struct Approvals;

pub(super) struct ApprovalFilter {
    ids: Option<HashSet<i64>>,
    bookings: Option<HashSet<i64>>,
}

impl Resource for Approvals {
    type Item = SimApproval;
    type Filter = ApprovalFilter;
    const PATH: &'static str = "approval_statuses";
    const ACCEPTS: Accepts = Accepts {
        filters: &["id", "booking_id"],
        includes: &["booking"],
        sorts: &["id"],
    };
    const SINGLE_READS_QUERY: bool = true;

    fn table(db: &Db) -> &BTreeMap<i64, SimApproval> {
        &db.approvals
    }

    fn filter(query: &ListQuery) -> Result<ApprovalFilter, Reject> {
        Ok(ApprovalFilter {
            ids: query.ids("id")?,
            bookings: query.ids("booking_id")?,
        })
    }

    fn keeps(f: &ApprovalFilter, id: i64, a: &SimApproval) -> bool {
        f.ids.as_ref().is_none_or(|ids| ids.contains(&id))
            && f.bookings
                .as_ref()
                .is_none_or(|b| b.contains(&a.booking_id))
    }

    fn render(db: &Db, id: i64, a: &SimApproval, query: &ListQuery, inc: &mut Included) -> Value {
        render_approval(db, id, a, query, inc)
    }
}

pub(super) fn render_approval(
    db: &Db,
    id: i64,
    a: &SimApproval,
    query: &ListQuery,
    inc: &mut Included,
) -> Value {
    let booking = if query.includes("booking") {
        if let Some(b) = db.bookings.get(&a.booking_id) {
            inc.add("bookings", a.booking_id, || {
                render_booking(
                    db,
                    a.booking_id,
                    b,
                    &ListQuery::none(),
                    &mut Included::default(),
                )
            });
        }
        linkage("bookings", a.booking_id)
    } else {
        stub()
    };
    json!({
        "id": id.to_string(),
        "type": "approval_statuses",
        "attributes": {
            "note": a.note,
            "approved_at": a.approved_at,
            "rejected_at": a.rejected_at,
            "target_type": "booking",
            "approver_group_key": format!("group-0-0-{}", a.booking_id),
        },
        "relationships": {
            "booking": booking,
            "approver": stub(),
            "actual_approver": stub(),
        }
    })
}

/// Approves one step; the booking becomes approved once every one of its steps is.
pub(super) async fn approve(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let body = parse_body(&bytes)?;
    let mut db = sim.db();
    let approval = db.approvals.get_mut(&id).ok_or_else(not_found)?;
    if !sim.inner.may_approve.load(Ordering::SeqCst) {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "Access Denied",
            "You are not authorized to approve this request",
            Some("access_denied"),
            None,
        ));
    }
    let at = now();
    approval.approved_at = Some(at);
    approval.note = body.text("note").flatten();
    let booking_id = approval.booking_id;
    let all_approved = db
        .approvals
        .values()
        .filter(|a| a.booking_id == booking_id)
        .all(|a| a.approved_at.is_some());
    if all_approved {
        if let Some(booking) = db.bookings.get_mut(&booking_id) {
            booking.approved = true;
        }
    }
    let mut included = Included::default();
    let data = render_approval(
        &db,
        id,
        &db.approvals[&id],
        &ListQuery::none(),
        &mut included,
    );
    Ok(single(data, included, StatusCode::OK))
}
