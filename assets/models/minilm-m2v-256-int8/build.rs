//! Packs the model's two large files with zstd (level 19) into `OUT_DIR` when the crate is
//! built: the binary carries 5.3 MB of model instead of 8.0 MB, and `lib.rs` unpacks them when
//! the node loads the model. The committed files stay as `reproduce.sh` makes them, byte for
//! byte; only the copy inside the binary is packed. It also hashes the raw files: the model's
//! ID, known without unpacking anything.

use std::path::PathBuf;

fn main() {
    use sha2::Digest as _;
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // The model's ID is a hash of its raw files (weights, vocabulary, config, in that order):
    // computed here so a node knows it without unpacking the model.
    let mut id = sha2::Sha256::new();
    for name in ["model.safetensors", "tokenizer.json"] {
        println!("cargo:rerun-if-changed={name}");
        let raw = std::fs::read(name).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
        id.update(&raw);
        let packed = zstd::bulk::compress(&raw, 19)
            .unwrap_or_else(|e| panic!("cannot compress {name}: {e}"));
        let path = out.join(format!("{name}.zst"));
        std::fs::write(&path, packed)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
    println!("cargo:rerun-if-changed=config.json");
    id.update(std::fs::read("config.json").expect("config.json"));
    let hex: String = id.finalize().iter().map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=AGENTMESH_MODEL_SHA256={hex}");
}
