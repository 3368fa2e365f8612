//! JSON:API query strings: filters, includes, sorts and pages, and the paged collection answer.

use std::collections::{BTreeMap, HashSet};

use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use super::error::{bad_request, unsupported_value, Reject};
use super::render::Included;

const MAX_PAGE_SIZE: usize = 200;
const DEFAULT_PAGE_SIZE: usize = 30;

pub(super) struct ListQuery {
    pairs: Vec<(String, String)>,
    pub(super) page: usize,
    size: usize,
    pub(super) filters: BTreeMap<String, String>,
    includes: HashSet<String>,
    /// The field and whether descending.
    pub(super) sort: Option<(String, bool)>,
}

/// What an endpoint understands.
pub(super) struct Accepts {
    pub(super) filters: &'static [&'static str],
    pub(super) includes: &'static [&'static str],
    pub(super) sorts: &'static [&'static str],
}

pub(super) fn parse_query(raw: Option<&str>, accepts: &Accepts) -> Result<ListQuery, Reject> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let mut query = ListQuery {
        pairs: pairs.clone(),
        ..ListQuery::none()
    };
    let page_value = |key: &str, value: &str| {
        value
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                bad_request(
                    "Invalid Page",
                    &format!("{key} must be a positive integer"),
                    None,
                )
            })
    };
    for (key, value) in pairs {
        if key == "page[number]" {
            query.page = page_value(&key, &value)?;
        } else if key == "page[size]" {
            query.size = page_value(&key, &value)?.min(MAX_PAGE_SIZE);
        } else if key == "include" {
            for include in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !accepts.includes.contains(&include) {
                    return Err(bad_request(
                        "Unsupported Include",
                        &format!("Include '{include}' is not supported on this endpoint"),
                        None,
                    ));
                }
                query.includes.insert(include.to_string());
            }
        } else if key == "sort" {
            let (field, descending) = match value.strip_prefix('-') {
                Some(field) => (field.to_string(), true),
                None => (value.clone(), false),
            };
            if !accepts.sorts.contains(&field.as_str()) {
                return Err(bad_request(
                    "Unsupported Sort",
                    &format!("Sort by '{field}' is not supported on this endpoint"),
                    None,
                ));
            }
            query.sort = Some((field, descending));
        } else if let Some(rest) = key.strip_prefix("filter[") {
            // `filter[name]` and `filter[name][eq]`; other operators are not simulated.
            let name = rest
                .strip_suffix("][eq]")
                .or_else(|| rest.strip_suffix(']'))
                .filter(|n| !n.contains('['))
                .unwrap_or(rest);
            if !accepts.filters.contains(&name) {
                return Err(bad_request(
                    "Unsupported Filter",
                    &format!("Filter '{name}' is not supported on this endpoint"),
                    Some("unsupported_filter"),
                ));
            }
            query.filters.insert(name.to_string(), value);
        }
    }
    Ok(query)
}

impl ListQuery {
    /// No filters, includes or sort: the first default-sized page.
    pub(super) fn none() -> Self {
        Self {
            pairs: Vec::new(),
            page: 1,
            size: DEFAULT_PAGE_SIZE,
            filters: BTreeMap::new(),
            includes: HashSet::new(),
            sort: None,
        }
    }

    /// A filter's comma list of ids.
    pub(super) fn ids(&self, name: &str) -> Result<Option<HashSet<i64>>, Reject> {
        let Some(raw) = self.filters.get(name) else {
            return Ok(None);
        };
        raw.split(',')
            .map(|s| s.trim().parse::<i64>())
            .collect::<Result<HashSet<_>, _>>()
            .map(Some)
            .map_err(|_| unsupported_value(name, raw))
    }

    pub(super) fn date(&self, name: &str) -> Result<Option<NaiveDate>, Reject> {
        self.filters
            .get(name)
            .map(|raw| {
                NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| unsupported_value(name, raw))
            })
            .transpose()
    }

    pub(super) fn includes(&self, name: &str) -> bool {
        self.includes.contains(name)
    }

    /// The collection response for `items` (already filtered and sorted): the requested page,
    /// `meta`, absolute `links` on the host the request came to, and deduplicated `included`.
    /// `dropped`: the page comes back without its records (a short read), all else unchanged.
    pub(super) fn page<T, F>(
        &self,
        host: &str,
        path: &str,
        items: &[T],
        dropped: bool,
        mut render: F,
    ) -> Response
    where
        F: FnMut(&T, &mut Included) -> Value,
    {
        let total = items.len();
        let total_pages = total.div_ceil(self.size);
        let start = (self.page - 1).saturating_mul(self.size).min(total);
        let end = (start + self.size).min(total);
        let mut included = Included::default();
        let data: Vec<Value> = match dropped {
            true => Vec::new(),
            false => items[start..end]
                .iter()
                .map(|item| render(item, &mut included))
                .collect(),
        };
        let link = |page: usize| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in self.pairs.iter().filter(|(k, _)| k != "page[number]") {
                query.append_pair(k, v);
            }
            query.append_pair("page[number]", &page.to_string());
            format!("http://{host}/api/v2/{path}?{}", query.finish())
        };
        let mut links = Map::new();
        links.insert("first".into(), json!(link(1)));
        links.insert("last".into(), json!(link(total_pages.max(1))));
        if self.page < total_pages {
            links.insert("next".into(), json!(link(self.page + 1)));
        }
        if self.page > 1 {
            links.insert("prev".into(), json!(link(self.page - 1)));
        }
        let mut body = json!({
            "data": data,
            "meta": {
                "current_page": self.page,
                "total_pages": total_pages,
                "total_count": total,
                "page_size": self.size,
                "max_page_size": MAX_PAGE_SIZE,
            },
            "links": links,
        });
        included.attach(&mut body);
        Json(body).into_response()
    }
}
