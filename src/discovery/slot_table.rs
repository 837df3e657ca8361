//! A hash index from a field the caller already stores per slot (a card's key, its live
//! version, a word's hash) to the slot.
//!
//! A `HashMap<[u8; 32], u32>` keeps a second copy of every 32-byte key: 37 bytes a bucket, 68 MB
//! at a million cards. This table keeps only the slot (5 bytes a bucket with its control byte)
//! and compares through the caller's arrays, so it needs `hashbrown`'s raw `HashTable`: the
//! standard map has no lookup by a hash and a comparison the caller supplies.
//!
//! Keys come from the network (agents choose their key pairs and words), so they are hashed
//! with the standard library's randomly keyed SipHash, as `HashMap` does, not a fast unkeyed
//! hash.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

/// Slots found by a field of theirs; every method takes `field`, which reads a slot's field
/// from the caller's arrays.
#[derive(Debug, Default)]
pub(crate) struct SlotTable {
    table: HashTable<u32>,
    hasher: std::collections::hash_map::RandomState,
}

impl SlotTable {
    /// The slot whose field is `k`.
    pub fn get<K: Hash + Eq>(&self, k: &K, field: impl Fn(u32) -> K) -> Option<u32> {
        self.table
            .find(self.hasher.hash_one(k), |s| field(*s) == *k)
            .copied()
    }

    /// Adds `slot`, whose field must already read as its new value. The caller checks no
    /// other slot has that value.
    pub fn insert<K: Hash>(&mut self, slot: u32, field: impl Fn(u32) -> K) {
        let hasher = &self.hasher;
        let h = hasher.hash_one(field(slot));
        self.table
            .insert_unique(h, slot, |s| hasher.hash_one(field(*s)));
    }

    /// Takes out the slot whose field is `k`.
    pub fn remove<K: Hash + Eq>(&mut self, k: &K, field: impl Fn(u32) -> K) -> Option<u32> {
        self.table
            .find_entry(self.hasher.hash_one(k), |s| field(*s) == *k)
            .ok()
            .map(|e| e.remove().0)
    }

    /// Slots held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Every slot held, in no order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.table.iter().copied()
    }

    /// Gives back spare room.
    pub fn shrink_to_fit<K: Hash>(&mut self, field: impl Fn(u32) -> K) {
        let hasher = &self.hasher;
        self.table.shrink_to_fit(|s| hasher.hash_one(field(*s)));
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.table.allocation_size()
    }
}

/// Puts `item` in a place of `items` that `free` names, or at the end; returns where.
pub(crate) fn reuse_or_push<T>(items: &mut Vec<T>, free: &mut Vec<u32>, item: T) -> u32 {
    match free.pop() {
        Some(at) => {
            items[at as usize] = item;
            at
        }
        None => {
            items.push(item);
            (items.len() - 1) as u32
        }
    }
}
