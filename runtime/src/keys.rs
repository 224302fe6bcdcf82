//! Records side by side by a hash of a text (a claim id, a member id), in 64-bit keys that sort
//! in parallel: how both data paths find duplicate claim ids, and how the batch fast path puts a
//! member's claims together.

/// The 32 high bits of a hash of `bytes`, above a record index: records sorted by these keys are
/// side by side by hash, each hash's in input order.
pub(crate) fn key(bytes: &[u8], i: u32) -> u64 {
    use std::hash::BuildHasher;
    let hash = foldhash::fast::FixedState::default().hash_one(bytes);
    (hash & !0xffff_ffff) | u64::from(i)
}

/// The record index of a key.
pub(crate) fn record(key: u64) -> u32 {
    key as u32
}

/// Runs of sorted keys sharing their hash.
pub(crate) fn runs(keys: &[u64]) -> impl Iterator<Item = &[u64]> {
    keys.chunk_by(|a, b| a >> 32 == b >> 32)
}

/// Every record whose text (`text(record)`) an earlier record has, with the first record that
/// has it, `(later, first)`, in order of the later; `keys` are the records' keys, sorted. Texts
/// sharing a hash are told apart exactly.
pub(crate) fn duplicates<'t>(
    keys: &[u64],
    text: impl Fn(u32) -> &'t [u8] + Sync,
) -> Vec<(u32, u32)> {
    use rayon::prelude::*;
    let shared: Vec<&[u64]> = runs(keys).filter(|run| run.len() > 1).collect();
    // Within a run of one hash, records by text then input order: the first of each text is the
    // first record with it, the others its duplicates.
    let mut pairs: Vec<(u32, u32)> = shared
        .par_iter()
        .flat_map_iter(|run| {
            let mut records: Vec<u32> = run.iter().map(|&k| record(k)).collect();
            records.sort_by(|&a, &b| text(a).cmp(text(b)).then(a.cmp(&b)));
            let mut pairs = Vec::new();
            let mut first = 0;
            for (n, &r) in records.iter().enumerate() {
                match records.get(first) {
                    Some(&f) if text(f) == text(r) => {
                        if n != first {
                            pairs.push((r, f));
                        }
                    }
                    _ => first = n,
                }
            }
            pairs
        })
        .collect();
    pairs.par_sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_name_the_first_record_with_the_text() {
        let texts: [&[u8]; 7] = [b"a", b"b", b"a", b"c", b"b", b"a", b""];
        let mut keys: Vec<u64> = texts.iter().enumerate().map(|(i, t)| key(t, i as u32)).collect();
        keys.sort_unstable();
        let text = |i: u32| texts.get(i as usize).copied().unwrap_or_default();
        assert_eq!(duplicates(&keys, text), vec![(2, 0), (4, 1), (5, 0)]);
        // Every text with one hash: told apart exactly.
        let mut same: Vec<u64> = (0..7).map(|i| i as u64).collect();
        same.sort_unstable();
        assert_eq!(duplicates(&same, text), vec![(2, 0), (4, 1), (5, 0)]);
    }
}
