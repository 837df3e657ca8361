use super::*;

fn vector_key(hex_secret: &str) -> Identity {
    let bytes: [u8; 32] = hex::decode(hex_secret)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    Identity::from_secret(&bytes)
}

#[test]
fn protocol_vectors_did_key() {
    let a = vector_key("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    assert_eq!(
        hex::encode(a.verifying_key().as_bytes()),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    assert_eq!(
        a.id(),
        "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"
    );
    let b = vector_key("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
    assert_eq!(
        b.id(),
        "did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT"
    );
}

#[test]
fn did_round_trip_and_rejections() {
    for _ in 0..32 {
        let id = Identity::generate();
        assert!(id.id().starts_with(DID_KEY_PREFIX));
        assert_eq!(public_from_did(id.id()), Ok(id.verifying_key()));
    }
    assert!(matches!(
        public_from_did("weather"),
        Err(IdError::NotDidKey(_))
    ));
    assert!(matches!(
        public_from_did("did:key:z0OIl"),
        Err(IdError::BadBase58(_))
    ));
    // A secp256k1 did:key is a did:key, but not an Ed25519 one.
    assert!(matches!(
        public_from_did("did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"),
        Err(IdError::NotEd25519(_))
    ));
    let id = Identity::generate();
    let truncated = &id.id()[..id.id().len() - 1];
    assert!(public_from_did(truncated).is_err());
    let longer = format!("{}z", id.id());
    assert!(public_from_did(&longer).is_err());
    // The identity point is a small-order ("weak") key: refused.
    let mut weak = vec![0xed, 0x01, 1];
    weak.extend_from_slice(&[0u8; 31]);
    let weak = format!("did:key:z{}", bs58::encode(weak).into_string());
    assert!(weak.starts_with("did:key:z6Mk"));
    assert!(matches!(
        public_from_did(&weak),
        Err(IdError::NotEd25519(_))
    ));
}

#[test]
fn signatures_verify_only_for_their_message() {
    let id = Identity::generate();
    let sig = id.sign_b64(b"hello");
    assert_eq!(verify_b64(id.id(), b"hello", &sig), Ok(()));
    assert_eq!(
        verify_b64(id.id(), b"hellO", &sig),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        verify_b64(id.id(), b"hello", "abc"),
        Err(VerifyError::Malformed)
    );
}

#[test]
fn file_store_round_trip_permissions_and_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = KeyStore::new(KeyStoreKind::File, dir.path().join("keys"));
    let id = Identity::generate();
    let loc = store.save("default", &id, false).expect("save");
    let KeyLocation::File(path) = loc else {
        panic!("file store must write a file")
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = fs::metadata(dir.path().join("keys"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(dmode & 0o777, 0o700);
    }
    let (loaded, _) = store.load("default").expect("load");
    assert_eq!(loaded.id(), id.id());
    assert!(matches!(
        store.save("default", &Identity::generate(), false),
        Err(KeyStoreError::Exists { .. })
    ));
    let other = Identity::generate();
    store.save("default", &other, true).expect("force");
    assert_eq!(store.load("default").expect("load").0.id(), other.id());
    assert!(matches!(
        store.load("nope"),
        Err(KeyStoreError::NotFound(_))
    ));
    assert!(matches!(
        store.save("../evil", &id, false),
        Err(KeyStoreError::BadName(_))
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            store.load("default"),
            Err(KeyStoreError::Permissions(_))
        ));
    }
}

#[test]
fn short_ids_cut_by_characters() {
    assert_eq!(short_id("did:key:z6MkabcdEFGH12345678"), "z6Mk…12345678");
    // From a request path, not validated: multi-byte characters must not split.
    assert_eq!(short_id("did:key:z6Mkaéaéaéaéaéaéaé"), "z6Mk…aéaéaéaé");
    assert_eq!(short_id("did:key:z6Mké"), "did:key:z6Mké");
}

/// A key whose bytes are not the canonical encoding of its point (y ≥ p, or x = 0 with the
/// sign bit set) is no ID: decompression accepts it, so one point would have several IDs.
#[test]
fn non_canonical_point_encodings_are_not_ids() {
    // y = p + 1 - 2^255... spelled as ff×31 7f: y = 2^255 - 1 ≥ p.
    let mut y_over_p = [0xffu8; 32];
    y_over_p[31] = 0x7f;
    // y = p (≡ 0), which decompresses and re-encodes as 0.
    let mut y_is_p = [0xffu8; 32];
    y_is_p[0] = 0xed;
    y_is_p[31] = 0x7f;
    // y = 1 + p: the identity point, also of small order.
    let mut one_plus_p = y_is_p;
    one_plus_p[0] = 0xee;
    for raw in [y_over_p, y_is_p, one_plus_p] {
        let did = did_from_key_bytes(&raw);
        assert!(
            public_from_did(&did).is_err(),
            "{did} ({}) must not be an ID",
            hex::encode(raw)
        );
    }
    // Every real key still is.
    let id = Identity::generate();
    assert!(public_from_did(id.id()).is_ok());
}

/// The byte check `public_from_did` uses for canonical encodings agrees with the definition it
/// stands for: a key is an ID when it decompresses, is not weak, and re-encodes to its own
/// bytes. Checked on every y ≥ p and every x = 0 point with either sign bit, and on random
/// encodings (half of them points), so a shortcut that let a second spelling through fails.
#[test]
fn the_canonical_encoding_check_matches_decompress_and_re_encode() {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use sha2::Digest as _;
    let by_definition = |raw: &[u8; 32]| {
        CompressedEdwardsY(*raw)
            .decompress()
            .is_some_and(|p| !p.is_small_order() && p.compress().to_bytes() == *raw)
    };
    let mut cases: Vec<[u8; 32]> = Vec::new();
    for sign in [0u8, 0x80] {
        // y = p + k for every k that fits below 2^255 (k = 0..=18).
        for low in 0xedu8..=0xff {
            let mut raw = [0xffu8; 32];
            raw[0] = low;
            raw[31] = 0x7f | sign;
            cases.push(raw);
        }
        // y = 1 (x = 0: the identity) and y = p − 1 (x = 0: order 2), and small y values, some of
        // them points with a reduced twin above p.
        for y in 0u8..=18 {
            let mut raw = [0u8; 32];
            raw[0] = y;
            raw[31] |= sign;
            cases.push(raw);
        }
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f | sign;
        cases.push(minus_one);
    }
    let mut seed = [0u8; 32];
    for i in 0..4000u32 {
        seed[..4].copy_from_slice(&i.to_le_bytes());
        let raw: [u8; 32] = sha2::Sha256::digest(seed).into();
        cases.push(raw);
    }
    let mut points = 0;
    for raw in &cases {
        let by_def = by_definition(raw);
        points += usize::from(by_def);
        let did = did_from_key_bytes(raw);
        assert_eq!(
            public_from_did(&did).is_ok(),
            by_def,
            "{} is an ID by definition: {by_def}",
            hex::encode(raw)
        );
    }
    assert!(points > 1000, "the random half are points: {points}");
}
