//! Splitting row lists into statements of a few fixed sizes.
//!
//! Multi-row statements are prepared once per size and cached by the driver; with powers of two
//! every statement text is reused whatever the batch length, and a batch of n rows takes at most
//! popcount(n) statements per table below 256 rows.

/// Rows per statement, largest first. Any count is a sum of these (the last is 1).
pub(crate) const SIZES: [usize; 9] = [256, 128, 64, 32, 16, 8, 4, 2, 1];

/// Splits `items` into consecutive slices whose lengths are all in [`SIZES`], largest first.
pub(crate) fn split<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    for size in SIZES {
        while items.len() >= size {
            let (head, rest) = items.split_at(size);
            out.push(head);
            items = rest;
        }
    }
    out
}

/// Index of `len` in [`SIZES`]; `len` must come from [`split`].
pub(crate) fn size_index(len: usize) -> usize {
    SIZES
        .iter()
        .position(|&s| s == len)
        .unwrap_or(SIZES.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_splits_into_known_sizes_in_order() {
        for n in 0..1200usize {
            let items: Vec<usize> = (0..n).collect();
            let parts = split(&items);
            assert!(parts.iter().all(|p| SIZES.contains(&p.len())), "n={n}");
            let joined: Vec<usize> = parts.iter().flat_map(|p| p.iter().copied()).collect();
            assert_eq!(joined, items);
        }
    }

    #[test]
    fn a_hundred_rows_take_three_statements() {
        let items = [0u8; 100];
        let lens: Vec<usize> = split(&items).iter().map(|p| p.len()).collect();
        assert_eq!(lens, vec![64, 32, 4]);
    }

    #[test]
    fn size_index_finds_each_size() {
        for (i, s) in SIZES.iter().enumerate() {
            assert_eq!(size_index(*s), i);
        }
    }
}
