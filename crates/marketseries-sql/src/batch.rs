//! Batch preparation shared by every upsert.

use std::collections::BTreeMap;

/// The records of `items` that win for each natural key: the last occurrence, as a single
/// `ON CONFLICT DO UPDATE` statement may not touch one row twice.
pub(crate) fn last_wins<'a, T, K: Ord>(items: &'a [T], key: impl Fn(&'a T) -> K) -> Vec<&'a T> {
    let mut by_key: BTreeMap<K, &T> = BTreeMap::new();
    for item in items {
        by_key.insert(key(item), item);
    }
    by_key.into_values().collect()
}

/// Converts a database count to `u64` (counts are never negative; a negative one reads 0).
pub fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn last_occurrence_wins() {
        let v = [(1, 'a'), (2, 'b'), (1, 'c')];
        let won = super::last_wins(&v, |x| x.0);
        assert_eq!(won, vec![&(1, 'c'), &(2, 'b')]);
    }
}
