//! Identities: Ed25519 keys, their did:key IDs, and where keys are kept.
//!
//! An ID is `did:key:z` + base58btc(`0xed 0x01` ‖ public key) (docs/protocol.md §2), so the ID *is* the
//! public key and any signature can be checked without a lookup. Secret keys live in the OS
//! keyring (Secret Service on Linux, service `agentmesh`, user = key name) or, where no keyring
//! answers, in `<home>/keys/<name>.key`: a 0600 file in a 0700 folder, written to a temp file,
//! fsynced and renamed so a crash never leaves half a key. A key file readable by others is
//! refused, as ssh does.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::encoding::{b64url, b64url_decode, random_bytes};

pub mod verify;

pub use verify::{SigCheck, verify_batched, verify_one};

/// The multicodec prefix of an Ed25519 public key (varint 0xed).
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];
/// Every Ed25519 did:key starts with this.
pub const DID_KEY_PREFIX: &str = "did:key:z6Mk";
/// The keyring service name under which keys are stored.
pub const KEYRING_SERVICE: &str = "agentmesh";

/// Why a string is not a usable agent ID.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// Does not start with `did:key:z`.
    #[error("`{0}` is not a did:key (expected `did:key:z6Mk…`)")]
    NotDidKey(String),
    /// The multibase part is not base58btc.
    #[error("`{0}` is not valid base58btc")]
    BadBase58(String),
    /// Decodes, but not to an Ed25519 public key.
    #[error("`{0}` is not an Ed25519 did:key")]
    NotEd25519(String),
}

/// Builds the did:key of an Ed25519 public key.
pub fn did_from_public(key: &VerifyingKey) -> String {
    did_from_key_bytes(key.as_bytes())
}

/// Builds the did:key of a public key given as its 32 bytes (no point decompression).
pub fn did_from_key_bytes(key: &[u8; 32]) -> String {
    let mut bytes = [0u8; 34];
    bytes[..2].copy_from_slice(&ED25519_MULTICODEC);
    bytes[2..].copy_from_slice(key);
    format!("did:key:z{}", bs58::encode(bytes).into_string())
}

/// Recovers the public key from a did:key, checking every part of its form.
///
/// Small-order ("weak") keys are refused: a signature by one verifies for many messages.
pub fn public_from_did(did: &str) -> Result<VerifyingKey, IdError> {
    let Some(multibase) = did.strip_prefix("did:key:z") else {
        return Err(IdError::NotDidKey(short(did)));
    };
    // 34 bytes encode to at most 47 base58 characters; refuse long junk before decoding it.
    if multibase.len() > 60 {
        return Err(IdError::NotEd25519(short(did)));
    }
    let mut bytes = [0u8; 34];
    // A 35th byte (or more) fails here: base58 spelling is unique for a fixed length whose
    // first byte is non-zero (0xed), so a successful 34-byte decode is the canonical ID.
    let n = bs58::decode(multibase)
        .onto(&mut bytes[..])
        .map_err(|e| match e {
            bs58::decode::Error::BufferTooSmall => IdError::NotEd25519(short(did)),
            _ => IdError::BadBase58(short(did)),
        })?;
    let raw: [u8; 32] = match bytes[..n].split_first_chunk::<2>() {
        Some((prefix, rest)) if *prefix == ED25519_MULTICODEC => rest
            .try_into()
            .map_err(|_| IdError::NotEd25519(short(did)))?,
        _ => return Err(IdError::NotEd25519(short(did))),
    };
    let key = VerifyingKey::from_bytes(&raw).map_err(|_| IdError::NotEd25519(short(did)))?;
    // Decompression also accepts y ≥ p (reduced mod p) and x = 0 with the sign bit set, which
    // would give one key several IDs. Only two points have x = 0, the identity and the point
    // of order 2, and both are weak; so past the weak-key check, what is left to refuse is
    // y ≥ p, read off the bytes. This spares a second decompression and a compression (two
    // field exponentiations, ~12 µs of a registration's CPU here); `identity::tests` checks
    // it against decompress-and-re-encode.
    if key.is_weak() || non_canonical_y(&raw) {
        return Err(IdError::NotEd25519(short(did)));
    }
    Ok(key)
}

/// True when `y` (little-endian, sign bit cleared) is at least p = 2^255 − 19: a second,
/// non-canonical spelling of a point that curve25519-dalek would still decompress.
pub(crate) fn non_canonical_y(bytes: &[u8; 32]) -> bool {
    bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed
}

/// The 32 public-key bytes of a did:key, decoded without checking that they are a valid curve
/// point (no decompression): for IDs already verified once, used as compact map keys.
pub fn key_bytes_of_did(did: &str) -> Option<[u8; 32]> {
    let multibase = did.strip_prefix("did:key:z")?;
    if multibase.len() > 60 {
        return None;
    }
    let mut bytes = [0u8; 34];
    let n = bs58::decode(multibase).onto(&mut bytes[..]).ok()?;
    match bytes[..n].split_first_chunk::<2>() {
        Some((prefix, rest)) if *prefix == ED25519_MULTICODEC => rest.try_into().ok(),
        _ => None,
    }
}

/// Shortens untrusted input before it is echoed in an error.
fn short(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Abbreviates an ID for tables: `did:key:z6Mk…wxyz1234`.
pub fn short_id(did: &str) -> String {
    // By characters, not bytes: IDs shown here may come from a request path, not yet checked.
    match did.strip_prefix(DID_KEY_PREFIX) {
        Some(rest) if rest.chars().count() > 8 => {
            let tail: String = rest.chars().skip(rest.chars().count() - 8).collect();
            format!("z6Mk…{tail}")
        }
        _ => did.to_string(),
    }
}

/// An Ed25519 key pair and its did:key.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
    id: String,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret half.
        f.debug_struct("Identity").field("id", &self.id).finish()
    }
}

impl Identity {
    /// A fresh key from the OS random source.
    pub fn generate() -> Self {
        Self::from_secret(&random_bytes::<32>())
    }

    /// The key whose RFC 8032 secret (seed) is `secret`.
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(secret);
        let id = did_from_public(&key.verifying_key());
        Self { key, id }
    }

    /// The RFC 8032 secret (seed), for a protocol stack that must hold the same key (the
    /// node's libp2p identity in DHT mode). Wiped when dropped.
    pub fn secret_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.key.to_bytes())
    }

    /// The did:key of this identity.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs `msg` (Ed25519, RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.key.sign(msg)
    }

    /// Signs `msg` and returns the signature as base64url.
    pub fn sign_b64(&self, msg: &[u8]) -> String {
        b64url(&self.sign(msg).to_bytes())
    }

    fn secret_b64(&self) -> String {
        b64url(&self.key.to_bytes())
    }

    fn from_secret_b64(text: &str) -> Result<Self, KeyStoreError> {
        let bytes = b64url_decode(text.trim()).map_err(|_| KeyStoreError::Corrupt)?;
        let secret: [u8; 32] = bytes.try_into().map_err(|_| KeyStoreError::Corrupt)?;
        Ok(Self::from_secret(&secret))
    }
}

/// Verifies a base64url Ed25519 signature by the key of `did` over `msg`.
pub fn verify_b64(did: &str, msg: &[u8], signature_b64: &str) -> Result<(), VerifyError> {
    let key = public_from_did(did).map_err(VerifyError::Id)?;
    verify_with_key(&key, msg, signature_b64)
}

/// Verifies a base64url Ed25519 signature by `key` over `msg` under this crate's one rule (RFC
/// 8032's cofactored equation, see [`verify`](self::verify); `key` comes from
/// [`public_from_did`], which refuses weak keys).
pub fn verify_with_key(
    key: &VerifyingKey,
    msg: &[u8],
    signature_b64: &str,
) -> Result<(), VerifyError> {
    let raw = signature_bytes(signature_b64)?;
    let check = SigCheck {
        key: *key,
        msg: msg.to_vec(),
        sig: raw,
    };
    if verify_one(&check) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Decodes a base64url signature into its 64 bytes.
pub fn signature_bytes(signature_b64: &str) -> Result<[u8; 64], VerifyError> {
    let mut raw = [0u8; 64];
    match base64::Engine::decode_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        signature_b64,
        &mut raw,
    ) {
        Ok(64) => Ok(raw),
        _ => Err(VerifyError::Malformed),
    }
}

/// Why a signature did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The signer's ID is not a did:key.
    #[error(transparent)]
    Id(IdError),
    /// Not 64 bytes of base64url.
    #[error("signature is not 64 bytes of base64url")]
    Malformed,
    /// Well formed, but not by this key over this message.
    #[error("signature does not match")]
    Mismatch,
}

/// Which store keeps secret keys (`AGENTMESH_KEYSTORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyStoreKind {
    /// The OS keyring only.
    Keyring,
    /// The 0600 file store only.
    File,
    /// The keyring, falling back to files where no keyring answers.
    #[default]
    Auto,
}

impl FromStr for KeyStoreKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "keyring" => Ok(Self::Keyring),
            "file" => Ok(Self::File),
            "auto" => Ok(Self::Auto),
            other => Err(format!(
                "unknown key store `{other}` (expected keyring, file or auto)"
            )),
        }
    }
}

/// Where a key was found or put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLocation {
    /// In the OS keyring under service `agentmesh`.
    Keyring,
    /// In this file.
    File(PathBuf),
}

impl fmt::Display for KeyLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Keyring => write!(f, "keyring"),
            Self::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// What can go wrong keeping keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// Key names become file names and keyring entries.
    #[error("invalid key name `{0}`: use 1–64 of A–Z a–z 0–9 . _ -, not starting with `.`")]
    BadName(String),
    /// `keygen` without `--force` over an existing key.
    #[error("a key named `{name}` already exists ({location})")]
    Exists {
        /// The key's name.
        name: String,
        /// Where it is.
        location: KeyLocation,
    },
    /// No key of that name anywhere.
    #[error("no key named `{0}`")]
    NotFound(String),
    /// The stored value is not a 32-byte base64url secret.
    #[error("the stored key is corrupt (not a 32-byte base64url secret)")]
    Corrupt,
    /// A key file others can read is refused.
    #[error("key file {0} is readable by other users; run `chmod 600` on it")]
    Permissions(PathBuf),
    /// The keyring was required but did not answer.
    #[error("the OS keyring is unavailable: {0}")]
    KeyringUnavailable(String),
    /// File-system failure.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The file in the keys folder that lists the keyring entries this CLI created.
const KEYRING_NAMES: &str = "keyring-names";

/// The key store: the OS keyring and/or files under `keys_dir`.
#[derive(Debug, Clone)]
pub struct KeyStore {
    kind: KeyStoreKind,
    keys_dir: PathBuf,
}

impl KeyStore {
    /// A store of the given kind whose files live in `keys_dir`.
    ///
    /// Keyring calls block (D-Bus): call them off an async executor.
    pub fn new(kind: KeyStoreKind, keys_dir: impl Into<PathBuf>) -> Self {
        Self {
            kind,
            keys_dir: keys_dir.into(),
        }
    }

    fn file_path(&self, name: &str) -> PathBuf {
        self.keys_dir.join(format!("{name}.key"))
    }

    /// Loads the key called `name`, and says where it was.
    pub fn load(&self, name: &str) -> Result<(Identity, KeyLocation), KeyStoreError> {
        check_name(name)?;
        if self.kind != KeyStoreKind::File {
            match keyring::get(name) {
                Ok(Some(secret)) => {
                    return Ok((Identity::from_secret_b64(&secret)?, KeyLocation::Keyring));
                }
                Ok(None) if self.kind == KeyStoreKind::Keyring => {
                    return Err(KeyStoreError::NotFound(name.into()));
                }
                Err(e) if self.kind == KeyStoreKind::Keyring => return Err(e),
                _ => {}
            }
        }
        let path = self.file_path(name);
        match read_key_file(&path)? {
            Some(id) => Ok((id, KeyLocation::File(path))),
            None => Err(KeyStoreError::NotFound(name.into())),
        }
    }

    /// Stores `id` as `name`; refuses to replace an existing key unless `force`.
    pub fn save(
        &self,
        name: &str,
        id: &Identity,
        force: bool,
    ) -> Result<KeyLocation, KeyStoreError> {
        check_name(name)?;
        if !force {
            match self.load(name) {
                Ok((_, location)) => {
                    return Err(KeyStoreError::Exists {
                        name: name.into(),
                        location,
                    });
                }
                Err(KeyStoreError::NotFound(_)) => {}
                Err(KeyStoreError::KeyringUnavailable(_)) if self.kind == KeyStoreKind::Auto => {}
                Err(e) => return Err(e),
            }
        }
        if self.kind != KeyStoreKind::File {
            match keyring::set(name, &id.secret_b64()) {
                Ok(()) => {
                    self.remember_keyring_name(name);
                    return Ok(KeyLocation::Keyring);
                }
                Err(e) if self.kind == KeyStoreKind::Keyring => return Err(e),
                Err(e) => tracing::debug!("keyring unavailable, using the file store: {e}"),
            }
        }
        let path = self.file_path(name);
        write_key_file(&self.keys_dir, &path, &id.secret_b64())?;
        Ok(KeyLocation::File(path))
    }

    /// The names of this user's keys: the key files, and the keyring entries this CLI created
    /// (a keyring cannot be listed portably, so their names are remembered in
    /// `<keys dir>/keyring-names`), sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.keys_dir)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".key").map(str::to_string)
            })
            .chain(
                std::fs::read_to_string(self.keys_dir.join(KEYRING_NAMES))
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_string),
            )
            .filter(|n| check_name(n).is_ok())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Adds `name` to the list of keyring entries (best effort: a key is usable without it).
    fn remember_keyring_name(&self, name: &str) {
        let path = self.keys_dir.join(KEYRING_NAMES);
        let mut names = std::fs::read_to_string(&path).unwrap_or_default();
        if names.lines().any(|n| n == name) {
            return;
        }
        names.push_str(name);
        names.push('\n');
        if let Err(e) =
            std::fs::create_dir_all(&self.keys_dir).and_then(|()| std::fs::write(&path, names))
        {
            tracing::debug!(error = %e, "cannot remember the keyring entry's name");
        }
    }

    /// Loads the node's own key from `path`, creating it on first start.
    ///
    /// Node keys always live in files beside the node's data: a server has no desktop keyring.
    pub fn load_or_create_file(path: &Path) -> Result<(Identity, bool), KeyStoreError> {
        if let Some(id) = read_key_file(path)? {
            return Ok((id, false));
        }
        let id = Identity::generate();
        let dir = path.parent().unwrap_or(Path::new("."));
        write_key_file(dir, path, &id.secret_b64())?;
        Ok((id, true))
    }
}

fn check_name(name: &str) -> Result<(), KeyStoreError> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(KeyStoreError::BadName(name.into()))
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeyStoreError {
    let path = path.to_path_buf();
    move |source| KeyStoreError::Io {
        action,
        path,
        source,
    }
}

fn read_key_file(path: &Path) -> Result<Option<Identity>, KeyStoreError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("cannot read", path)(e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(path)
            .map_err(io_err("cannot stat", path))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(KeyStoreError::Permissions(path.to_path_buf()));
        }
    }
    Identity::from_secret_b64(&text).map(Some)
}

fn write_key_file(dir: &Path, path: &Path, secret: &str) -> Result<(), KeyStoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_err("cannot create", dir))?;
    let tmp = path.with_extension(format!("key.tmp{}", std::process::id()));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let _ = fs::remove_file(&tmp);
    let mut file = opts.open(&tmp).map_err(io_err("cannot create", &tmp))?;
    let written = file
        .write_all(format!("{secret}\n").as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("cannot write", &tmp)(e));
    }
    fs::rename(&tmp, path).map_err(io_err("cannot rename into", path))?;
    // Make the rename itself durable.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Without the `node` feature (the protocol library) there is no OS keyring: `auto` uses files.
#[cfg(not(feature = "node"))]
mod keyring {
    use super::KeyStoreError;

    fn unavailable() -> KeyStoreError {
        KeyStoreError::KeyringUnavailable("built without the OS keyring (feature `node`)".into())
    }

    pub(super) fn get(_name: &str) -> Result<Option<String>, KeyStoreError> {
        Err(unavailable())
    }

    pub(super) fn set(_name: &str, _secret: &str) -> Result<(), KeyStoreError> {
        Err(unavailable())
    }
}

/// The OS keyring through `keyring-core`. On Linux the store is Secret Service over D-Bus (pure
/// Rust `zbus`); it fails fast (milliseconds) where there is no bus or no secret service.
#[cfg(feature = "node")]
mod keyring {
    use super::{KEYRING_SERVICE, KeyStoreError};
    use keyring_core::{Entry, Error};

    fn entry(name: &str) -> Result<Entry, KeyStoreError> {
        ensure_store()?;
        Entry::new(KEYRING_SERVICE, name).map_err(unavailable)
    }

    fn unavailable(e: Error) -> KeyStoreError {
        KeyStoreError::KeyringUnavailable(e.to_string())
    }

    #[cfg(target_os = "linux")]
    fn ensure_store() -> Result<(), KeyStoreError> {
        use std::sync::OnceLock;
        static STORE: OnceLock<Result<(), String>> = OnceLock::new();
        STORE
            .get_or_init(|| {
                let store =
                    zbus_secret_service_keyring_store::Store::new().map_err(|e| e.to_string())?;
                keyring_core::set_default_store(store);
                Ok(())
            })
            .clone()
            .map_err(KeyStoreError::KeyringUnavailable)
    }

    #[cfg(not(target_os = "linux"))]
    fn ensure_store() -> Result<(), KeyStoreError> {
        Err(KeyStoreError::KeyringUnavailable(
            "no keyring store is built for this platform".into(),
        ))
    }

    pub(super) fn get(name: &str) -> Result<Option<String>, KeyStoreError> {
        match entry(name)?.get_password() {
            Ok(s) => Ok(Some(s)),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub(super) fn set(name: &str, secret: &str) -> Result<(), KeyStoreError> {
        entry(name)?.set_password(secret).map_err(unavailable)
    }
}

#[cfg(test)]
mod tests;
