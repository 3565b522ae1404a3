//! Policy checks: nothing expires unless a horizon is stored, a change that would make
//! stored rows expire needs confirmation, the dry run counts exactly what retention then
//! drops, and the stored policies are what every reader sees.

use chrono::TimeDelta;
use marketseries_core::{Dataset, Error, ErrorKind, Expiry, Policies, RetentionPolicy};

use super::fixtures::{fixture_now, same, Fixture};
use super::maintenance::history;
use super::StoreFactory;

use crate::counts::table_rows as rows;

/// One record a week: a few dozen partitions or chunks, so that the server's jobs (which
/// the policies start at once on TimescaleDB) have little to do.
const WEEKLY: usize = 7;

fn seed() -> Policies {
    Policies {
        retention: RetentionPolicy::SEED,
        ..Policies::default()
    }
}

/// Data older than every seed horizon survives every maintenance entry point under the
/// default policies; storing the seed horizons without confirmation is refused with what
/// they would drop, and changes nothing.
pub async fn nothing_expires_unless_stored(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let (candles, readings, flows) = history(fixture_now(), WEEKLY);
    fx.candles(&candles).await;
    fx.sentiments(&readings).await;
    fx.flows(&flows).await;
    let before = rows(&*fx.store).await;
    same(
        "stored policies of a new store",
        fx.store.policies().await.expect("policies"),
        Policies::default(),
    );
    let report = fx
        .store
        .apply_policies(&Policies::default(), Expiry::Refuse)
        .await
        .expect("the default policies need no confirmation");
    assert!(!report.preview.drops_data(), "defaults expire nothing");
    fx.store.refresh(None).await.expect("refresh");
    let retention = fx.store.apply_retention().await.expect("retention");
    assert!(
        retention.actions.iter().all(|a| a.removed == 0),
        "retention without a stored horizon removed something: {retention:?}"
    );
    same(
        "rows after maintenance",
        rows(&*fx.store).await,
        before.clone(),
    );

    let err = fx
        .store
        .apply_policies(&seed(), Expiry::Refuse)
        .await
        .expect_err("the seed horizons expire stored rows");
    same("error kind", err.kind(), ErrorKind::Unconfirmed);
    let Error::Unconfirmed { preview } = &err else {
        panic!("expected Error::Unconfirmed, got {err:?}");
    };
    assert!(preview.drops_data(), "the refusal names what would expire");
    let named: Vec<Dataset> = preview
        .expiring
        .iter()
        .filter(|e| e.rows > 0)
        .map(|e| e.dataset)
        .collect();
    for d in [Dataset::Price, Dataset::Sentiment, Dataset::Flow] {
        assert!(named.contains(&d), "{d} is missing from {preview}");
    }
    same(
        "stored policies after a refusal",
        fx.store.policies().await.expect("policies"),
        Policies::default(),
    );
    fx.store.apply_retention().await.expect("retention");
    same("rows after a refusal", rows(&*fx.store).await, before);
}

/// The dry run counts exactly the rows the next retention run drops, per table; once
/// stored, the same horizons (or longer ones) need no confirmation again.
pub async fn preview_counts_what_retention_drops(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    if !fx.store.capabilities().retention {
        eprintln!(
            "SKIPPED preview_counts_what_retention_drops: {} has no retention",
            fx.store.capabilities().backend
        );
        return;
    }
    let (candles, readings, flows) = history(fixture_now(), WEEKLY);
    fx.candles(&candles).await;
    fx.sentiments(&readings).await;
    fx.flows(&flows).await;
    let policies = seed();
    let preview = fx.store.preview_policies(&policies).await.expect("preview");
    same(
        "a preview changes nothing",
        fx.store.policies().await.expect("policies"),
        Policies::default(),
    );
    let before = rows(&*fx.store).await;
    let report = fx
        .store
        .apply_policies(&policies, Expiry::Confirmed)
        .await
        .expect("confirmed");
    same("the report's preview", &report.preview, &preview);
    fx.store.apply_retention().await.expect("retention");
    let after = rows(&*fx.store).await;
    for e in &preview.expiring {
        let dropped = before[e.table] - after[e.table];
        same(
            &format!("{} rows dropped, against the preview", e.table),
            dropped,
            e.rows,
        );
        if e.rows > 0 {
            assert!(
                e.newest.is_some_and(|t| t < e.cutoff),
                "{}: an expiring row at or after the cutoff: {e:?}",
                e.table
            );
        }
    }
    assert!(preview.drops_data(), "400 days of candles expire at 365");
    fx.store
        .apply_policies(&policies, Expiry::Refuse)
        .await
        .expect("re-applying the stored horizons needs no confirmation");
    let mut longer = policies;
    longer.retention.price = Some(TimeDelta::days(400));
    longer.retention.sentiment = None;
    fx.store
        .apply_policies(&longer, Expiry::Refuse)
        .await
        .expect("longer horizons need no confirmation");
}

/// The stored policies are what `policies()` and `stats` report.
pub async fn policies_are_stored(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let mut p = Policies::default();
    p.retention.flow = Some(TimeDelta::days(30));
    p.retention.price = Some(TimeDelta::days(400));
    p.compression.sentiment_after = None;
    p.refresh.schedule = TimeDelta::minutes(10);
    p.refresh.start_offset = TimeDelta::hours(36);
    fx.store
        .apply_policies(&p, Expiry::Refuse)
        .await
        .expect("nothing stored, nothing expires");
    same(
        "stored policies",
        fx.store.policies().await.expect("policies"),
        p,
    );
    same(
        "policies in stats",
        fx.store.stats().await.expect("stats").policies,
        p,
    );
}
