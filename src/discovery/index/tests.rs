use super::*;

#[test]
fn quantize_round_trip() {
    let v = [0.5f32, -0.25, 0.0, 1.0];
    let q = Quantized::new(&v);
    assert_eq!(q.q, vec![64, -32, 0, 127]);
    let back = Quantized::from_bytes(&q.to_bytes(), 4).expect("len");
    assert_eq!(back, q);
    assert!(Quantized::from_bytes(&q.to_bytes(), 5).is_none());
    assert_eq!(Quantized::new(&[0.0, 0.0]).scale, 0.0);
}

fn meta(k: u8, tags: &[u32]) -> Meta {
    Meta {
        key: [k; 32],
        seq: i64::from(k),
        issued_at: i64::from(k),
        expires_at: i64::MAX,
        tags: tags.into(),
        protocols: Box::new([]),
    }
}

#[test]
fn search_ranks_filters_and_reuses_slots() {
    let mut idx = Index::new(2);
    idx.upsert(meta(1, &[1]), &Quantized::new(&[1.0, 0.0]), "east");
    idx.upsert(meta(2, &[1, 2]), &Quantized::new(&[0.6, 0.8]), "north east");
    idx.upsert(meta(3, &[]), &Quantized::new(&[0.0, 1.0]), "north");
    let q = Quantized::new(&[1.0, 0.0]);
    let f = Filter::default();
    let hits = idx.search(&q, &[], 0.0, None, &f, 2);
    assert_eq!(hits.iter().map(|h| h.slot).collect::<Vec<_>>(), vec![0, 1]);
    assert!((hits[0].similarity - 1.0).abs() < 0.02);
    // A tag is not a protocol, even when both are interned as the same word.
    let mut m = meta(9, &[7]);
    m.protocols = Box::new([8]);
    idx.upsert(m, &Quantized::new(&[1.0, 0.0]), "");
    let only = |f: Filter| {
        idx.search(&q, &[], 0.0, None, &f, 10)
            .iter()
            .map(|h| h.slot)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        only(Filter {
            protocol: Some(8),
            ..Filter::default()
        }),
        vec![3]
    );
    assert!(
        only(Filter {
            protocol: Some(7),
            ..Filter::default()
        })
        .is_empty()
    );
    assert!(
        only(Filter {
            tags: vec![8],
            ..Filter::default()
        })
        .is_empty()
    );
    idx.remove(&[9; 32]);
    // Tag filter: all must match.
    let f = Filter {
        tags: vec![1, 2],
        ..Filter::default()
    };
    let hits = idx.search(&q, &[], 0.0, None, &f, 10);
    assert_eq!(hits.iter().map(|h| h.slot).collect::<Vec<_>>(), vec![1]);
    // Lexical boost can reorder close calls.
    let lex = [0.0, 1.0];
    let hits = idx.search(&q, &lex, 0.5, None, &Filter::default(), 1);
    assert_eq!(hits[0].slot, 1);
    // Trust filter and browse order.
    idx.set_trust(&[3; 32], 0.9);
    let f = Filter {
        min_trust: 0.6,
        ..Filter::default()
    };
    assert_eq!(idx.browse(&f, 10).len(), 1);
    let all = idx.browse(&Filter::default(), 10);
    assert_eq!(
        all.iter().map(|h| h.slot).collect::<Vec<_>>(),
        vec![2, 1, 0]
    );
    // Removal frees the slot for the next card.
    idx.remove(&[1; 32]);
    assert_eq!(idx.len(), 2);
    idx.upsert(meta(4, &[]), &Quantized::new(&[1.0, 0.0]), "x");
    assert_eq!(idx.slot_of(&[4; 32]), Some(0));
    assert_eq!(idx.slot(0).map(|s| *s.0), Some([4; 32]));
    // Expired cards are skipped.
    let f = Filter {
        now: i64::MAX,
        ..Filter::default()
    };
    assert!(idx.search(&q, &[], 0.0, None, &f, 10).is_empty());
}

#[test]
fn trust_orders_near_equals_and_survives_reindexing() {
    let mut idx = Index::new(2);
    let q = Quantized::new(&[1.0, 0.0]);
    // Trust known before the card arrives is applied when it is indexed.
    idx.set_trust(&[2; 32], 0.1);
    idx.upsert(meta(1, &[]), &Quantized::new(&[1.0, 0.0]), "a");
    idx.upsert(meta(2, &[]), &Quantized::new(&[1.0, 0.0]), "b");
    assert_eq!(idx.slot(1).map(|s| s.2), Some(0.1));
    let hits = idx.search(&q, &[], 0.0, None, &Filter::default(), 2);
    assert_eq!(hits.iter().map(|h| h.slot).collect::<Vec<_>>(), vec![0, 1]);
    assert!((hits[0].score - hits[1].score - TRUST_WEIGHT * 0.4).abs() < 1e-3);
    // A new version of the card keeps its trust; so does revoking and re-registering.
    idx.upsert(meta(2, &[]), &Quantized::new(&[1.0, 0.0]), "b2");
    assert_eq!(idx.slot(1).map(|s| s.2), Some(0.1));
    idx.remove(&[2; 32]);
    idx.upsert(meta(2, &[]), &Quantized::new(&[1.0, 0.0]), "b3");
    let slot = idx.slot_of(&[2; 32]).expect("indexed");
    assert_eq!(idx.slot(slot).map(|s| s.2), Some(0.1));
    // Back to neutral forgets the override.
    idx.set_trust(&[2; 32], 0.5);
    assert!(idx.trust_by_key.is_empty());
}

#[test]
fn sketch_prefilter_finds_what_the_exact_scan_finds() {
    let dim = 64;
    let n = 3000;
    let mut idx = Index::new(dim);
    let mut rnd = xorshift(0x9e37_79b9_7f4a_7c15);
    let vecs: Vec<Vec<f32>> = (0..n).map(|_| (0..dim).map(|_| rnd()).collect()).collect();
    for (i, v) in vecs.iter().enumerate() {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(i as u64).to_le_bytes());
        idx.upsert(
            Meta {
                key,
                expires_at: i64::MAX,
                ..Meta::default()
            },
            &Quantized::new(v),
            "",
        );
    }
    let f = Filter::default();
    let mut overlap = 0;
    for probe in vecs.iter().take(20) {
        let q = Quantized::new(probe);
        idx.set_prefilter_min(usize::MAX);
        let exact = idx.search(&q, &[], 0.0, None, &f, 10);
        idx.set_prefilter_min(0);
        let fast = idx.search(&q, &[], 0.0, None, &f, 10);
        assert_eq!(fast[0], exact[0], "a stored vector finds itself first");
        overlap += fast.iter().filter(|s| exact.contains(s)).count();
    }
    assert!(overlap >= 190, "recall@10 vs exact: {overlap}/200");
    // Pinned and lexical candidates are rescored even when far by sketch.
    let q = Quantized::new(&vecs[0]);
    let mut lex = vec![0.0; n];
    lex[2999] = 1.0;
    let hits = idx.search(&q, &lex, 5.0, Some((1234, 9.0)), &f, 2);
    assert_eq!(
        hits.iter().map(|h| h.slot).collect::<Vec<_>>(),
        vec![1234, 2999]
    );
}

#[test]
fn parallel_scan_matches_serial() {
    let dim = 8;
    let mut idx = Index::new(dim);
    idx.set_prefilter_min(usize::MAX);
    let n = 2 * CHUNK + 77;
    for i in 0..n {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let v: Vec<f32> = (0..dim)
            .map(|d| ((i * 31 + d * 7) % 17) as f32 - 8.0)
            .collect();
        idx.upsert(
            Meta {
                key,
                expires_at: i64::MAX,
                ..Meta::default()
            },
            &Quantized::new(&v),
            "",
        );
    }
    let q = Quantized::new(&[1.0, -1.0, 0.5, 0.0, 0.25, -0.5, 1.0, 0.0]);
    let par = idx.search(&q, &[], 0.0, None, &Filter::default(), 10);
    let mut serial: Vec<Scored> = (0..n)
        .map(|i| {
            let row = &idx.vectors[i * dim..(i + 1) * dim];
            let s = dot_i8(&q.q, row) as f32 * q.scale * idx.scales[i];
            Scored {
                slot: i as u32,
                score: s,
                similarity: s,
                lexical: 0.0,
            }
        })
        .collect();
    serial.sort_unstable();
    serial.truncate(10);
    assert_eq!(par, serial);
}

/// Numbers in [-0.5, 0.5) from a xorshift stream seeded with `state`.
fn xorshift(mut state: u64) -> impl FnMut() -> f32 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// `n` random vectors of `dim` (a fixed xorshift stream), indexed with keys and versions
/// `1..=n` and the text `w{i}`, all on rows.
fn random_index(n: usize, dim: usize) -> (Index, Vec<Vec<f32>>) {
    let mut idx = Index::new(dim);
    idx.set_prefilter_min(usize::MAX);
    let mut rnd = xorshift(0x2545_f491_4f6c_dd1d);
    // Unit length, as embeddings are.
    let vecs: Vec<Vec<f32>> = (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..dim).map(|_| rnd()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / norm).collect()
        })
        .collect();
    for (i, v) in vecs.iter().enumerate() {
        idx.upsert(
            numbered(i, i as i64 + 1, &[]),
            &Quantized::new(v),
            &format!("w{i}"),
        );
    }
    (idx, vecs)
}

fn numbered(i: usize, seq: i64, tags: &[u32]) -> Meta {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Meta {
        key,
        seq,
        expires_at: i64::MAX,
        tags: tags.into(),
        ..Meta::default()
    }
}

fn top(idx: &Index, q: &[f32], f: &Filter, k: usize) -> Vec<u32> {
    idx.search(&Quantized::new(q), &[], 0.0, None, f, k)
        .iter()
        .map(|s| s.slot)
        .collect()
}

/// Builds the graph of `idx` from a copy of its rows, as a node does.
fn graph_of(idx: &Index) -> (Ann, Vec<u64>) {
    let (keys, rows) = idx.snapshot();
    let dim = idx.dim;
    let ann = Ann::build(
        dim,
        keys.par_iter().copied().zip(rows.par_chunks_exact(dim)),
        keys.len(),
    )
    .expect("graph");
    (ann, keys)
}

/// Moves the tail into the graph as the node's inserter does, in batches of `batch`.
fn drain(idx: &mut Index, batch: usize) -> usize {
    let mut inserted = 0;
    while let Some(work) = idx.take_graph_work(batch).expect("work") {
        work.run().expect("run");
        idx.graph_work_done(&work);
        inserted += work.inserts();
    }
    inserted
}

#[test]
fn the_graph_finds_what_the_exact_scan_finds_and_follows_changes() {
    let (dim, n) = (64, 3000);
    let (mut idx, vecs) = random_index(n, dim);
    let f = Filter::default();
    let exact: Vec<Vec<u32>> = vecs.iter().take(20).map(|v| top(&idx, v, &f, 10)).collect();
    let (ann, keys) = graph_of(&idx);
    assert_eq!(ann.len(), n);
    assert_eq!(idx.lexical.walk_limit(), usize::MAX, "every list walked");
    assert_eq!(idx.attach_ann(ann, &keys).expect("attach"), (0, 0));
    assert!(idx.ann().is_some() && !idx.wants_ann());
    assert_eq!(
        idx.lexical.walk_limit(),
        crate::discovery::lexical::WALK_MIN,
        "through the graph, common words are counted, not walked"
    );
    assert!(
        idx.vectors.is_empty() && idx.sketches.is_empty(),
        "rows dropped"
    );
    let mut overlap = 0;
    for (v, e) in vecs.iter().zip(&exact) {
        let fast = top(&idx, v, &f, 10);
        assert_eq!(fast[0], e[0], "a stored vector finds itself first");
        overlap += fast.iter().filter(|s| e.contains(s)).count();
    }
    assert!(overlap >= 190, "recall@10 vs exact: {overlap}/200");
    // Similarities are the exact ones.
    let s = idx.search(&Quantized::new(&vecs[5]), &[], 0.0, None, &f, 1);
    assert!((s[0].similarity - 1.0).abs() < 0.01, "{s:?}");

    // Filters are applied inside the graph walk: a low-trust card or one without the tag is
    // skipped, and the nearest one that passes comes first.
    idx.set_trust(&idx.keys[7].clone(), 0.1);
    let trusted = Filter {
        min_trust: 0.3,
        ..Filter::default()
    };
    assert!(!top(&idx, &vecs[7], &trusted, 10).contains(&7));
    idx.upsert(numbered(11, 5000, &[42]), &Quantized::new(&vecs[11]), "w11");
    let tagged = Filter {
        tags: vec![42],
        ..Filter::default()
    };
    // Found while it waits in the tail, and after it moved into the graph.
    assert_eq!(idx.graph_pending(), 1);
    assert_eq!(top(&idx, &vecs[0], &tagged, 10), vec![11]);
    assert_eq!(drain(&mut idx, 256), 1);
    assert_eq!(idx.graph_pending(), 0);
    assert_eq!(top(&idx, &vecs[0], &tagged, 10), vec![11]);

    // Lexical and pinned candidates are rescored even when far from the query.
    let mut lex = vec![0.0; idx.slots()];
    lex[2999] = 1.0;
    let hits = idx.search(
        &Quantized::new(&vecs[0]),
        &lex,
        5.0,
        Some((1234, 9.0)),
        &f,
        2,
    );
    assert_eq!(
        hits.iter().map(|h| h.slot).collect::<Vec<_>>(),
        vec![1234, 2999]
    );

    // A new version replaces the old vector; a revoked card leaves the graph. Both hold
    // while the change waits for the inserter and once it is done.
    idx.upsert(numbered(3, 6000, &[]), &Quantized::new(&vecs[100]), "w3");
    assert_eq!(idx.seq_of(&idx.keys[3].clone()), Some(6000));
    let key9 = idx.keys[9];
    idx.remove(&key9);
    for drained in [false, true] {
        if drained {
            drain(&mut idx, 256);
        }
        let near_100 = top(&idx, &vecs[100], &f, 2);
        assert!(
            near_100.contains(&3) && near_100.contains(&100),
            "{near_100:?} (drained: {drained})"
        );
        assert_ne!(
            top(&idx, &vecs[3], &f, 1),
            vec![3],
            "the old vector is gone (drained: {drained})"
        );
        assert!(!top(&idx, &vecs[9], &f, 10).contains(&9));
    }
    let ann = idx.ann().expect("graph");
    assert_eq!(ann.len(), n - 1);
    assert!(!ann.contains(10) && ann.contains(6000));
    // A new card reuses the freed slot and is found.
    idx.upsert(numbered(5000, 7000, &[]), &Quantized::new(&vecs[9]), "new");
    assert_eq!(top(&idx, &vecs[9], &f, 1), vec![9]);
    drain(&mut idx, 256);
    assert_eq!(top(&idx, &vecs[9], &f, 1), vec![9]);
    assert_eq!(idx.ann().expect("graph").len(), n);
    assert_eq!(idx.ann_keys().len(), n, "the keys saved are the graph's");
}

/// Registrations while a batch is being inserted: a card replaced or revoked mid-batch leaves
/// no live trace of its old version, a card replaced twice keeps only the newest, and the
/// keys a save would write are exactly the graph's.
#[test]
fn changes_during_a_graph_batch_are_not_lost_or_resurrected() {
    let (dim, n) = (32, 600);
    let (mut idx, vecs) = random_index(n, dim);
    let f = Filter::default();
    let (ann, keys) = graph_of(&idx);
    idx.attach_ann(ann, &keys).expect("attach");
    // Cards 0..40 get new versions (into the tail).
    for i in 0..40 {
        idx.upsert(
            numbered(i, 10_000 + i as i64, &[]),
            &Quantized::new(&vecs[n - 1 - i]),
            "",
        );
    }
    assert_eq!(idx.graph_pending(), 40);
    let work = idx.take_graph_work(64).expect("work").expect("some");
    assert_eq!(work.inserts(), 40);
    // While it runs: card 0 replaced again, card 1 revoked, card 2 replaced again then back.
    work.run().expect("run");
    idx.upsert(numbered(0, 20_000, &[]), &Quantized::new(&vecs[300]), "");
    let key1 = idx.keys[1];
    idx.remove(&key1);
    idx.upsert(numbered(2, 20_001, &[]), &Quantized::new(&vecs[301]), "");
    idx.graph_work_done(&work);
    assert_eq!(
        idx.graph_pending(),
        2,
        "cards 0 and 2's newest versions wait"
    );
    // The replaced versions the batch inserted are live nowhere.
    assert_eq!(top(&idx, &vecs[300], &f, 1), vec![0]);
    assert_ne!(top(&idx, &vecs[n - 1], &f, 1), vec![0]);
    assert!(!top(&idx, &vecs[n - 2], &f, 5).contains(&1));
    let live = |idx: &Index| {
        let mut k = idx.ann_keys();
        k.sort_unstable();
        k
    };
    assert_eq!(
        live(&idx).len(),
        idx.ann().expect("graph").len(),
        "the saved keys are the graph's, mid-way"
    );
    drain(&mut idx, 64);
    let ann = idx.ann().expect("graph");
    assert!(!ann.contains(10_000) && !ann.contains(10_001) && !ann.contains(10_002));
    assert!(ann.contains(20_000) && ann.contains(20_001) && ann.contains(10_003));
    assert_eq!(ann.len(), n - 1);
    assert_eq!(live(&idx).len(), n - 1);
    assert_eq!(top(&idx, &vecs[301], &f, 1), vec![2]);
}

#[test]
fn a_saved_graph_is_brought_up_to_date() {
    let dir = tempfile::tempdir().expect("tmp");
    let (dim, n) = (32, 500);
    let (idx, vecs) = random_index(n, dim);
    let (ann, keys) = graph_of(&idx);
    assert!(ann.changes() > 0, "a new graph is unsaved");
    ann.save(dir.path(), "m", &keys).expect("save");
    assert_eq!(ann.changes(), 0);

    // The database moved on while the graph was on disk: card 0 revoked, card 1 has a new
    // version, card 2 kept its version number with another vector (a restored backup), and a
    // new card arrived.
    let mut now = Index::new(dim);
    now.set_prefilter_min(usize::MAX);
    for (i, v) in vecs.iter().enumerate().skip(1) {
        let (seq, v) = match i {
            1 => (9001, &vecs[50]),
            2 => (3, &vecs[60]),
            _ => (i as i64 + 1, v),
        };
        now.upsert(numbered(i, seq, &[]), &Quantized::new(v), "");
    }
    now.upsert(numbered(n, 9002, &[]), &Quantized::new(&vecs[0]), "");
    let (saved, saved_keys) = Ann::open(dir.path(), dim, "m")
        .expect("open")
        .expect("saved");
    assert_eq!(saved.changes(), 0);
    // Queued: card 1's new version, card 2's new vector, the new card. Removed: card 0's
    // and card 1's old versions.
    assert_eq!(now.attach_ann(saved, &saved_keys).expect("attach"), (3, 2));
    let f = Filter::default();
    let newest = vec![now.slot_of(&numbered(n, 0, &[]).key).expect("indexed")];
    assert_eq!(top(&now, &vecs[0], &f, 1), newest, "found in the tail");
    assert_eq!(drain(&mut now, 2), 3);
    assert_eq!(top(&now, &vecs[0], &f, 1), newest, "found in the graph");
    let mut got = vec![0i8; dim];
    let ann = now.ann().expect("graph");
    assert!(ann.get(3, &mut got));
    assert_eq!(
        got,
        Quantized::new(&vecs[60]).q,
        "the stale vector was replaced"
    );
    assert!(!ann.contains(1) && !ann.contains(2) && ann.contains(9001));
    assert_eq!(ann.len(), n);
}

#[test]
fn damaged_or_foreign_graph_files_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    assert!(
        Ann::open(dir.path(), 32, "m")
            .expect("nothing saved")
            .is_none()
    );
    let (idx, _) = random_index(200, 32);
    let (ann, keys) = graph_of(&idx);
    ann.save(dir.path(), "m", &keys).expect("save");
    let stale = |r: Result<Option<(Ann, Vec<u64>)>, AnnError>| match r {
        Err(AnnError::Stale(m)) => m,
        other => panic!(
            "expected Stale, got {:?}",
            other.map(|o| o.map(|a| a.1.len()))
        ),
    };
    assert!(stale(Ann::open(dir.path(), 32, "other")).contains("other"));
    assert!(stale(Ann::open(dir.path(), 64, "m")).contains("64"));
    // A flipped byte in the graph: its digest no longer matches.
    let graph = dir.path().join("graph.usearch");
    let mut bytes = std::fs::read(&graph).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&graph, &bytes).expect("write");
    assert!(stale(Ann::open(dir.path(), 32, "m")).contains("not the graph"));
    // Sidecars of garbage, truncated or with a lying count are refused, never trusted.
    let side = dir.path().join("graph.keys");
    let good = std::fs::read(&side).expect("read");
    for bad in [
        b"".to_vec(),
        b"\xff\xfe garbage".to_vec(),
        good[..good.len() - 3].to_vec(),
        good[..20].to_vec(),
        [b"agentmesh-ann-v1\ndim 32\nmodel m\nsha256 00\nkeys 99999999999999999999\n".as_slice()]
            .concat(),
        vec![b'a'; 4096],
    ] {
        std::fs::write(&side, &bad).expect("write");
        stale(Ann::open(dir.path(), 32, "m"));
    }
}

/// A batch that failed part way: what went into the graph leaves the tail, the rest stays,
/// and the keys a save would write are still exactly the graph's.
#[test]
fn a_batch_that_failed_part_way_keeps_the_keys_exact() {
    let (dim, n) = (32, 300);
    let (mut idx, vecs) = random_index(n, dim);
    let (ann, keys) = graph_of(&idx);
    idx.attach_ann(ann, &keys).expect("attach");
    for i in 0..10 {
        idx.upsert(
            numbered(i, 10_000 + i as i64, &[]),
            &Quantized::new(&vecs[n - 1 - i]),
            "",
        );
    }
    let work = idx.take_graph_work(64).expect("work").expect("some");
    // The first three inserts went in, then the library refused.
    for ((key, _), row) in work.insert.iter().zip(work.rows.chunks_exact(dim)).take(3) {
        work.ann.insert_reserved(*key, row).expect("insert");
    }
    idx.graph_work_failed(work);
    assert_eq!(idx.graph_pending(), 7);
    let ann = idx.ann().expect("graph").clone();
    assert_eq!(
        idx.ann_keys().len(),
        ann.len(),
        "the saved keys are the graph's"
    );
    // A card of the three replaced now: its inserted version is marked for removal.
    idx.upsert(numbered(0, 20_000, &[]), &Quantized::new(&vecs[5]), "");
    drain(&mut idx, 64);
    assert_eq!(idx.graph_pending(), 0);
    assert!(!ann.contains(10_000) && ann.contains(20_000) && ann.contains(10_009));
    assert_eq!(ann.len(), n);
    assert_eq!(idx.ann_keys().len(), n);
}

/// Cards with the same tags share one label set; a set no card holds is dropped and its number
/// reused, so replacing cards' tags over and over does not grow the index.
#[test]
fn label_sets_are_shared_and_dropped_with_their_last_card() {
    assert_eq!(std::mem::size_of::<Option<Slot>>(), 24);
    let mut idx = Index::new(2);
    let v = Quantized::new(&[1.0, 0.0]);
    for k in 1..=50u8 {
        idx.upsert(meta(k, &[u32::from(k % 3)]), &v, "");
    }
    let held = |idx: &Index| idx.labels.find.len();
    assert_eq!(held(&idx), 3, "50 cards, 3 distinct tag sets");
    for round in 0..200u32 {
        let k = (round % 50) as u8 + 1;
        let mut m = meta(k, &[100 + round, u32::from(k % 3)]);
        m.seq = i64::from(round) + 1000;
        idx.upsert(m, &v, "");
    }
    assert_eq!(held(&idx), 50, "each card's own set now");
    assert!(
        idx.labels.sets.len() <= 53,
        "numbers reused: {}",
        idx.labels.sets.len()
    );
    // Filters read the shared sets.
    let f = Filter {
        tags: vec![150 + 100],
        ..Filter::default()
    };
    let hits = idx.search(&v, &[], 0.0, None, &f, 10);
    assert_eq!(hits.len(), 1);
    assert_eq!(idx.slot(hits[0].slot).map(|s| *s.0), Some([1; 32]));
    for k in 1..=50u8 {
        idx.remove(&[k; 32]);
    }
    assert_eq!(held(&idx), 0);
}
