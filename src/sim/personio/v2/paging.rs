//! v2 cursor paging: `limit` bounds per endpoint, opaque keyset cursors (the last key served,
//! so deletions between pages skip nothing), the `_data` / `_meta.links` envelope with links
//! absolute from the request's Host (or relative), and the paging quirks.

use std::fmt::Display;
use std::str::FromStr;

use axum::http::{header, HeaderMap, StatusCode, Uri};
use serde_json::{json, Value};

use super::render::v2_error;
use super::PersonioV2Quirks;
use crate::sim::personio::render::Fail;

/// The query pairs of a request, repeated keys kept.
pub(in crate::sim::personio) fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Where a cursor points: the page it fetches (1-based, for the quirks), the key served last,
/// and whether the empty-page quirk already played on this page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Cursor {
    page: usize,
    after: Option<String>,
    emptied: bool,
}

const CURSOR_PREFIX: &str = "cur_";

/// FNV-1a: a cursor that was tampered with or made up fails its check.
fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

fn encode(c: &Cursor) -> String {
    let payload = format!(
        "{}.{}.{}",
        c.page,
        u8::from(c.emptied),
        c.after.as_deref().unwrap_or("")
    );
    let hex: String = payload.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{CURSOR_PREFIX}{hex}{:08x}", checksum(payload.as_bytes()))
}

fn decode(raw: &str) -> Option<Cursor> {
    let hex = raw.strip_prefix(CURSOR_PREFIX)?;
    let (body, sum) = hex.split_at_checked(hex.len().checked_sub(8)?)?;
    if body.len() % 2 != 0 {
        return None;
    }
    let bytes: Vec<u8> = (0..body.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(body.get(i..i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    if u32::from_str_radix(sum, 16).ok()? != checksum(&bytes) {
        return None;
    }
    let payload = String::from_utf8(bytes).ok()?;
    let mut parts = payload.splitn(3, '.');
    let page = parts.next()?.parse().ok().filter(|p| *p >= 1)?;
    let emptied = parts.next()? == "1";
    let after = Some(parts.next()?.to_string()).filter(|a| !a.is_empty());
    Some(Cursor {
        page,
        after,
        emptied,
    })
}

fn invalid_cursor() -> Fail {
    v2_error(
        StatusCode::BAD_REQUEST,
        "Invalid cursor",
        "The provided cursor is not valid.",
    )
}

/// One list request: its page size, position and links.
#[derive(Debug, Clone)]
pub(in crate::sim::personio) struct PageRequest {
    limit: usize,
    cursor: Cursor,
    self_href: String,
    /// The link without its cursor: scheme, host, path and the other parameters.
    base_href: String,
    base_has_query: bool,
}

impl PageRequest {
    /// Reads `limit` (1..=`max`, `default` when absent) and `cursor`.
    pub(in crate::sim::personio) fn parse(
        uri: &Uri,
        headers: &HeaderMap,
        query: &[(String, String)],
        (default, max): (usize, usize),
        relative_links: bool,
    ) -> Result<Self, Fail> {
        let limit = match query.iter().find(|(k, _)| k == "limit") {
            None => default,
            Some((_, raw)) => raw
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=max).contains(l))
                .ok_or_else(|| {
                    v2_error(
                        StatusCode::BAD_REQUEST,
                        "Bad Request",
                        "Provided value for limit is not valid",
                    )
                })?,
        };
        let cursor = match query.iter().find(|(k, _)| k == "cursor") {
            None => Cursor {
                page: 1,
                ..Cursor::default()
            },
            Some((_, raw)) => decode(raw).ok_or_else(invalid_cursor)?,
        };
        let origin = if relative_links {
            String::new()
        } else {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        };
        let self_href = format!(
            "{origin}{}",
            uri.path_and_query().map_or(uri.path(), |p| p.as_str())
        );
        let rest: Vec<&(String, String)> = query.iter().filter(|(k, _)| k != "cursor").collect();
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &rest {
            serializer.append_pair(k, v);
        }
        let others = serializer.finish();
        Ok(Self {
            limit,
            cursor,
            self_href,
            base_href: format!("{origin}{}?{others}", uri.path()),
            base_has_query: !rest.is_empty(),
        })
    }

    fn href(&self, cursor: &Cursor) -> String {
        let sep = if self.base_has_query { "&" } else { "" };
        format!("{}{sep}cursor={}", self.base_href, encode(cursor))
    }
}

/// The page `request` asks for of `records` (filtered, in their stable order by key), in the
/// v2 envelope. Only the page is rendered.
pub(in crate::sim::personio) fn page<K, T>(
    request: &PageRequest,
    quirks: &PersonioV2Quirks,
    records: &[(K, T)],
    render: impl Fn(&T) -> Value,
) -> Result<Value, Fail>
where
    K: Ord + Display + FromStr,
{
    let cursor = &request.cursor;
    let start = match &cursor.after {
        None => 0,
        Some(raw) => {
            let key: K = raw.parse().map_err(|_| invalid_cursor())?;
            records.partition_point(|(k, _)| *k <= key)
        }
    };
    let (served, next) = if quirks.empty_page_with_next == Some(cursor.page) && !cursor.emptied {
        let again = Cursor {
            emptied: true,
            ..cursor.clone()
        };
        (&records[..0], Some(again))
    } else {
        let end = (start + request.limit).min(records.len());
        let next = (end < records.len()).then(|| Cursor {
            page: cursor.page + 1,
            after: Some(records[end - 1].0.to_string()),
            emptied: false,
        });
        let mut served = &records[start..end];
        if quirks.drop_page == Some(cursor.page) && !served.is_empty() {
            served = &served[..served.len() - 1];
        }
        (served, next)
    };
    let next_href = if quirks.repeat_cursor == Some(cursor.page) {
        Some(request.self_href.clone())
    } else {
        next.map(|c| request.href(&c))
    };
    let mut links = json!({ "self": { "href": request.self_href } });
    if let Some(href) = next_href {
        links["next"] = json!({ "href": href });
    }
    let data: Vec<Value> = served.iter().map(|(_, t)| render(t)).collect();
    Ok(json!({ "_data": data, "_meta": { "links": links } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path_and_query: &str, relative: bool) -> Result<PageRequest, Fail> {
        let uri: Uri = path_and_query.parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "sim.test:8080".parse().unwrap());
        PageRequest::parse(&uri, &headers, &query_pairs(&uri), (2, 3), relative)
    }

    fn records() -> Vec<(i64, i64)> {
        [3, 5, 8, 13, 21].map(|k| (k, k)).to_vec()
    }

    /// Follows `next` links from the first page: the keys served, and the hrefs followed.
    fn walk(quirks: &PersonioV2Quirks, records: &[(i64, i64)]) -> (Vec<i64>, Vec<String>) {
        let mut href = "/v2/things?limit=2&person.id=7".to_string();
        let (mut keys, mut hrefs) = (Vec::new(), Vec::new());
        for _ in 0..10 {
            let path = href.trim_start_matches("http://sim.test:8080").to_string();
            let body = page(&request(&path, false).unwrap(), quirks, records, |t| {
                json!(t)
            })
            .unwrap();
            keys.extend(
                body["_data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap()),
            );
            match body["_meta"]["links"]["next"]["href"].as_str() {
                Some(next) => {
                    href = next.to_string();
                    hrefs.push(href.clone());
                }
                None => break,
            }
        }
        (keys, hrefs)
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let c = Cursor {
            page: 3,
            after: Some("2026-06-01".into()),
            emptied: true,
        };
        let raw = encode(&c);
        assert!(raw.starts_with("cur_"));
        assert_eq!(decode(&raw), Some(c));
        let mut tampered = raw.clone().into_bytes();
        tampered[6] = if tampered[6] == b'1' { b'2' } else { b'1' };
        assert_eq!(decode(&String::from_utf8(tampered).unwrap()), None);
        for bad in [
            "",
            "cur_",
            "cur_zz00000000",
            "invalid-cursor-string",
            &raw[..raw.len() - 1],
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn limits_outside_the_bounds_are_refused() {
        assert_eq!(request("/v2/x", false).unwrap().limit, 2);
        assert_eq!(request("/v2/x?limit=3", false).unwrap().limit, 3);
        for bad in ["0", "4", "-1", "ten"] {
            let refused = request(&format!("/v2/x?limit={bad}"), false).unwrap_err();
            assert_eq!(refused.0.status(), StatusCode::BAD_REQUEST);
        }
        assert!(request("/v2/x?cursor=nope", false).is_err());
    }

    #[test]
    fn pages_follow_on_with_absolute_links_keeping_the_filters() {
        let (keys, hrefs) = walk(&PersonioV2Quirks::default(), &records());
        assert_eq!(keys, vec![3, 5, 8, 13, 21]);
        assert_eq!(hrefs.len(), 2);
        assert!(
            hrefs[0].starts_with("http://sim.test:8080/v2/things?limit=2&person.id=7&cursor=cur_")
        );
    }

    #[test]
    fn a_key_deleted_between_pages_skips_nothing() {
        let all = records();
        let first = page(
            &request("/v2/t?limit=2", true).unwrap(),
            &PersonioV2Quirks::default(),
            &all,
            |t| json!(t),
        )
        .unwrap();
        let next = first["_meta"]["links"]["next"]["href"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(next.starts_with("/v2/t?limit=2&cursor="));
        // Key 5, the last one served, goes away before the second page.
        let fewer: Vec<(i64, i64)> = all.into_iter().filter(|(k, _)| *k != 5).collect();
        let second = page(
            &request(&next, true).unwrap(),
            &PersonioV2Quirks::default(),
            &fewer,
            |t| json!(t),
        )
        .unwrap();
        assert_eq!(second["_data"], json!([8, 13]));
    }

    #[test]
    fn the_paging_quirks() {
        let empty = PersonioV2Quirks {
            empty_page_with_next: Some(2),
            ..PersonioV2Quirks::default()
        };
        let (keys, hrefs) = walk(&empty, &records());
        assert_eq!(keys, vec![3, 5, 8, 13, 21]);
        assert_eq!(hrefs.len(), 3, "one more hop for the empty page");

        let short = PersonioV2Quirks {
            drop_page: Some(1),
            ..PersonioV2Quirks::default()
        };
        assert_eq!(walk(&short, &records()).0, vec![3, 8, 13, 21]);

        let looping = PersonioV2Quirks {
            repeat_cursor: Some(2),
            ..PersonioV2Quirks::default()
        };
        let (_, hrefs) = walk(&looping, &records());
        assert_eq!(hrefs.len(), 10, "walks until the guard");
        assert!(hrefs[1..].iter().all(|h| *h == hrefs[0]));
    }
}
