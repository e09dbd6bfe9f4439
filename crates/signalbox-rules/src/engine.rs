//! The index-based engine behind [`crate::compile`]: the cost of matching one event depends on
//! the event and on how many rules match it, not on how many rules are loaded.
//!
//! How it works:
//! 1. Every field path any pattern mentions goes into a [`PathTrie`]. An event is read once
//!    along the trie and yields only the leaves some pattern looks at; other subtrees are
//!    skipped.
//! 2. A *predicate* is one field of one pattern alternative with its ORed conditions.
//!    Identical predicates of different rules are stored once, so 100,000 rules that all say
//!    `"coupon": [{"exists": true}]` cost one check, not 100,000.
//! 3. Per field, conditions are indexed: hash maps for exact and ignore-case values, maps keyed
//!    by length for prefixes and suffixes (one lookup per distinct length), and a list of the
//!    distinct remaining conditions (`anything-but`, `numeric`, `wildcard`, `cidr`) evaluated
//!    once per leaf. Each leaf value is therefore looked at once, whatever the rule count.
//! 4. Each alternative is *anchored* on its most selective predicate (the one fewest
//!    alternatives share, equality first). Only alternatives whose anchor was hit are checked,
//!    by looking their other predicates up among the hits. Alternatives without any predicate
//!    that needs a value (`{}`, or only `exists: false`) are checked for every event.
//!
//! 5. Array consistency: each leaf is read with its position among the event's arrays of objects
//!    (`Slots`). Events where no hit comes from inside an array of objects take the plain path
//!    above. Otherwise hits are kept as `(predicate, leaf)` pairs, and an alternative that passes
//!    step 4 is also searched for one leaf per hit predicate with no two leaves in different
//!    elements of one array (a predicate hit by a leaf outside arrays of objects constrains
//!    nothing). The search runs bottom-up over array elements with sets of predicates as bit
//!    masks, so a hostile event cannot make it exponential.
//!
//! Costs that still grow with the rule set: the number of distinct scan conditions on one field
//! (e.g. 10,000 different `numeric` ranges on `detail.price`), the number of distinct prefix or
//! suffix lengths on one field, and alternatives with no value-bearing predicate.

use std::cell::RefCell;

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::condition::{Condition, Literal, canonical_number_token, fold_case};
use crate::error::MatchError;
use crate::event::consistent;
use crate::flatten::{FieldId, Leaf, PathTrie, Slots};
use crate::matcher::Matcher;
use crate::pattern::{FieldMatch, Pattern};

type PredId = u32;
type AltId = u32;

const NO_ANCHOR: PredId = PredId::MAX;

/// The predicates one indexed value satisfies; almost always one, kept inline then so that a
/// lookup in a large map costs no further pointer chase.
#[derive(Debug, Clone)]
enum PredList {
    One(PredId),
    Many(Vec<PredId>),
}

impl PredList {
    fn push(&mut self, pred: PredId) {
        match self {
            PredList::One(first) => *self = PredList::Many(vec![*first, pred]),
            PredList::Many(preds) => preds.push(pred),
        }
    }

    fn as_slice(&self) -> &[PredId] {
        match self {
            PredList::One(pred) => std::slice::from_ref(pred),
            PredList::Many(preds) => preds,
        }
    }
}

/// Adds `pred` under `key`.
fn add_to(map: &mut FxHashMap<Box<str>, PredList>, key: &str, pred: PredId) {
    match map.get_mut(key) {
        Some(list) => list.push(pred),
        None => {
            map.insert(key.into(), PredList::One(pred));
        }
    }
}

/// Strings mapped to the predicates they satisfy, probed once per distinct length.
#[derive(Debug, Default)]
struct AffixIndex {
    by_text: FxHashMap<Box<str>, PredList>,
    /// Distinct key lengths in bytes, ascending.
    lengths: Vec<usize>,
}

impl AffixIndex {
    fn add(&mut self, text: &str, pred: PredId) {
        add_to(&mut self.by_text, text, pred);
        if let Err(at) = self.lengths.binary_search(&text.len()) {
            self.lengths.insert(at, text.len());
        }
    }

    fn prefixes_of(&self, s: &str, out: &mut Vec<PredId>) {
        for &len in &self.lengths {
            if len > s.len() {
                break;
            }
            if let Some(head) = s.get(..len)
                && let Some(preds) = self.by_text.get(head)
            {
                out.extend_from_slice(preds.as_slice());
            }
        }
    }

    fn suffixes_of(&self, s: &str, out: &mut Vec<PredId>) {
        for &len in &self.lengths {
            if len > s.len() {
                break;
            }
            if let Some(tail) = s.get(s.len() - len..)
                && let Some(preds) = self.by_text.get(tail)
            {
                out.extend_from_slice(preds.as_slice());
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }
}

/// Every condition on one field path, indexed by how it is evaluated.
#[derive(Debug, Default)]
struct FieldIndex {
    strings: FxHashMap<Box<str>, PredList>,
    /// Keyed by [`crate::condition::canonical_number`].
    numbers: FxHashMap<Box<str>, PredList>,
    trues: Vec<PredId>,
    falses: Vec<PredId>,
    nulls: Vec<PredId>,
    prefixes: AffixIndex,
    suffixes: AffixIndex,
    /// Case-folded keys, probed with the case-folded value.
    ignore_case: FxHashMap<Box<str>, PredList>,
    prefixes_ignore_case: AffixIndex,
    suffixes_ignore_case: AffixIndex,
    exists: Vec<PredId>,
    /// Distinct conditions evaluated one by one; `scan_keys` finds duplicates at build time.
    scan: Vec<(Condition, Vec<PredId>)>,
    scan_keys: FxHashMap<String, usize>,
}

impl FieldIndex {
    fn add(&mut self, condition: &Condition, pred: PredId) {
        match condition {
            Condition::Equals(Literal::String(s)) => add_to(&mut self.strings, s, pred),
            Condition::Equals(Literal::Number(n)) => add_to(&mut self.numbers, n, pred),
            Condition::Equals(Literal::Bool(true)) => self.trues.push(pred),
            Condition::Equals(Literal::Bool(false)) => self.falses.push(pred),
            Condition::Equals(Literal::Null) => self.nulls.push(pred),
            Condition::Prefix(p) => self.prefixes.add(p, pred),
            Condition::Suffix(p) => self.suffixes.add(p, pred),
            Condition::EqualsIgnoreCase(f) => add_to(&mut self.ignore_case, f, pred),
            Condition::PrefixIgnoreCase(f) => self.prefixes_ignore_case.add(f, pred),
            Condition::SuffixIgnoreCase(f) => self.suffixes_ignore_case.add(f, pred),
            Condition::Exists(true) => self.exists.push(pred),
            // Satisfied by absence, which the alternative check handles.
            Condition::Exists(false) => {}
            other => {
                let key = format!("{other:?}");
                let at = *self.scan_keys.entry(key).or_insert_with(|| {
                    self.scan.push((other.clone(), Vec::new()));
                    self.scan.len() - 1
                });
                self.scan[at].1.push(pred);
            }
        }
    }

    fn needs_folding(&self) -> bool {
        !self.ignore_case.is_empty()
            || !self.prefixes_ignore_case.is_empty()
            || !self.suffixes_ignore_case.is_empty()
    }

    /// Appends every predicate that `leaf` satisfies (possibly with repeats).
    fn hits(&self, leaf: &Leaf<'_>, out: &mut Vec<PredId>) {
        out.extend_from_slice(&self.exists);
        match leaf {
            Leaf::Str(s) => {
                if let Some(preds) = self.strings.get(s.as_ref()) {
                    out.extend_from_slice(preds.as_slice());
                }
                self.prefixes.prefixes_of(s, out);
                self.suffixes.suffixes_of(s, out);
                if self.needs_folding() {
                    let folded = fold_case(s);
                    if let Some(preds) = self.ignore_case.get(folded.as_str()) {
                        out.extend_from_slice(preds.as_slice());
                    }
                    self.prefixes_ignore_case.prefixes_of(&folded, out);
                    self.suffixes_ignore_case.suffixes_of(&folded, out);
                }
            }
            Leaf::Num(token) => {
                if !self.numbers.is_empty()
                    && let Some(canonical) = canonical_number_token(token)
                    && let Some(preds) = self.numbers.get(canonical.as_str())
                {
                    out.extend_from_slice(preds.as_slice());
                }
            }
            Leaf::Bool(true) => out.extend_from_slice(&self.trues),
            Leaf::Bool(false) => out.extend_from_slice(&self.falses),
            Leaf::Null => out.extend_from_slice(&self.nulls),
        }
        for (condition, preds) in &self.scan {
            if condition.matches_leaf(leaf) {
                out.extend_from_slice(preds);
            }
        }
    }
}

/// One alternative of one rule's pattern, minus its anchor predicate. Its predicates sit in
/// [`IndexedMatcher::alt_preds`]: `start..split` must be hit; `split..end` are satisfied when
/// hit or when their field has no leaf (`exists: false`).
#[derive(Debug)]
struct Alternative {
    rule: u32,
    /// The anchor predicate, [`NO_ANCHOR`] for an alternative checked for every event.
    anchor: PredId,
    start: u32,
    split: u32,
    end: u32,
}

#[derive(Debug)]
struct Predicate {
    field: FieldId,
    absent_ok: bool,
    /// Only exact-value conditions: the best anchors.
    exact: bool,
    /// How many alternatives use it.
    uses: u32,
}

/// The compiled rule set; see the module documentation.
#[derive(Debug)]
pub(crate) struct IndexedMatcher {
    trie: PathTrie,
    fields: Vec<FieldIndex>,
    predicates: Vec<Predicate>,
    /// Alternatives anchored on predicate `p`: `anchored[anchor_start[p]..anchor_start[p + 1]]`.
    anchor_start: Vec<u32>,
    anchored: Vec<AltId>,
    alternatives: Vec<Alternative>,
    alt_preds: Vec<PredId>,
    /// Alternatives with no predicate that needs a value: checked for every event.
    always: Vec<AltId>,
}

impl IndexedMatcher {
    /// Builds the indexes; rule `i` is `patterns[i]`.
    pub(crate) fn build(patterns: &[Pattern]) -> IndexedMatcher {
        let mut builder = Builder::default();
        let mut raw: Vec<(u32, Vec<PredId>)> = Vec::new();
        for (rule, pattern) in patterns.iter().enumerate() {
            for fields in &pattern.alternatives {
                let mut preds: Vec<PredId> = fields.iter().map(|f| builder.intern(f)).collect();
                preds.sort_unstable();
                preds.dedup();
                for &p in &preds {
                    builder.predicates[p as usize].uses += 1;
                }
                raw.push((rule as u32, preds));
            }
        }
        let Builder {
            trie,
            fields,
            predicates,
            ..
        } = builder;
        let mut by_anchor: Vec<Vec<AltId>> = vec![Vec::new(); predicates.len()];
        let mut alternatives = Vec::with_capacity(raw.len());
        let mut alt_preds = Vec::new();
        let mut always = Vec::new();
        for (rule, preds) in raw {
            let id = alternatives.len() as AltId;
            let (absent_ok, required): (Vec<PredId>, Vec<PredId>) = preds
                .into_iter()
                .partition(|&p| predicates[p as usize].absent_ok);
            let anchor = required.iter().copied().min_by_key(|&p| {
                let pred = &predicates[p as usize];
                (pred.uses, !pred.exact)
            });
            let anchor_id = anchor.unwrap_or(NO_ANCHOR);
            let required: Vec<PredId> = match anchor {
                Some(a) => {
                    by_anchor[a as usize].push(id);
                    required.into_iter().filter(|&p| p != a).collect()
                }
                None => {
                    always.push(id);
                    required
                }
            };
            let start = alt_preds.len() as u32;
            alt_preds.extend_from_slice(&required);
            let split = alt_preds.len() as u32;
            alt_preds.extend_from_slice(&absent_ok);
            alternatives.push(Alternative {
                rule,
                anchor: anchor_id,
                start,
                split,
                end: alt_preds.len() as u32,
            });
        }
        let mut anchor_start = Vec::with_capacity(predicates.len() + 1);
        let mut anchored = Vec::with_capacity(alternatives.len());
        for alts in by_anchor {
            anchor_start.push(anchored.len() as u32);
            anchored.extend(alts);
        }
        anchor_start.push(anchored.len() as u32);
        IndexedMatcher {
            trie,
            fields,
            predicates,
            anchor_start,
            anchored,
            alternatives,
            alt_preds,
            always,
        }
    }

    /// Records the predicates one leaf satisfies, and where the leaf sits among arrays of
    /// objects when it hit something there.
    fn visit(&self, scratch: &mut Scratch, field: FieldId, leaf: &Leaf<'_>, slots: Slots<'_>) {
        scratch.seen.push(field);
        let before = scratch.hits.len();
        self.fields[field as usize].hits(leaf, &mut scratch.hits);
        if scratch.hits.len() > before {
            let leaf_id = if slots.is_empty() {
                FREE_LEAF
            } else {
                let start = scratch.slots.len() as u32;
                scratch.slots.extend_from_slice(slots);
                scratch.spans.push((start, scratch.slots.len() as u32));
                (scratch.spans.len() - 1) as u32
            };
            scratch.hit_leaf.resize(scratch.hits.len(), leaf_id);
        }
    }

    /// Checks the candidate alternatives once every leaf was visited.
    fn finish(&self, scratch: &mut Scratch, out: &mut Vec<usize>) {
        let Scratch {
            hits,
            seen,
            matched,
            hit_leaf,
            slots,
            spans,
            pairs,
        } = scratch;
        // Leaves inside arrays of objects hit something: keep which leaf hit which predicate, so
        // that the alternatives found below can be checked for array consistency.
        let arrays = spans.len() > 1;
        if arrays {
            pairs.extend(hits.iter().copied().zip(hit_leaf.iter().copied()));
            pairs.sort_unstable();
            pairs.dedup();
            hits.clear();
            hits.extend(pairs.iter().map(|&(p, _)| p));
        } else {
            hits.sort_unstable();
        }
        hits.dedup();
        seen.sort_unstable();
        seen.dedup();
        let satisfied = |alt: &Alternative| {
            let required = &self.alt_preds[alt.start as usize..alt.split as usize];
            let absent_ok = &self.alt_preds[alt.split as usize..alt.end as usize];
            required.iter().all(|p| hits.binary_search(p).is_ok())
                && absent_ok.iter().all(|p| {
                    hits.binary_search(p).is_ok()
                        || seen
                            .binary_search(&self.predicates[*p as usize].field)
                            .is_err()
                })
        };
        let candidates = hits
            .iter()
            .flat_map(|&p| {
                let (from, to) = (
                    self.anchor_start[p as usize],
                    self.anchor_start[p as usize + 1],
                );
                self.anchored[from as usize..to as usize].iter()
            })
            .chain(self.always.iter());
        for &alt in candidates {
            let alt = &self.alternatives[alt as usize];
            if satisfied(alt) && (!arrays || self.consistent_choice(alt, pairs, spans, slots, hits))
            {
                matched.push(alt.rule);
            }
        }
        matched.sort_unstable();
        matched.dedup();
        out.extend(matched.iter().map(|&r| r as usize));
    }
}

/// The leaf id of leaves outside arrays of objects: consistent with every other leaf.
const FREE_LEAF: u32 = 0;

/// Per-event working memory, kept per thread so that matching does not allocate.
struct Scratch {
    hits: Vec<PredId>,
    seen: Vec<FieldId>,
    matched: Vec<u32>,
    /// Parallel to `hits`: the leaf that produced each hit.
    hit_leaf: Vec<u32>,
    /// Leaf `i`'s array slots are `slots[spans[i].0..spans[i].1]`; leaf 0 is [`FREE_LEAF`].
    slots: Vec<(u32, u32)>,
    spans: Vec<(u32, u32)>,
    /// `(predicate, leaf)` hits, sorted; filled only when some leaf sits in an array of objects.
    pairs: Vec<(PredId, u32)>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            hits: Vec::new(),
            seen: Vec::new(),
            matched: Vec::new(),
            hit_leaf: Vec::new(),
            slots: Vec::new(),
            spans: vec![(0, 0)],
            pairs: Vec::new(),
        }
    }
}

impl Scratch {
    fn clear(&mut self) {
        self.hits.clear();
        self.seen.clear();
        self.matched.clear();
        self.hit_leaf.clear();
        self.slots.clear();
        self.spans.truncate(1);
        self.pairs.clear();
    }
}

impl IndexedMatcher {
    /// Whether the alternative `alt`, whose predicates all hold, can take one matching leaf per
    /// hit predicate with no two of them inside objects in different elements of one array.
    /// `pairs` holds the sorted `(predicate, leaf)` hits and `hits` the sorted hit predicates.
    fn consistent_choice(
        &self,
        alt: &Alternative,
        pairs: &[(PredId, u32)],
        spans: &[(u32, u32)],
        slots: &[(u32, u32)],
        hits: &[PredId],
    ) -> bool {
        let preds = &self.alt_preds[alt.start as usize..alt.end as usize];
        let mut lists: Vec<&[(PredId, u32)]> = Vec::new();
        let anchor = (alt.anchor != NO_ANCHOR).then_some(alt.anchor);
        for &p in anchor.iter().chain(preds) {
            // Predicates with no hit are absent fields that may be absent.
            if hits.binary_search(&p).is_err() {
                continue;
            }
            let from = pairs.partition_point(|&(q, _)| q < p);
            let to = pairs.partition_point(|&(q, _)| q <= p);
            let leaves = &pairs[from..to];
            // Sorted, so a leaf outside arrays of objects comes first: no constraint.
            if leaves[0].1 != FREE_LEAF {
                lists.push(leaves);
            }
        }
        if lists.len() < 2 {
            return true;
        }
        let slots_of = |leaf: u32| {
            let (from, to) = spans[leaf as usize];
            &slots[from as usize..to as usize]
        };
        if lists.len() > 64 {
            // More fields of one alternative hit inside arrays of objects than a mask holds
            // (only a pattern author can cause this): plain backtracking.
            lists.sort_unstable_by_key(|l| l.len());
            return choose(&lists, &mut Vec::with_capacity(lists.len()), &slots_of);
        }
        // Each leaf is tagged with the bit of its predicate and sorted by position, so that the
        // leaves under one array element are contiguous; `reachable` then works bottom-up over
        // the elements, which keeps the cost polynomial in the event's size whatever its shape.
        let mut items: Vec<(&[(u32, u32)], u64)> = Vec::new();
        for (bit, leaves) in lists.iter().enumerate() {
            items.extend(
                leaves
                    .iter()
                    .map(|&(_, leaf)| (slots_of(leaf), 1u64 << bit)),
            );
        }
        items.sort_unstable();
        items.dedup();
        let all = if lists.len() == 64 {
            u64::MAX
        } else {
            (1u64 << lists.len()) - 1
        };
        reachable(&items, 0).contains(&all)
    }
}

/// Backtracking over one leaf per list, pairwise consistent; exponential in the worst case, used
/// only past 64 lists.
fn choose<'s>(
    lists: &[&[(PredId, u32)]],
    chosen: &mut Vec<&'s [(u32, u32)]>,
    slots_of: &impl Fn(u32) -> &'s [(u32, u32)],
) -> bool {
    let Some((first, rest)) = lists.split_first() else {
        return true;
    };
    for &(_, leaf) in *first {
        let mine = slots_of(leaf);
        if chosen.iter().all(|c| consistent(c, mine)) {
            chosen.push(mine);
            let found = choose(rest, chosen, slots_of);
            chosen.pop();
            if found {
                return true;
            }
        }
    }
    false
}

/// The maximal sets of predicates (bit masks) that can be satisfied together by leaves of
/// `items`, which all share the array slots `[..depth]` and are sorted by slots.
///
/// Leaves whose slots end here constrain nothing below. The others go down into one element of
/// some array: leaves under different arrays never conflict, leaves under different elements of
/// the same array always do. So per array one element's sets are taken, and the arrays combine
/// freely.
fn reachable(items: &[(&[(u32, u32)], u64)], depth: usize) -> Vec<u64> {
    let mut here = 0u64;
    let mut at = 0;
    while at < items.len() && items[at].0.len() == depth {
        here |= items[at].1;
        at += 1;
    }
    let mut result = vec![here];
    while at < items.len() {
        let array = items[at].0[depth].0;
        let mut options: Vec<u64> = Vec::new();
        while at < items.len() && items[at].0[depth].0 == array {
            let slot = items[at].0[depth];
            let from = at;
            while at < items.len() && items[at].0[depth] == slot {
                at += 1;
            }
            options.extend(reachable(&items[from..at], depth + 1));
        }
        let mut combined = Vec::with_capacity(result.len() * (options.len() + 1));
        for &r in &result {
            combined.push(r);
            combined.extend(options.iter().map(|&o| r | o));
        }
        result = maximal(combined);
    }
    result
}

/// Keeps the masks that are not a subset of another one.
fn maximal(mut masks: Vec<u64>) -> Vec<u64> {
    masks.sort_unstable_by_key(|m| std::cmp::Reverse(m.count_ones()));
    masks.dedup();
    let mut kept: Vec<u64> = Vec::with_capacity(masks.len());
    for m in masks {
        if !kept.iter().any(|&k| k & m == m) {
            kept.push(m);
        }
    }
    kept
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with cleared scratch memory; a nested call (which nothing does today) gets its own.
fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            scratch.clear();
            f(&mut scratch)
        }
        Err(_) => f(&mut Scratch::default()),
    })
}

impl Matcher for IndexedMatcher {
    fn matching_rules(&self, event: &Value, out: &mut Vec<usize>) {
        with_scratch(|scratch| {
            self.trie.flatten_value(event, &mut |field, leaf, slots| {
                self.visit(scratch, field, &leaf, slots)
            });
            self.finish(scratch, out);
        });
    }

    fn matching_rules_json(&self, event: &[u8], out: &mut Vec<usize>) -> Result<(), MatchError> {
        with_scratch(|scratch| {
            self.trie.flatten_json(event, &mut |field, leaf, slots| {
                self.visit(scratch, field, &leaf, slots)
            })?;
            self.finish(scratch, out);
            Ok(())
        })
    }
}

#[derive(Default)]
struct Builder {
    trie: PathTrie,
    fields: Vec<FieldIndex>,
    predicates: Vec<Predicate>,
    by_key: FxHashMap<(FieldId, String), PredId>,
}

impl Builder {
    /// The id of the predicate for `field`, shared with every identical one seen before.
    fn intern(&mut self, field: &FieldMatch) -> PredId {
        let id = self.trie.insert(&field.path);
        if self.fields.len() <= id as usize {
            self.fields
                .resize_with(id as usize + 1, FieldIndex::default);
        }
        // Conditions of a leaf are ORed, so their order does not matter.
        let mut keys: Vec<String> = field.conditions.iter().map(|c| format!("{c:?}")).collect();
        keys.sort_unstable();
        keys.dedup();
        let key = (id, keys.join("\u{0}"));
        if let Some(&pred) = self.by_key.get(&key) {
            return pred;
        }
        let pred = self.predicates.len() as PredId;
        self.predicates.push(Predicate {
            field: id,
            absent_ok: field.matches_absent,
            exact: field
                .conditions
                .iter()
                .all(|c| matches!(c, Condition::Equals(_))),
            uses: 0,
        });
        for condition in &field.conditions {
            self.fields[id as usize].add(condition, pred);
        }
        self.by_key.insert(key, pred);
        pred
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matcher(patterns: &[Value]) -> IndexedMatcher {
        let compiled: Vec<Pattern> = patterns
            .iter()
            .map(|p| Pattern::compile(p).expect("valid pattern"))
            .collect();
        IndexedMatcher::build(&compiled)
    }

    fn both(m: &IndexedMatcher, event: Value) -> Vec<usize> {
        let mut from_value = Vec::new();
        m.matching_rules(&event, &mut from_value);
        let mut from_bytes = Vec::new();
        m.matching_rules_json(event.to_string().as_bytes(), &mut from_bytes)
            .expect("valid json");
        assert_eq!(
            from_value, from_bytes,
            "value and bytes disagree on {event}"
        );
        from_value
    }

    #[test]
    fn identical_predicates_are_shared() {
        let patterns: Vec<Value> = (0..1000)
            .map(|i| json!({"source": [format!("s{i}")], "detail": {"coupon": [{"exists": true}]}}))
            .collect();
        let m = matcher(&patterns);
        // 1000 distinct sources plus one shared exists predicate.
        assert_eq!(m.predicates.len(), 1001);
        assert_eq!(
            both(&m, json!({"source": "s7", "detail": {"coupon": "X"}})),
            vec![7]
        );
        assert!(both(&m, json!({"source": "s7", "detail": {}})).is_empty());
    }

    #[test]
    fn anchors_on_the_rarest_predicate() {
        let patterns: Vec<Value> = (0..100)
            .map(|i| json!({"detail-type": ["Order Placed"], "source": [format!("s{i}")]}))
            .collect();
        let m = matcher(&patterns);
        let common = m
            .predicates
            .iter()
            .position(|p| p.uses == 100)
            .expect("shared detail-type predicate");
        assert_eq!(m.anchor_start[common], m.anchor_start[common + 1]);
    }

    #[test]
    fn absence_and_always_candidates() {
        let m = matcher(&[
            json!({}),
            json!({"a": [{"exists": false}]}),
            json!({"a": ["x", {"exists": false}], "b": ["y"]}),
            json!({"a": [{"anything-but": "x"}]}),
        ]);
        assert_eq!(both(&m, json!({})), vec![0, 1]);
        assert_eq!(both(&m, json!({"b": "y"})), vec![0, 1, 2]);
        assert_eq!(both(&m, json!({"a": "x", "b": "y"})), vec![0, 2]);
        assert_eq!(both(&m, json!({"a": "z", "b": "y"})), vec![0, 3]);
        assert_eq!(both(&m, json!({"a": {"o": 1}, "b": "y"})), vec![0, 1, 2]);
    }

    #[test]
    fn array_consistency() {
        let m = matcher(&[
            json!({"e": {"f": ["Anna"], "l": ["Smith"]}}),
            json!({"e": {"f": ["Anna"], "l": ["Jones"]}}),
            json!({"e": {"f": ["Anna"]}, "s": ["x"]}),
            json!({"e": {"f": ["Peter"], "g": [{"exists": false}]}}),
            json!({"e": {"f": [{"prefix": "A"}], "l": [{"anything-but": "Smith"}]}}),
        ]);
        let event =
            json!({"s": "x", "e": [{"f": "Anna", "l": "Smith"}, {"f": "Peter", "l": "Jones"}]});
        assert_eq!(both(&m, event), vec![0, 2, 3]);
        let nested = json!({"e": [[{"f": "Anna"}, {"l": "Jones"}], [{"f": "Anna", "l": "Smith"}]]});
        assert_eq!(both(&m, nested), vec![0]);
        let flat = json!({"e": {"f": "Anna", "l": "Jones"}});
        assert_eq!(both(&m, flat), vec![1, 4]);
    }

    #[test]
    fn array_consistency_cost_stays_polynomial() {
        // Every outer element matches `x`, every inner element `y` or `z`, never both: plain
        // backtracking would try every (outer, inner, inner) triple.
        let m = matcher(&[json!({"a": {"x": [1], "b": {"y": [1], "z": [1]}}})]);
        let inner: Vec<Value> = (0..200)
            .map(|i| {
                if i % 2 == 0 {
                    json!({"y": 1})
                } else {
                    json!({"z": 1})
                }
            })
            .collect();
        let outer: Vec<Value> = (0..200).map(|_| json!({"x": 1, "b": inner})).collect();
        let started = std::time::Instant::now();
        assert!(both(&m, json!({"a": outer})).is_empty());
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn affixes_respect_char_boundaries() {
        let m = matcher(&[
            json!({"s": [{"prefix": "é"}]}),
            json!({"s": [{"suffix": "ü"}]}),
            json!({"s": [{"prefix": "x"}, {"suffix": "xx"}]}),
        ]);
        assert_eq!(both(&m, json!({"s": "éü"})), vec![0, 1]);
        assert_eq!(both(&m, json!({"s": "e"})), Vec::<usize>::new());
        assert_eq!(both(&m, json!({"s": "xx"})), vec![2]);
    }

    #[test]
    fn numbers_match_by_written_form() {
        let m = matcher(&[
            json!({"n": [300]}),
            json!({"n": [300.0]}),
            json!({"n": [{"numeric": ["=", 300]}]}),
        ]);
        let mut out = Vec::new();
        m.matching_rules_json(br#"{"n": 300}"#, &mut out)
            .expect("json");
        assert_eq!(out, vec![0, 2]);
        out.clear();
        m.matching_rules_json(br#"{"n": 3.0e2}"#, &mut out)
            .expect("json");
        assert_eq!(out, vec![1, 2]);
    }

    #[test]
    fn bad_json_is_an_error() {
        let m = matcher(&[json!({"a": ["x"]})]);
        let mut out = Vec::new();
        let err = m
            .matching_rules_json(br#"{"a": "x""#, &mut out)
            .expect_err("truncated");
        assert_eq!(err.code(), "invalid_json");
        assert!(out.is_empty());
    }
}
