//! Reading a JSON:API collection page by page, and proving the read complete.

use std::collections::HashSet;

use url::Url;

use super::client::{protocol, ProductiveClient, API};
use super::wire::{self, Document, Resource};
use crate::domain::Fetched;
use crate::http::ApiError;

const PAGE_SIZE: &str = "200";
/// A collection with more pages than this is taken to be looping.
const MAX_PAGES: usize = 10_000;

impl ProductiveClient {
    /// Reads every page of a collection into `into`, converting each page's records as it
    /// arrives (raw JSON of a whole organisation would be many times the size of its records);
    /// `convert` may drop a record by returning `None`. Follows `links.next` (on the configured
    /// host only), else page numbers up to `meta.total_pages`.
    pub(super) async fn collection<A, T, K>(
        &self,
        path: &str,
        query: &[(String, String)],
        mut convert: impl FnMut(Resource<A>) -> Result<K, String>,
        into: &mut Fetched<T>,
    ) -> Result<(), ApiError>
    where
        A: serde::de::DeserializeOwned,
        K: Into<Option<T>>,
    {
        let mut url = self.core.url(path);
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
            pairs
                .append_pair("page[number]", "1")
                .append_pair("page[size]", PAGE_SIZE);
        }
        let mut visited = HashSet::new();
        let mut number = 1i64;
        let mut read = 0i64;
        loop {
            if !visited.insert(url.to_string()) || visited.len() > MAX_PAGES {
                return Err(protocol(format!(
                    "pagination of /{path} loops (page {number} was already read)"
                )));
            }
            let reply = self.read(url.clone()).await?;
            let doc: Document = reply.json(API)?;
            let count = doc.data.as_array().map_or(0, Vec::len);
            let empty = count == 0;
            read += count as i64;
            wire::decode_each(doc.data, &mut convert, into).map_err(protocol)?;
            let meta = doc.meta.unwrap_or_default();
            let next_link = doc.links.and_then(|l| l.next).filter(|n| !n.is_empty());
            if let Some(link) = next_link {
                url = self.core.pinned_link(&link)?;
                number += 1;
            } else {
                let current = meta.current_page.unwrap_or(number);
                if empty || meta.total_pages.is_none_or(|total| current >= total) {
                    // What the sync concludes from a read includes "deleted in Productive", so
                    // a read that saw fewer records than the collection holds fails.
                    if let Some(total) = meta.total_count.filter(|t| *t > read) {
                        return Err(protocol(format!(
                            "incomplete read of /{path}: {read} of {total} records arrived"
                        )));
                    }
                    break;
                }
                number = current + 1;
                url = with_page_number(&url, number);
            }
            tracing::debug!(path, page = number, "reading next page");
        }
        Ok(())
    }
}

fn with_page_number(url: &Url, number: i64) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "page[number]")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut next = url.clone();
    next.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("page[number]", &number.to_string());
    next
}
