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
    assert_eq!(idx.by_key[&[4; 32]], 0);
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
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
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
