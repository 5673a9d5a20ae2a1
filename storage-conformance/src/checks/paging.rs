//! Paging: limits, continue tokens (keyset positions made by `ContinuePosition::encode`, decoded
//! by the apiserver), remaining counts, offsets, and paging while the data change.

use std::collections::HashSet;

use super::{deployments, first_fixture, namespaces, pods, renamed};
use crate::harness::{Harness, Query, Target, assert_answer, assert_status, identity};
use storage_api::Change;
use storage_api::evaluator::Evaluator;
use storage_api::object::ResourceObject;

/// Walks every page for several limits (1, 7, 50, an exact divisor of the total so that the
/// last page is full, the total, more than the total), following the layer's continue tokens:
/// each page equals the oracle's page; a continue token is present exactly when more items
/// remain (not when the page merely is full); the remaining count is exact on every page (0 on
/// the last); the pages together are the whole answer, nothing twice, nothing missing.
pub async fn walks_every_page(mut h: Harness) {
    h.load().await;
    let total = h.model().objects(&pods()).len() as u64;
    let divisor = (2..=total / 2)
        .rev()
        .find(|d| total.is_multiple_of(*d) && total / d >= 2)
        .unwrap_or(total);
    let target = Target::Resource(pods());
    for limit in [1, 7, 50, divisor, total, total + 1] {
        h.walk(&target, &Query::new(), limit).await;
    }
    h.walk(
        &target,
        &Query::new().param("labelSelector", "tier!=backend"),
        4,
    )
    .await;
    h.walk(
        &target,
        &Query::new().param("orderby", "created_at desc"),
        9,
    )
    .await;
    h.walk(&Target::Resource(deployments()), &Query::new(), 1)
        .await;
}

/// `withContinue=false` (or the search label): a limited page carries no continue token even
/// though more items remain; the remaining count is still given when asked, and absent when not.
pub async fn without_continue(mut h: Harness) {
    h.load().await;
    let target = Target::Resource(pods());
    for query in [
        Query::new()
            .param("withContinue", "false")
            .param("limit", 5)
            .param("withRemainingCount", "true"),
        Query::new()
            .param(
                "labelSelector",
                "search.clusterpedia.io/with-continue=false",
            )
            .param("limit", 5),
        Query::new().param("limit", 5),
        Query::new()
            .param("limit", 5)
            .param("withRemainingCount", "false"),
        Query::new()
            .param(
                "labelSelector",
                "search.clusterpedia.io/with-remaining-count=true",
            )
            .param("limit", 3),
    ] {
        h.check(&target, &query).await;
    }
}

/// The layer's continue tokens only resume the query that made them: the apiserver refuses
/// (`400`) a token with other filters or another order, an altered token and garbage; the same
/// query with another page size resumes at the same position.
pub async fn continue_tokens_are_bound_to_their_query(mut h: Harness) {
    h.load().await;
    let ns = namespaces(&h);
    let target = Target::Resource(pods());
    let query = Query::new().param("namespaces", &ns[0]).param("limit", 3);
    let page = h
        .answer(&target, &query.options())
        .await
        .unwrap_or_else(|e| panic!("list pods {query} failed: {e}"));
    let token = page
        .page
        .continue_token
        .unwrap_or_else(|| panic!("list pods {query}: want a continue token, more items remain"));

    let same = query.clone().param("continue", &token);
    assert!(h.check(&target, &same).await);
    let bigger = Query::new()
        .param("namespaces", &ns[0])
        .param("limit", 10)
        .param("continue", &token);
    assert!(h.check(&target, &bigger).await);

    for (other, why) in [
        (
            Query::new().param("namespaces", &ns[1]).param("limit", 3),
            "other namespaces",
        ),
        (query.clone().param("orderby", "name desc"), "another order"),
        (
            query.clone().param("labelSelector", "app=api"),
            "another label selector",
        ),
        (Query::new().param("limit", 3), "no namespace filter"),
    ] {
        let refused = other.clone().param("continue", &token);
        assert_status(
            &format!("the token of {query} used with {why}: {refused}"),
            refused.try_options(),
            400,
        );
    }
    let (payload, tag) = token.split_once('.').unwrap_or((token.as_str(), ""));
    let mut altered: Vec<char> = payload.chars().collect();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == 'A' { 'B' } else { 'A' };
    let altered: String = altered.into_iter().collect();
    for bad in [
        format!("{altered}.{tag}"),
        format!("{payload}.x{tag}"),
        "garbage.token".to_owned(),
        "e30".to_owned(),
    ] {
        let refused = query.clone().param("continue", &bad);
        assert_status(
            &format!("an altered or garbage token: {refused}"),
            refused.try_options(),
            400,
        );
    }
}

/// Paging while objects are inserted and deleted between pages (before and after the current
/// position): every page equals the oracle's page over the data of that moment, no object is
/// returned twice, every object present during the whole walk is returned, and items come in
/// strictly increasing order. Offset paging fails this; keyset paging passes.
pub async fn while_writing(mut h: Harness) {
    h.load().await;
    let target = Target::Resource(pods());
    let first = Query::new()
        .param("limit", 5)
        .param("withRemainingCount", "true");
    let options = first.options();
    let evaluator = Evaluator::new(&options, None);
    let initial: HashSet<String> = h
        .model()
        .objects(&pods())
        .iter()
        .map(|o| identity(o))
        .collect();
    let template = first_fixture(&h, &pods());
    let last_template = h
        .model()
        .objects(&pods())
        .into_iter()
        .max_by_key(|o| o.fields.key())
        .cloned()
        .expect("pods");
    let mut deleted: HashSet<String> = HashSet::new();
    let mut inserted: HashSet<String> = HashSet::new();
    let mut seen: Vec<ResourceObject> = Vec::new();
    let mut request = first.clone();
    for round in 0.. {
        let options = request
            .try_options()
            .unwrap_or_else(|e| panic!("{request}: the layer's token is refused: {e}"));
        let context = format!("list pods {first} while writing, page {}", round + 1);
        let got = h
            .answer(&target, &options)
            .await
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        let want = h.oracle(&target, &options);
        assert_answer(&context, &got, &want, &options);
        for item in &got.page.items {
            let id = identity(item);
            assert!(
                !seen.iter().any(|s| identity(s) == id),
                "{context}: {id} returned twice"
            );
            if let Some(previous) = seen.last() {
                let (a, b) = (
                    evaluator.sort_key(previous).expect("sort key"),
                    evaluator.sort_key(item).expect("sort key"),
                );
                assert!(
                    evaluator.compare(&a, &b).is_lt(),
                    "{context}: {id} comes before {}",
                    identity(previous)
                );
            }
            seen.push(item.clone());
        }
        let Some(token) = got.page.continue_token else {
            break;
        };
        request = first.clone().param("continue", token);
        assert!(round < 500, "{context}: the walk does not end");

        // Insert before and after the position; delete one returned item and one ahead.
        let before = renamed(&template, &format!("aaa-inserted-{round}"));
        let after = renamed(&last_template, &format!("zzz-inserted-{round}"));
        let mut changes = vec![
            Change::Upsert(before.clone()),
            Change::Upsert(after.clone()),
        ];
        inserted.extend([identity(&before), identity(&after)]);
        if let Some(returned) = seen
            .get(seen.len() / 2)
            .filter(|o| !deleted.contains(&identity(o)))
        {
            deleted.insert(identity(returned));
            changes.push(Change::Delete(returned.fields.key()));
        }
        let ahead = h
            .model()
            .objects(&pods())
            .into_iter()
            .filter(|o| !seen.iter().any(|s| s.fields.key() == o.fields.key()))
            .nth(3)
            .cloned();
        if let Some(ahead) = ahead {
            deleted.insert(identity(&ahead));
            changes.push(Change::Delete(ahead.fields.key()));
        }
        h.apply(&pods(), changes).await;
    }
    let seen_ids: HashSet<String> = seen.iter().map(identity).collect();
    let missing: Vec<&String> = initial
        .iter()
        .filter(|id| !deleted.contains(*id) && !seen_ids.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "list pods {first} while writing: objects present throughout were never returned: {missing:?}"
    );
    let invented: Vec<&String> = seen_ids
        .iter()
        .filter(|id| !initial.contains(*id) && !inserted.contains(*id))
        .collect();
    assert!(
        invented.is_empty(),
        "list pods {first} while writing: returned objects never written: {invented:?}"
    );
}

/// Offsets (`offset=N`, a numeric `continue=N` as the original's clients send, the search label
/// `search.clusterpedia.io/offset`): the page starts after N matching items, with the right
/// continue token and remaining count, and the walk from there reaches the end; an offset past
/// the end gives an empty page.
pub async fn offsets(mut h: Harness) {
    h.load().await;
    let target = Target::Resource(pods());
    let queries = [
        Query::new()
            .param("offset", 5)
            .param("limit", 5)
            .param("withRemainingCount", "true"),
        Query::new().param("continue", 10).param("limit", 5),
        Query::new().param("offset", 0).param("limit", 3),
        Query::new()
            .param("labelSelector", "search.clusterpedia.io/offset=3")
            .param("limit", 4),
        Query::new()
            .param("offset", 7)
            .param("orderby", "created_at desc")
            .param("limit", 6),
        Query::new()
            .param("offset", 100_000)
            .param("limit", 5)
            .param("withRemainingCount", "true"),
        Query::new()
            .param("offset", 4)
            .param("labelSelector", "app!=api"),
    ];
    for query in &queries {
        h.check(&target, query).await;
    }
    h.walk(&target, &Query::new().param("offset", 11), 8).await;
}
