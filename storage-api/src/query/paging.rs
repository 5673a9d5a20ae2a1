//! Paging: the one place that decides what a page of a list is.
//!
//! Every layer, and the reference [evaluator](crate::evaluator), pages through a [`Pager`]:
//!
//! 1. [`Pager::new`] refuses a continue token made by a list of something else ([`Listed`]):
//!    `400` naming `continue`.
//! 2. The layer skips past [`Pager::position`] (the continue position, when there is one),
//!    then skips [`Pager::offset`] matching items (a token cancels the offset: it holds the
//!    position), then fetches up to [`Pager::fetch_limit`] items (`limit + 1`: the extra one
//!    tells whether more remain). When [`Pager::counts_remaining`], it also counts the matching
//!    items after the position.
//! 3. [`Pager::finish`] cuts the page to `limit`, computes the remaining count, and emits a
//!    continue token exactly when more items remain, `withContinue` is on and the page is not
//!    empty; the token holds the sort key of the page's last item.
//!
//! ```
//! # use storage_api::{Gvr, ListOptions, query::paging::{Listed, Pager}};
//! let mut options = ListOptions::default();
//! options.limit = Some(2);
//! let pods = Gvr::new("", "v1", "pods");
//! let pager = Pager::new(&options, Listed::Resource(&pods))?;
//! assert_eq!(pager.fetch_limit(), Some(3));
//! let fetched = vec!["a", "b", "c"]; // in order, from the page start
//! let page = pager.finish(fetched, None, |last| Ok(vec![storage_api::query::SortValue::Str(last.to_string())]))?;
//! assert_eq!(page.items, ["a", "b"]);
//! assert!(page.continue_token.is_some());
//! # Ok::<(), storage_api::StorageError>(())
//! ```

use sha2::{Digest, Sha256};

use super::{ContinuePosition, ListOptions, SortValue};
use crate::collection::CollectionResourceType;
use crate::error::{Result, StorageError};
use crate::object::Gvr;
use crate::storage::ListPage;

/// The name of the parameter, for errors.
const PARAMETER: &str = "continue";

/// What a list is of. A continue token resumes only a list of the same thing: the token of a
/// list of pods is refused on deployments, the token of a collection on other types.
#[derive(Debug, Clone, Copy)]
pub enum Listed<'a> {
    /// The objects of one resource.
    Resource(&'a Gvr),
    /// The objects of the resources of these collection types (as the layer was asked them).
    Collection(&'a [CollectionResourceType]),
}

impl Listed<'_> {
    /// The digest continue tokens carry to name this list.
    pub(crate) fn id(&self) -> ListId {
        let mut hasher = Sha256::new();
        let mut part = |text: &str| {
            hasher.update(text.as_bytes());
            hasher.update(b"\0");
        };
        match self {
            Self::Resource(gvr) => {
                part("resource");
                part(&gvr.group);
                part(&gvr.version);
                part(&gvr.resource);
            }
            Self::Collection(types) => {
                part("collection");
                for t in *types {
                    part(&t.group);
                    part(&t.version);
                    part(&t.resource);
                }
            }
        }
        let digest = hasher.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        ListId(id)
    }
}

/// A short digest of a [`Listed`]: which list a continue position belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListId(pub(crate) [u8; 8]);

impl ListOptions {
    /// The matching items to skip before the page: `offset`, unless a continue position says
    /// where the page starts (a token cancels the offset: it holds the position).
    pub fn effective_offset(&self) -> u64 {
        if self.continue_from.is_some() {
            0
        } else {
            self.offset
        }
    }
}

/// The paging of one list: where the page starts, how much to fetch, and how to finish it.
///
/// See the [module documentation](self) for the steps a layer follows.
#[derive(Debug, Clone, Copy)]
pub struct Pager<'a> {
    options: &'a ListOptions,
    list: ListId,
}

impl<'a> Pager<'a> {
    /// The pager of a list of `listed` for `options`.
    ///
    /// Fails with `400 BadRequest` naming `continue` when the options' continue position was
    /// made by a list of something else.
    pub fn new(options: &'a ListOptions, listed: Listed<'_>) -> Result<Self> {
        let list = listed.id();
        if let Some(position) = &options.continue_from
            && position.list != list
        {
            return Err(StorageError::bad_request(
                PARAMETER,
                "the continue token belongs to a list of another resource \
                 (a token only resumes the list that made it)",
            ));
        }
        Ok(Self { options, list })
    }

    /// The continue position: the page starts strictly after it.
    pub fn position(&self) -> Option<&'a ContinuePosition> {
        self.options.continue_from.as_ref()
    }

    /// The matching items to skip (after the position): [`ListOptions::effective_offset`].
    pub fn offset(&self) -> u64 {
        self.options.effective_offset()
    }

    /// At most this many items per page (`None`: no limit).
    pub fn limit(&self) -> Option<u64> {
        self.options.limit
    }

    /// How many items to fetch from the page start: `limit + 1`, the extra item telling whether
    /// more remain (`None`: all; `Some(0)` for a limit of 0, whose empty page has no token).
    pub fn fetch_limit(&self) -> Option<u64> {
        self.options.limit.map(|limit| {
            if limit == 0 {
                0
            } else {
                limit.saturating_add(1)
            }
        })
    }

    /// Whether the remaining count is asked: then [`Pager::finish`] needs the count of the
    /// matching items after the position.
    pub fn counts_remaining(&self) -> bool {
        self.options.with_remaining_count
    }

    /// Finishes the page from the `fetched` items (the matching items from the page start, in
    /// order, at least up to [`Pager::fetch_limit`] of them when there are that many).
    ///
    /// `counted` is the number of matching items after the continue position (all matching
    /// items without one), the offset's included: what a `COUNT(*)` with the position's
    /// condition gives. Pass it when [`Pager::counts_remaining`]; without it the remaining items
    /// are those of `fetched` past the page. `sort_key` gives the sort values of the page's last
    /// item, for the token; it is only called when a token is emitted.
    pub fn finish<T>(
        &self,
        mut fetched: Vec<T>,
        counted: Option<u64>,
        sort_key: impl FnOnce(&T) -> Result<Vec<SortValue>>,
    ) -> Result<Page<T>> {
        let limit = self
            .options
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let beyond = fetched.len().saturating_sub(limit) as u64;
        fetched.truncate(limit);
        let on_page = fetched.len() as u64;
        let remaining = match counted {
            Some(counted) => counted
                .saturating_sub(self.offset())
                .saturating_sub(on_page),
            None => beyond,
        };
        let continue_token = match fetched.last() {
            Some(last) if remaining > 0 && self.options.with_continue => {
                Some(self.token(sort_key(last)?))
            }
            _ => None,
        };
        Ok(Page {
            items: fetched,
            continue_token,
            remaining_item_count: self.options.with_remaining_count.then_some(remaining),
        })
    }

    /// The continue token of this list that resumes after `values` (the sort values of an
    /// item, one per field of [`ListOptions::effective_order`]).
    ///
    /// [`Pager::finish`] decides when there is one; this is for layers that page by themselves.
    pub fn token(&self, values: Vec<SortValue>) -> String {
        ContinuePosition {
            values,
            list: self.list,
            list_resource_version: None,
        }
        .encode(self.options)
    }
}

/// One page, before its items are readied for the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in [`ListOptions::effective_order`].
    pub items: Vec<T>,
    /// The token of the next page: set when more items remain, unless `with_continue` is off.
    pub continue_token: Option<String>,
    /// How many matching items come after this page, when `with_remaining_count` was asked.
    pub remaining_item_count: Option<u64>,
}

impl<T> Page<T> {
    /// The same page with each item converted by `f`.
    pub fn try_map<U>(self, f: impl FnMut(T) -> Result<U>) -> Result<Page<U>> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_>>()?,
            continue_token: self.continue_token,
            remaining_item_count: self.remaining_item_count,
        })
    }

    /// The same page with each item converted by `f`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            continue_token: self.continue_token,
            remaining_item_count: self.remaining_item_count,
        }
    }
}

impl Page<crate::object::ResourceObject> {
    /// The [`ListPage`] of these items, at `resource_version` (layers that keep one).
    pub fn into_list_page(self, resource_version: Option<String>) -> ListPage {
        ListPage {
            items: self.items,
            continue_token: self.continue_token,
            remaining_item_count: self.remaining_item_count,
            resource_version,
        }
    }
}

impl ListPage {
    /// This page of the list `options` asked, reporting the resourceVersion of the list's
    /// first page (carried in the continue token), as the kube-apiserver's pages all report the
    /// version the list started at. A layer that lists each page at its own version calls it:
    /// a client that watches from the version of the last page (an informer does) then gets
    /// every change made while it paged, instead of missing those to the pages it had already
    /// read. A page that continues a token made without a version keeps its own.
    pub fn pinned_to_first_page(mut self, options: &ListOptions) -> Result<Self> {
        if let Some(first) = options
            .continue_from
            .as_ref()
            .and_then(|p| p.list_resource_version.clone())
        {
            self.resource_version = Some(first);
        }
        if let (Some(token), Some(version)) = (&self.continue_token, &self.resource_version) {
            let mut position = ContinuePosition::decode(token, options)?;
            position.list_resource_version = Some(version.clone());
            self.continue_token = Some(position.encode(options));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods() -> Gvr {
        Gvr::new("", "v1", "pods")
    }

    fn key(item: &u32) -> Result<Vec<SortValue>> {
        Ok(vec![SortValue::Int(i64::from(*item))])
    }

    fn finish(options: &ListOptions, fetched: Vec<u32>, counted: Option<u64>) -> Page<u32> {
        Pager::new(options, Listed::Resource(&pods()))
            .expect("pager")
            .finish(fetched, counted, key)
            .expect("page")
    }

    #[test]
    fn a_token_cancels_the_offset() {
        let options = ListOptions {
            offset: 5,
            ..ListOptions::default()
        };
        assert_eq!(options.effective_offset(), 5);
        let pods = pods();
        let resumed = ListOptions {
            continue_from: Some(ContinuePosition {
                values: Vec::new(),
                list: Listed::Resource(&pods).id(),
                list_resource_version: None,
            }),
            ..options
        };
        assert_eq!(resumed.effective_offset(), 0);
        let pager = Pager::new(&resumed, Listed::Resource(&pods)).expect("pager");
        assert_eq!(pager.offset(), 0);
    }

    #[test]
    fn later_pages_report_the_first_pages_version() {
        let pods = pods();
        let mut options = ListOptions {
            limit: Some(1),
            ..ListOptions::default()
        };
        let token = |options: &ListOptions| {
            Pager::new(options, Listed::Resource(&pods))
                .expect("pager")
                .token(
                    options
                        .effective_order()
                        .iter()
                        .map(|_| SortValue::Str("a".into()))
                        .collect(),
                )
        };
        let first = ListPage {
            continue_token: Some(token(&options)),
            resource_version: Some("5".into()),
            ..ListPage::default()
        }
        .pinned_to_first_page(&options)
        .expect("first page");
        assert_eq!(first.resource_version.as_deref(), Some("5"));
        let carried = first.continue_token.expect("a token");
        options.continue_from =
            Some(ContinuePosition::decode(&carried, &options).expect("a valid token"));
        // Read later, at version 9: reports 5, and so does the token of the page after.
        let second = ListPage {
            continue_token: Some(token(&options)),
            resource_version: Some("9".into()),
            ..ListPage::default()
        }
        .pinned_to_first_page(&options)
        .expect("second page");
        assert_eq!(second.resource_version.as_deref(), Some("5"));
        options.continue_from = Some(
            ContinuePosition::decode(&second.continue_token.expect("a token"), &options)
                .expect("a valid token"),
        );
        let last = ListPage {
            resource_version: Some("12".into()),
            ..ListPage::default()
        }
        .pinned_to_first_page(&options)
        .expect("last page");
        assert_eq!(last.resource_version.as_deref(), Some("5"));
        // A token of a layer without versions stays as it was.
        options.continue_from = None;
        let plain = token(&options);
        let unversioned = ListPage {
            continue_token: Some(plain.clone()),
            ..ListPage::default()
        }
        .pinned_to_first_page(&options)
        .expect("page");
        assert_eq!(unversioned.continue_token, Some(plain));
    }

    #[test]
    fn fetches_one_more_than_the_limit() {
        let limited = |limit| ListOptions {
            limit,
            ..ListOptions::default()
        };
        let pods = pods();
        let fetch = |o: &ListOptions| {
            Pager::new(o, Listed::Resource(&pods))
                .expect("pager")
                .fetch_limit()
        };
        assert_eq!(fetch(&limited(Some(10))), Some(11));
        assert_eq!(fetch(&limited(Some(0))), Some(0));
        assert_eq!(fetch(&limited(None)), None);
        assert_eq!(fetch(&limited(Some(u64::MAX))), Some(u64::MAX));
    }

    #[test]
    fn a_token_iff_more_remain_with_continue_and_a_non_empty_page() {
        let options = ListOptions {
            limit: Some(2),
            ..ListOptions::default()
        };
        let full = finish(&options, vec![1, 2, 3], None);
        assert_eq!(full.items, [1, 2]);
        assert!(full.continue_token.is_some(), "a third item remains");
        assert_eq!(full.remaining_item_count, None, "not asked");

        let last = finish(&options, vec![1, 2], None);
        assert_eq!(
            last.continue_token, None,
            "a full page is not a reason for a token"
        );

        let without = ListOptions {
            with_continue: false,
            ..options.clone()
        };
        assert_eq!(finish(&without, vec![1, 2, 3], None).continue_token, None);

        let zero = ListOptions {
            limit: Some(0),
            with_remaining_count: true,
            ..ListOptions::default()
        };
        let empty = finish(&zero, Vec::new(), Some(4));
        assert_eq!(
            (empty.continue_token, empty.remaining_item_count),
            (None, Some(4)),
            "an empty page has no token, but a count"
        );
    }

    #[test]
    fn the_remaining_count_skips_the_offset_and_the_page() {
        let options = ListOptions {
            limit: Some(2),
            offset: 3,
            with_remaining_count: true,
            ..ListOptions::default()
        };
        // 10 after the position: 3 skipped, 2 on the page, 5 after it.
        let page = finish(&options, vec![4, 5, 6], Some(10));
        assert_eq!(page.remaining_item_count, Some(5));
        assert!(page.continue_token.is_some());
        // An offset past the end: nothing on the page, nothing after it.
        let past = finish(&options, Vec::new(), Some(2));
        assert_eq!((past.items.len(), past.remaining_item_count), (0, Some(0)));
        // The count wins over the extra item fetched (the data changed in between).
        let changed = finish(&options, vec![4, 5, 6], Some(5));
        assert_eq!(
            (changed.continue_token, changed.remaining_item_count),
            (None, Some(0))
        );
    }

    #[test]
    fn a_token_of_one_resource_is_refused_on_another() {
        let options = ListOptions {
            limit: Some(1),
            ..ListOptions::default()
        };
        let pods = pods();
        let deployments = Gvr::new("apps", "v1", "deployments");
        let token = Pager::new(&options, Listed::Resource(&pods))
            .expect("pager")
            .token(vec![SortValue::Str("c".into()); 6]);
        let resumed = ListOptions {
            continue_from: Some(ContinuePosition::decode(&token, &options).expect("valid")),
            ..options.clone()
        };
        assert!(Pager::new(&resumed, Listed::Resource(&pods)).is_ok());
        let err = Pager::new(&resumed, Listed::Resource(&deployments)).expect_err("pods token");
        assert_eq!(err.status().code, 400);
        assert!(err.to_string().starts_with("continue:"), "{err}");

        let workloads = [CollectionResourceType::new("apps", "v1", "deployments")];
        let err = Pager::new(&resumed, Listed::Collection(&workloads)).expect_err("collection");
        assert_eq!(err.status().code, 400);
        let other_version = Gvr::new("", "v2", "pods");
        assert!(Pager::new(&resumed, Listed::Resource(&other_version)).is_err());
    }
}
