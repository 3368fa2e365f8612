//! The one collection handler and the one single-resource GET handler every resource shares:
//! a resource says how it filters, sorts and renders; these do the parsing, paging and envelope.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::error::{not_found, Reject};
use super::model::Db;
use super::query::{parse_query, Accepts, ListQuery};
use super::render::{host, single, Included};
use super::ProductiveSim;

/// A resource type with `GET /<PATH>` and `GET /<PATH>/{id}`.
pub(super) trait Resource {
    type Item;
    /// What `filter` makes of the query's filters.
    type Filter;
    const PATH: &'static str;
    const ACCEPTS: Accepts;
    /// Whether `GET /<PATH>/{id}` reads its query string (includes); people and events ignore it.
    const SINGLE_READS_QUERY: bool;

    fn table(db: &Db) -> &BTreeMap<i64, Self::Item>;
    fn filter(query: &ListQuery) -> Result<Self::Filter, Reject>;
    fn keeps(filter: &Self::Filter, id: i64, item: &Self::Item) -> bool;
    /// Orders the matches by `field` when it is not the id (they come in id order).
    fn sort(_field: &str, _matching: &mut [(i64, &Self::Item)]) {}
    fn render(db: &Db, id: i64, item: &Self::Item, query: &ListQuery, inc: &mut Included) -> Value;
}

/// `GET /<PATH>`: filtered, sorted, paged.
pub(super) async fn list<R: Resource>(
    State(sim): State<ProductiveSim>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, Reject> {
    let query = parse_query(raw.as_deref(), &R::ACCEPTS)?;
    let filter = R::filter(&query)?;
    let db = sim.db();
    let mut matching: Vec<(i64, &R::Item)> = R::table(&db)
        .iter()
        .filter(|(id, item)| R::keeps(&filter, **id, item))
        .map(|(id, item)| (*id, item))
        .collect();
    if let Some((field, descending)) = &query.sort {
        R::sort(field, &mut matching);
        if *descending {
            matching.reverse();
        }
    }
    let dropped = sim.inner.drop_page.load(Ordering::SeqCst) == query.page;
    Ok(query.page(
        &host(&headers),
        R::PATH,
        &matching,
        dropped,
        |(id, item), inc| R::render(&db, *id, item, &query, inc),
    ))
}

/// `GET /<PATH>/{id}`.
pub(super) async fn get_one<R: Resource>(
    State(sim): State<ProductiveSim>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Reject> {
    let id = path_id(&id)?;
    let query = if R::SINGLE_READS_QUERY {
        parse_query(raw.as_deref(), &R::ACCEPTS)?
    } else {
        ListQuery::none()
    };
    let db = sim.db();
    let item = R::table(&db).get(&id).ok_or_else(not_found)?;
    let mut included = Included::default();
    let data = R::render(&db, id, item, &query, &mut included);
    Ok(single(data, included, StatusCode::OK))
}

/// An id in the path; one that is not a number names no record.
pub(super) fn path_id(raw: &str) -> Result<i64, Reject> {
    raw.parse().map_err(|_| not_found())
}
