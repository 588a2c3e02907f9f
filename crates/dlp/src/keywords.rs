//! Every occurrence of many short literals, ASCII case-insensitively, in one pass that is cheap
//! to build and to run.
//!
//! The filter is a bucketed shift-or over hashed byte pairs, the idea of Hyperscan's FDR: each
//! keyword goes to one of eight buckets by length, and a table says, for every hash of a pair of
//! adjacent bytes, at which distances from a keyword's end that pair may stand in each bucket.
//! Eight positions are folded into a word per step: on x86-64 a 128-bit SSE2 register whose high
//! half carries into the next step (through `safe_arch`, so without `unsafe` here), elsewhere a
//! 64-bit word and a carry. A clear bit is a
//! candidate end, which is then confirmed by looking the text's tail up in a table of keyword
//! tails. Keywords of one byte are found with `memchr`. Building for the ~600 built-in keywords
//! takes well under a millisecond (an Aho-Corasick DFA over them took 6–10 ms, which short scans
//! such as a hook's cannot afford), the table's used part is 32 KiB, and the walk has no
//! dependent loads and no branch on the text: blocks with candidates are set aside and
//! confirmed a batch at a time.

use std::ops::Range;

use crate::validate::eq_caseless;

/// Hash bits of a byte pair: the reach table uses this many entries.
const PAIR_BITS: u32 = 12;
const PAIRS: usize = 1 << PAIR_BITS;
/// Slots of the reach table: one for every `u16`, so that a pair hash indexes it without a
/// bounds check or a mask in the walk (dropping the mask made clean text +8.5 % and source code
/// +15 % faster). Only the first [`PAIRS`] are ever read (hashes are masked when computed,
/// sixteen at a time) or written; the rest are zero pages the kernel never maps.
const REACH_SLOTS: usize = 1 << 16;
const BUCKETS: usize = 8;
/// Pairs a bucket can constrain: one 8-bit lane of the state per distance from the end.
const WINDOW: usize = 8;
/// Bytes whose pair hashes are computed together.
const CHUNK: usize = 64;
/// How far ahead of its position the walk asks for the text to be brought into the cache:
/// one block of the scan ([`crate::scan::BLOCK`]), so that each block is in the second-level
/// cache before its first pass (the search for one-byte keywords) begins. Text read from
/// memory or the last-level cache otherwise met every miss of a block in that pass, with no
/// work to hide the wait behind (8 MiB of text scanned 2–3 % faster; text that fits the
/// second-level cache still scans 6–9 % faster than that).
#[cfg(target_arch = "x86_64")]
const AHEAD: usize = crate::scan::BLOCK;
/// Blocks of eight ends with candidates that a walk holds before confirming them.
const PENDING: usize = 256;

/// Keywords ready to search for.
#[derive(Debug, Clone)]
pub(crate) struct Keywords {
    /// ASCII-lowercase keyword bytes, indexed by keyword id.
    patterns: Vec<Box<[u8]>>,
    /// For a pair hash, bit `8 * d + b` is set when no keyword of bucket `b` has that pair `d`
    /// pairs before its end (or `d` is past what bucket `b` constrains: then it is clear).
    /// [`REACH_SLOTS`] long, of which the first [`PAIRS`] are used.
    reach: Box<[u64]>,
    /// For each bucket, its keywords by their lowercase tail (the last [`tail_len`] bytes).
    by_tail: [TailTable; BUCKETS],
    /// Keywords of a single byte: (lowercase byte, id).
    singles: Vec<(u8, u32)>,
}

/// Keyword ids by tail key: open addressing in a table at most half full. Where a multiplier
/// puts every key in its home slot (most tables, grown up to [`PERFECT_SLOTS`] to find one),
/// a confirmation reads one slot; otherwise it probes on from the home slot. A probe that went
/// on past the home slot for some keywords and not for others mispredicted on text whose
/// keywords come in no fixed order.
#[derive(Debug, Clone, Default)]
struct TailTable {
    /// (key, the id when the count is 1 and otherwise the first index into `ids`, count); a
    /// count of 0 marks an empty slot. Most tails are one keyword's: its id is read in place.
    slots: Box<[(u64, u32, u32)]>,
    ids: Box<[u32]>,
    multiplier: u64,
    /// Every key is in its home slot.
    perfect: bool,
}

/// The most slots a table grows to in search of a multiplier that leaves no key out of its
/// home slot (16 bytes each; only the slots keys land in are ever read).
const PERFECT_SLOTS: usize = 1 << 14;

/// Multipliers tried at each size.
const MULTIPLIERS: u64 = 64;

/// The multiplier a table probes with when no perfect one is found.
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

impl TailTable {
    /// From (key, id) pairs in any order; ids under one key keep their order.
    fn new(mut entries: Vec<(u64, u32)>) -> Self {
        entries.sort_by_key(|&(key, _)| key);
        let mut ids = Vec::with_capacity(entries.len());
        // (key, id or first index, count) for each key.
        let mut keys = Vec::new();
        for group in entries.chunk_by(|a, b| a.0 == b.0) {
            let Some(&(key, _)) = group.first() else {
                continue;
            };
            let (Ok(first), Ok(count)) = (u32::try_from(ids.len()), u32::try_from(group.len()))
            else {
                continue;
            };
            let first = match group {
                [(_, id)] => *id,
                _ => {
                    ids.extend(group.iter().map(|&(_, id)| id));
                    first
                }
            };
            keys.push((key, first, count));
        }
        let least = (2 * keys.len()).next_power_of_two().max(8);
        // Homes are tried without building a table: a bit for each taken, given up at the
        // first taken twice.
        let mut taken: Vec<u64> = Vec::new();
        let mut at_home = |size: usize, multiplier: u64| {
            taken.clear();
            taken.resize(size.div_ceil(64), 0);
            keys.iter().all(|&(key, ..)| {
                let home = Self::home(key, size, multiplier);
                taken.get_mut(home / 64).is_some_and(|word| {
                    let bit = 1 << (home % 64);
                    let free = *word & bit == 0;
                    *word |= bit;
                    free
                })
            })
        };
        let perfect = (0..)
            .map(|doublings| least << doublings)
            .take_while(|&size| size <= PERFECT_SLOTS.max(least))
            .find_map(|size| {
                (0..MULTIPLIERS)
                    .map(|k| (MULTIPLIER ^ k.wrapping_mul(0xD6E8_FEB8_6659_FD93)) | 1)
                    .find(|&multiplier| at_home(size, multiplier))
                    .map(|multiplier| (size, multiplier))
            });
        let (size, multiplier) = perfect.unwrap_or((least, MULTIPLIER));
        let slots = Self::place(&keys, size, multiplier);
        Self {
            slots,
            ids: ids.into_boxed_slice(),
            multiplier,
            perfect: perfect.is_some(),
        }
    }

    /// `keys` in a table of `size` slots (at least twice as many) by `multiplier`: each in the
    /// first free slot from its home.
    fn place(keys: &[(u64, u32, u32)], size: usize, multiplier: u64) -> Box<[(u64, u32, u32)]> {
        let mut slots = vec![(0u64, 0u32, 0u32); size].into_boxed_slice();
        for &(key, first, count) in keys {
            let mut i = Self::home(key, size, multiplier);
            // At most half full: an empty slot is always found.
            while slots.get(i).is_some_and(|s| s.2 != 0) {
                i = (i + 1) & (size - 1);
            }
            if let Some(slot) = slots.get_mut(i) {
                *slot = (key, first, count);
            }
        }
        slots
    }

    /// The top bits of the product, which depend on every bit of the key (the middle bits
    /// the table used to take never saw an 8-byte tail's first byte, so such tails collided).
    fn home(key: u64, size: usize, multiplier: u64) -> usize {
        (key.wrapping_mul(multiplier) >> (64 - size.trailing_zeros())) as usize & (size - 1)
    }

    /// The ids under `key` (none if absent).
    fn get(&self, key: u64) -> &[u32] {
        let size = self.slots.len();
        if size == 0 {
            return &[];
        }
        let mut i = Self::home(key, size, self.multiplier);
        let ids = |&(_, first, count): &(u64, u32, u32)| match count {
            1 => None,
            _ => {
                let (first, count) = (first as usize, count as usize);
                Some(self.ids.get(first..first + count).unwrap_or_default())
            }
        };
        if self.perfect {
            return match self.slots.get(i) {
                Some(slot @ (k, id, count)) if *k == key && *count != 0 => {
                    ids(slot).unwrap_or(std::slice::from_ref(id))
                }
                _ => &[],
            };
        }
        for _ in 0..size {
            match self.slots.get(i) {
                Some((k, id, 1)) if *k == key => return std::slice::from_ref(id),
                Some(slot @ &(k, _, count)) if count != 0 => {
                    if k == key {
                        return ids(slot).unwrap_or_default();
                    }
                }
                _ => return &[],
            }
            i = (i + 1) & (size - 1);
        }
        &[]
    }
}

/// The filter's cheap case fold: ASCII letters to lowercase; other bytes change too, alike in
/// keywords and text, so a match is never lost (confirmation is exact).
fn fold(b: u8) -> u8 {
    b | 0x20
}

fn pair_hash(prev: u8, cur: u8) -> u16 {
    ((u16::from(fold(prev)) << 5) ^ u16::from(fold(cur))) & (PAIRS as u16 - 1)
}

/// Buckets by length: 2, 3, 4, 5, 6, 7, 8, 9 and longer, so that all keywords of a bucket have
/// tails of one length.
fn bucket_of(len: usize) -> usize {
    len.clamp(2, 9) - 2
}

/// The length of the tail by which keywords of bucket `b` are looked up: the whole keyword, or
/// its last [`WINDOW`] bytes.
fn tail_len(b: usize) -> usize {
    (b + 2).min(WINDOW)
}

/// The lookup key of a tail: its last `n` (at most eight) bytes, lowercased and packed (last
/// byte lowest). Keys are compared within a bucket, where all tails have one length.
fn tail_key(bytes: &[u8], n: usize) -> u64 {
    bytes
        .iter()
        .skip(bytes.len().saturating_sub(n))
        .fold(0u64, |acc, b| {
            (acc << 8) | u64::from(b.to_ascii_lowercase())
        })
}

/// ASCII-lowercase eight bytes at once.
fn lowercase_word(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = ONES * 0x80;
    let low7 = w & !HIGHS;
    let at_least_a = low7 + ONES * u64::from(0x80 - b'A');
    let past_z = low7 + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = at_least_a & !past_z & !w & HIGHS;
    w | (upper >> 2)
}

impl Keywords {
    /// The keywords, by id.
    #[cfg(test)]
    pub(crate) fn patterns(&self) -> &[Box<[u8]>] {
        &self.patterns
    }

    /// Index `keywords` (ids are their positions). Empty keywords are never found.
    pub(crate) fn new<S: AsRef<[u8]>>(keywords: &[S]) -> Self {
        let patterns: Vec<Box<[u8]>> = keywords
            .iter()
            .map(|k| k.as_ref().to_ascii_lowercase().into_boxed_slice())
            .collect();
        let mut shortest = [usize::MAX; BUCKETS];
        let mut singles = Vec::new();
        // (tail key, id) per bucket, grouped by key below.
        let mut by_tail: [Vec<(u64, u32)>; BUCKETS] = Default::default();
        for (id, p) in (0u32..).zip(&patterns) {
            match p.len() {
                0 => {}
                1 => singles.extend(p.first().map(|&b| (b, id))),
                len => {
                    let b = bucket_of(len);
                    if let Some(s) = shortest.get_mut(b) {
                        *s = (*s).min(len);
                    }
                    if let Some(list) = by_tail.get_mut(b) {
                        list.push((tail_key(p, tail_len(b)), id));
                    }
                }
            }
        }
        // Pairs each bucket constrains: as many as its shortest keyword has, up to the window.
        let constrained = shortest.map(|len| len.saturating_sub(1).min(WINDOW));
        let mut blocked = 0u64;
        for (b, &n) in constrained.iter().enumerate() {
            for d in 0..n {
                blocked |= 1 << (8 * d + b);
            }
        }
        let mut reach = vec![0; REACH_SLOTS].into_boxed_slice();
        if let Some(pairs) = reach.get_mut(..PAIRS) {
            pairs.fill(blocked);
        }
        for p in &patterns {
            let b = bucket_of(p.len());
            let n = constrained.get(b).copied().unwrap_or(0);
            for (d, pair) in p.windows(2).rev().take(n).enumerate() {
                if let [prev, cur] = *pair
                    && let Some(slot) = reach.get_mut(usize::from(pair_hash(prev, cur)))
                {
                    *slot &= !(1u64 << (8 * d + b));
                }
            }
        }
        Self {
            patterns,
            reach,
            by_tail: by_tail.map(TailTable::new),
            singles,
        }
    }

    /// The reach table, as an array a `u16` indexes without a check (`None` cannot happen: it
    /// is built that long).
    fn reach(&self) -> Option<&[u64; REACH_SLOTS]> {
        <&[u64; REACH_SLOTS]>::try_from(&*self.reach).ok()
    }

    /// Keyword `id`, lowercase (empty for an id out of range).
    pub(crate) fn pattern(&self, id: u32) -> &[u8] {
        self.patterns.get(id as usize).map_or(&[], |p| p)
    }

    /// The length of keyword `id`.
    #[cfg(test)]
    pub(crate) fn len(&self, id: u32) -> usize {
        self.patterns.get(id as usize).map_or(0, |p| p.len())
    }

    /// Every occurrence of every keyword whose end (exclusive) lies in `(range.start,
    /// range.end]` and that `keep` keeps (given start, end and id), as (end, id), appended to
    /// `out` in no particular order. The rest of `hay` is context: a keyword may start before
    /// `range`.
    pub(crate) fn find(
        &self,
        hay: &[u8],
        range: Range<usize>,
        out: &mut Vec<(usize, u32)>,
        mut keep: impl FnMut(usize, usize, u32) -> bool,
    ) {
        let range = range.start..range.end.min(hay.len());
        if range.is_empty() {
            return;
        }
        self.find_singles(hay, range.clone(), out, &mut keep);
        let Some(reach) = self.reach() else {
            // Were the table ever the wrong length, every end would be a candidate in every
            // bucket, and confirmation would decide.
            for q in range.clone() {
                for b in 0..BUCKETS {
                    self.confirm(hay, q, b, &range, out, &mut keep);
                }
            }
            return;
        };
        // The filter starts a window early so keywords ending just inside `range` are seen
        // whole; candidates outside `range` are dropped at confirmation.
        let from = range.start.saturating_sub(WINDOW);
        let Some(bytes) = hay.get(from..range.end) else {
            return;
        };
        let before = |at: usize| {
            at.checked_sub(1)
                .and_then(|i| hay.get(i))
                .copied()
                .unwrap_or(0)
        };
        let mut state = Walk {
            carry: 0,
            base: from,
            pending: [(0, 0); PENDING],
            held: 0,
        };
        let mut confirm = |q: usize, b: usize| self.confirm(hay, q, b, &range, out, &mut keep);
        let mut chunks = bytes.chunks_exact(CHUNK);
        for chunk in chunks.by_ref() {
            let Ok(chunk) = <&[u8; CHUNK]>::try_from(chunk) else {
                continue;
            };
            // A hint, into the second-level cache: the walk's own bytes stay in the first.
            #[cfg(target_arch = "x86_64")]
            if let Some(ahead) = hay.get(state.base + AHEAD) {
                safe_arch::prefetch_t1(ahead);
            }
            // The byte before each position: the same bytes one back, read in place where
            // there is a byte before the chunk.
            let at = state.base;
            match at
                .checked_sub(1)
                .and_then(|i| hay.get(i..i + CHUNK))
                .and_then(|p| <&[u8; CHUNK]>::try_from(p).ok())
            {
                Some(prevs) => self.chunk(reach, prevs, chunk, &mut state),
                None => {
                    let prevs = shifted(before(at), chunk);
                    self.chunk(reach, &prevs, chunk, &mut state);
                }
            }
            if state.held > PENDING - CHUNK / 8 {
                state.confirm_held(&mut confirm);
            }
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // Pad the last chunk; candidates ending in the padding fall outside `range`.
            let mut padded = [0u8; CHUNK];
            if let Some(head) = padded.get_mut(..rest.len()) {
                head.copy_from_slice(rest);
            }
            let prevs = shifted(before(state.base), &padded);
            self.chunk(reach, &prevs, &padded, &mut state);
        }
        state.confirm_held(&mut confirm);
    }

    /// Filter one chunk, given the byte before each of its positions: the pair hashes of all
    /// its positions first (a loop the compiler vectorises), then the open lanes of every end.
    /// Blocks of eight ends with an open lane are held, without a branch, for confirmation
    /// later: whether a block holds a candidate follows no pattern a branch predictor could
    /// learn, and deciding it block by block made the scan of text with a keyword every 45
    /// bytes 8 % slower.
    #[inline(always)]
    fn chunk(
        &self,
        reach: &[u64; REACH_SLOTS],
        prevs: &[u8; CHUNK],
        bytes: &[u8; CHUNK],
        walk: &mut Walk,
    ) {
        let mut hashes = [0u16; CHUNK];
        for ((h, &p), &c) in hashes.iter_mut().zip(prevs).zip(bytes) {
            *h = pair_hash(p, c);
        }
        let opens = Self::open_lanes(reach, &hashes, &mut walk.carry);
        // Counted in locals: kept in `walk`, the count went to memory and back for every
        // block (the compiler cannot tell that writing `pending` leaves it alone), a chain of
        // store-to-load waits that took as long as the filter itself (source code +5 %).
        let (mut held, mut base) = (walk.held, walk.base);
        for open in opens {
            // There is room: `find` confirms what is held before a chunk could fill it (so the
            // index never wraps; taken modulo, it needs no bounds check).
            if let Some(slot) = walk.pending.get_mut(held % PENDING) {
                *slot = (base, open);
            }
            held += usize::from(open != 0);
            base += 8;
        }
        (walk.held, walk.base) = (held, base);
    }

    /// The open lanes of each block of eight end positions of a chunk, from the pair hashes of
    /// its positions; `carry` holds the constraints the previous chunk put on this one's first
    /// ends, and then this chunk's on the next.
    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn open_lanes(
        reach: &[u64; REACH_SLOTS],
        hashes: &[u16; CHUNK],
        carry: &mut u64,
    ) -> [u64; CHUNK / 8] {
        Self::open_lanes_scalar(reach, hashes, carry)
    }

    /// The same as [`Keywords::open_lanes_scalar`], eight positions to a 128-bit register: a
    /// position's reach is shifted into place by whole bytes, which SSE2 (part of every x86-64
    /// CPU, used through `safe_arch`) does in one instruction. Shifted by at most seven, no
    /// reach leaves the register: its low half constrains the block's ends, its high half the
    /// next block's first ends. (Sixteen positions to a register made the last seven of them
    /// each spill into the next register, two more instructions apiece.)
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn open_lanes(
        reach: &[u64; REACH_SLOTS],
        hashes: &[u16; CHUNK],
        carry: &mut u64,
    ) -> [u64; CHUNK / 8] {
        use safe_arch::{
            bitor_m128i as or, byte_shl_imm_u128_m128i as shl, byte_shr_imm_u128_m128i as shr,
            get_i64_from_m128i_s, m128i, set_i64_m128i_s,
        };
        // The intrinsics take and give i64: `as` casts between it and u64 keep the bits.
        let reach_of = |h: u16| -> m128i {
            let m = reach.get(usize::from(h)).copied().unwrap_or(0);
            set_i64_m128i_s(m as i64)
        };
        let mut opens = [0u64; CHUNK / 8];
        let mut spill = set_i64_m128i_s(*carry as i64);
        for (open, block) in opens.iter_mut().zip(hashes.chunks_exact(8)) {
            let Ok(&[h0, h1, h2, h3, h4, h5, h6, h7]) = <&[u16; 8]>::try_from(block) else {
                continue;
            };
            // Paired, so that the ORs are a tree and not one long chain.
            let low = or(
                or(reach_of(h0), shl::<1>(reach_of(h1))),
                or(shl::<2>(reach_of(h2)), shl::<3>(reach_of(h3))),
            );
            let high = or(
                or(shl::<4>(reach_of(h4)), shl::<5>(reach_of(h5))),
                or(shl::<6>(reach_of(h6)), shl::<7>(reach_of(h7))),
            );
            let ends = or(spill, or(low, high));
            *open = !(get_i64_from_m128i_s(ends) as u64);
            spill = shr::<8>(ends);
        }
        *carry = get_i64_from_m128i_s(spill) as u64;
        opens
    }

    /// The open lanes of each block of eight end positions, eight positions to a 64-bit word.
    #[cfg_attr(target_arch = "x86_64", cfg(test))]
    #[inline(always)]
    fn open_lanes_scalar(
        reach: &[u64; REACH_SLOTS],
        hashes: &[u16; CHUNK],
        carry: &mut u64,
    ) -> [u64; CHUNK / 8] {
        let mut opens = [0u64; CHUNK / 8];
        for (open, block) in opens.iter_mut().zip(hashes.chunks_exact(8)) {
            let mut lo = *carry;
            let mut hi = 0u64;
            for (r, &h) in block.iter().enumerate() {
                let m = reach.get(usize::from(h)).copied().unwrap_or(0);
                lo |= m << (8 * r);
                // A shift by 64 would overflow: lane 0's reach stays within its block.
                hi |= m.checked_shr(64 - 8 * r as u32).unwrap_or(0);
            }
            *carry = hi;
            *open = !lo;
        }
        opens
    }

    /// Report the keywords of bucket `b` that end at offset `q` (inclusive) and inside `range`.
    #[inline(always)]
    fn confirm(
        &self,
        hay: &[u8],
        q: usize,
        b: usize,
        range: &Range<usize>,
        out: &mut Vec<(usize, u32)>,
        keep: &mut impl FnMut(usize, usize, u32) -> bool,
    ) {
        let end = q + 1;
        if end <= range.start || end > range.end {
            return;
        }
        let Some(table) = self.by_tail.get(b) else {
            return;
        };
        let n = tail_len(b);
        // The eight bytes ending here, lowercased and cut to the tail, when there are eight.
        let key = match end
            .checked_sub(WINDOW)
            .and_then(|s| hay.get(s..end))
            .and_then(|w| <[u8; WINDOW]>::try_from(w).ok())
        {
            Some(w) => lowercase_word(u64::from_be_bytes(w)) & (u64::MAX >> (64 - 8 * n)),
            None => match end.checked_sub(n).and_then(|s| hay.get(s..end)) {
                Some(text) => tail_key(text, n),
                None => return,
            },
        };
        for &id in table.get(key) {
            let Some(p) = self.patterns.get(id as usize) else {
                continue;
            };
            // The key holds a keyword of up to eight bytes whole; a longer one's head is
            // compared here.
            let head = p.len().saturating_sub(n);
            let same = head == 0
                || end.checked_sub(p.len()).is_some_and(|s| {
                    let text = hay.get(s..s + head);
                    text.zip(p.get(..head))
                        .is_some_and(|(t, k)| eq_caseless(t, k))
                });
            if same && keep(end.saturating_sub(p.len()), end, id) {
                out.push((end, id));
            }
        }
    }

    fn find_singles(
        &self,
        hay: &[u8],
        range: Range<usize>,
        out: &mut Vec<(usize, u32)>,
        keep: &mut impl FnMut(usize, usize, u32) -> bool,
    ) {
        let start = range.start;
        let Some(bytes) = hay.get(range) else {
            return;
        };
        for &(b, id) in &self.singles {
            let upper = b.to_ascii_uppercase();
            let at = |i: usize| (start + i + 1, id);
            let kept = |&(end, id): &(usize, u32)| keep(end - 1, end, id);
            if upper == b {
                out.extend(memchr::memchr_iter(b, bytes).map(at).filter(kept));
            } else {
                out.extend(memchr::memchr2_iter(b, upper, bytes).map(at).filter(kept));
            }
        }
    }
}

/// `bytes` moved one place on, with `first` in front: the byte before each position.
fn shifted(first: u8, bytes: &[u8; CHUNK]) -> [u8; CHUNK] {
    let mut prevs = [first; CHUNK];
    if let (Some(to), Some(from)) = (prevs.get_mut(1..), bytes.get(..CHUNK - 1)) {
        to.copy_from_slice(from);
    }
    prevs
}

/// Where a [`Keywords::find`] walk is.
struct Walk {
    /// Constraints the last block put on the next block's end positions.
    carry: u64,
    /// Offset of the next block.
    base: usize,
    /// Blocks with open lanes, not yet confirmed: (offset, open lanes); the first `held`.
    pending: [(usize, u64); PENDING],
    held: usize,
}

impl Walk {
    /// Report each candidate held (offset of its last byte, bucket), and let go of them.
    fn confirm_held(&mut self, candidate: &mut impl FnMut(usize, usize)) {
        for &(base, mut open) in self.pending.get(..self.held).unwrap_or_default() {
            while open != 0 {
                let bit = open.trailing_zeros() as usize;
                open &= open - 1;
                candidate(base + bit / 8, bit % 8);
            }
        }
        self.held = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, MatchKind};
    use proptest::prelude::*;

    /// What Aho-Corasick finds: every occurrence, overlapping ones included, as (end, id).
    fn oracle(keywords: &[Vec<u8>], hay: &[u8]) -> Vec<(usize, u32)> {
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(keywords.iter().filter(|k| !k.is_empty()))
            .unwrap();
        // Ids in the automaton skip empty keywords; map them back.
        let ids: Vec<u32> = (0u32..)
            .zip(keywords)
            .filter(|(_, k)| !k.is_empty())
            .map(|(i, _)| i)
            .collect();
        let mut out: Vec<_> = ac
            .find_overlapping_iter(hay)
            .map(|m| (m.end(), ids[m.pattern().as_usize()]))
            .collect();
        out.sort_unstable();
        out
    }

    fn found(k: &Keywords, hay: &[u8], cuts: &[usize]) -> Vec<(usize, u32)> {
        let mut out = Vec::new();
        let mut from = 0;
        for &cut in cuts.iter().chain([&hay.len()]) {
            let cut = cut.clamp(from, hay.len());
            k.find(hay, from..cut, &mut out, |_, _, _| true);
            from = cut;
        }
        out.sort_unstable();
        out
    }

    /// Keywords over a small alphabet (so they overlap and share tails) of every length bucket,
    /// with non-ASCII bytes that the filter's cheap case fold confuses with others.
    fn keyword() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop::sample::select(b"abAB_-.@:9 \xc3\xa9\xc9".to_vec()),
            0..14,
        )
    }

    /// Text made of keyword pieces in random case, and stray bytes.
    fn text(keywords: Vec<Vec<u8>>) -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<u8>, Vec<usize>)> {
        let n = keywords.len();
        let piece = prop_oneof![
            (0..n, any::<u64>()).prop_map(|(i, flips)| (Some(i), flips, 0u8)),
            any::<u8>().prop_map(|b| (None, 0, b)),
        ];
        (
            prop::collection::vec(piece, 0..60),
            prop::collection::vec(0usize..400, 0..4),
        )
            .prop_map(move |(pieces, mut cuts)| {
                let mut hay = Vec::new();
                for (i, flips, b) in pieces {
                    match i.and_then(|i| keywords.get(i)) {
                        Some(k) => hay.extend(k.iter().enumerate().map(|(j, &c)| {
                            if flips >> (j % 64) & 1 == 1 {
                                c.to_ascii_uppercase()
                            } else {
                                c
                            }
                        })),
                        None => hay.push(b),
                    }
                }
                cuts.sort_unstable();
                (keywords.clone(), hay, cuts)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn finds_exactly_what_aho_corasick_finds(
            (keywords, hay, cuts) in prop::collection::vec(keyword(), 1..40).prop_flat_map(text)
        ) {
            let k = Keywords::new(&keywords);
            prop_assert_eq!(found(&k, &hay, &cuts), oracle(&keywords, &hay));
            // What `keep` turns away is left out, and nothing else; it is told where each
            // keyword starts.
            let keep = |_: usize, end: usize, id: u32| !(end + id as usize).is_multiple_of(3);
            let mut kept = Vec::new();
            let mut starts_right = true;
            k.find(&hay, 0..hay.len(), &mut kept, |start, end, id| {
                starts_right &= start + k.len(id) == end;
                keep(start, end, id)
            });
            prop_assert!(starts_right);
            kept.sort_unstable();
            let mut expected = oracle(&keywords, &hay);
            expected.retain(|&(end, id)| keep(0, end, id));
            prop_assert_eq!(kept, expected);
        }
    }

    proptest! {
        #[test]
        fn lowercase_word_is_ascii_lowercase(bytes in any::<[u8; 8]>()) {
            let expected = u64::from_be_bytes(bytes.map(|b| b.to_ascii_lowercase()));
            prop_assert_eq!(lowercase_word(u64::from_be_bytes(bytes)), expected);
        }
    }

    #[cfg(target_arch = "x86_64")]
    proptest! {
        /// The SSE2 walk and the portable one (what other architectures run) leave the same
        /// lanes open and hand the same constraints on, over real keywords' reach.
        #[test]
        fn sse2_lanes_are_the_portable_lanes(
            hashes in prop::collection::vec(0u16..PAIRS as u16, CHUNK),
            carry in any::<u64>(),
            keywords in prop::collection::vec(keyword(), 1..40),
        ) {
            let k = Keywords::new(&keywords);
            let hashes = <[u16; CHUNK]>::try_from(hashes).unwrap();
            // A carry only ever holds the lanes of the first seven ends.
            let carry = carry >> 8;
            let (mut simd, mut portable) = (carry, carry);
            let reach = k.reach().unwrap();
            let lanes = Keywords::open_lanes(reach, &hashes, &mut simd);
            prop_assert_eq!(lanes, Keywords::open_lanes_scalar(reach, &hashes, &mut portable));
            prop_assert_eq!(simd, portable);
        }
    }

    #[test]
    fn long_keywords_sharing_a_tail_are_told_apart() {
        let keywords: Vec<&[u8]> =
            vec![b"alpha_secret_token", b"beta_secret_token", b"secret_token"];
        let k = Keywords::new(&keywords);
        let hay = b"beta_SECRET_TOKEN gamma_secret_token Alpha_Secret_Token";
        let owned: Vec<Vec<u8>> = keywords.iter().map(|k| k.to_vec()).collect();
        assert_eq!(found(&k, hay, &[]), oracle(&owned, hay));
        assert_eq!(found(&k, hay, &[]).len(), 5);
    }

    /// Text where every block of eight ends holds a candidate, long enough that the walk
    /// confirms what it holds many times over, with the batches ending anywhere in a chunk.
    #[test]
    fn long_text_full_of_candidates_is_confirmed_whole() {
        let keywords: Vec<Vec<u8>> = ["ab", "key", "_key", "token", "api_key", "password"]
            .iter()
            .map(|k| k.as_bytes().to_vec())
            .collect();
        let k = Keywords::new(&keywords);
        let pieces: &[&[u8]] = &[
            b"ab",
            b"KEY",
            b"x_key",
            b"Token ",
            b"api_key",
            b"passWORD;",
            b"a",
        ];
        let mut hay = Vec::new();
        let mut i = 7usize;
        while hay.len() < 40_000 {
            hay.extend_from_slice(pieces[i % pieces.len()]);
            i = (i * 31 + 17) % 1_000_003;
        }
        let expected = oracle(&keywords, &hay);
        assert!(expected.len() > 3 * PENDING, "{} keywords", expected.len());
        for cuts in [&[][..], &[1], &[777, 5_001, 33_333]] {
            assert_eq!(found(&k, &hay, cuts), expected, "cuts {cuts:?}");
        }
    }

    /// The built-in keywords' tables each hold every tail in its home slot: a confirmation
    /// reads one slot (a hash that lets tails collide would still be correct, and slower).
    #[test]
    fn builtin_tails_are_all_at_home() {
        let set = crate::rule::RuleSet::builtin().unwrap();
        let keywords: Vec<&str> = set
            .rules()
            .iter()
            .flat_map(|r| r.spec.keywords.iter().map(|k| k.as_ref()))
            .collect();
        let k = Keywords::new(&keywords);
        for (b, table) in k.by_tail.iter().enumerate() {
            assert!(table.perfect, "bucket {b}: {} slots", table.slots.len());
        }
    }

    /// More keywords of one length than a table of [`PERFECT_SLOTS`] can hold each at home:
    /// the table probes, and every keyword is still found, and nothing else.
    #[test]
    fn a_bucket_too_full_to_be_perfect_probes() {
        let mut keywords: Vec<Vec<u8>> = (0u32..3000)
            .map(|i| format!("k{:07}", i.wrapping_mul(2_654_435_761) % 10_000_000).into_bytes())
            .collect();
        keywords.sort();
        keywords.dedup();
        let k = Keywords::new(&keywords);
        let table = &k.by_tail[bucket_of(8)];
        assert!(!table.perfect);
        let mut hay = Vec::new();
        for (i, kw) in keywords.iter().enumerate().step_by(7) {
            hay.extend_from_slice(kw);
            hay.extend_from_slice(if i % 2 == 0 { b" k12" } else { b"K" });
        }
        assert_eq!(found(&k, &hay, &[1000, 5000]), oracle(&keywords, &hay));
    }

    #[test]
    fn builtin_keywords_across_block_and_range_cuts() {
        let set = crate::rule::RuleSet::builtin().unwrap();
        let mut keywords: Vec<Vec<u8>> = Vec::new();
        for r in set.rules() {
            for k in r.spec.keywords.iter() {
                let k = k.to_ascii_lowercase().into_bytes();
                if !keywords.contains(&k) {
                    keywords.push(k);
                }
            }
        }
        let k = Keywords::new(&keywords);
        let pieces: &[&[u8]] = &[
            b"token",
            b"PASSWORD",
            b"ghp_",
            b"AKIA",
            b"x",
            b" ",
            b"-----BEGIN",
            b"@",
            b"secret_key",
            b"sk-ant-api03-",
            b"\xff",
            b"Authorization: Bearer ",
        ];
        let mut hay = Vec::new();
        let mut i = 0usize;
        while hay.len() < 700 {
            let expected = oracle(&keywords, &hay);
            for cut in (0..=hay.len()).step_by(5) {
                assert_eq!(
                    found(&k, &hay, &[cut]),
                    expected,
                    "length {}, cut {cut}",
                    hay.len()
                );
            }
            hay.extend_from_slice(pieces[i % pieces.len()]);
            i = (i * 7 + 3) % 1009;
        }
    }
}
