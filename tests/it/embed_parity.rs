//! The built-in model agrees with the Python reference implementation (model2vec 0.10.0):
//! token IDs exactly, vectors to 1e-4. The fixture is made by tests/data/make_embed_parity.py.

use agentmesh::discovery::{Embedder as _, StaticEmbedder};
use serde_json::Value;

fn fixture() -> Value {
    super::discovery_eval::load("embed_parity.json")
}

#[test]
fn token_ids_match_the_reference() {
    let f = fixture();
    let tok = tokenizers::Tokenizer::from_bytes(agentmesh_model_minilm::tokenizer_json())
        .expect("tokenizer.json loads");
    let median = f["median_token_length"].as_u64().expect("median") as usize;
    let max_len = f["max_length"].as_u64().expect("max_length") as usize;
    let unk = f["unk_token_id"].as_u64().expect("unk") as u32;
    for case in f["cases"].as_array().expect("cases") {
        let text = case["text"].as_str().expect("text");
        // model2vec: cut to max_length × median token length characters, tokenize without
        // special tokens (the tokenizer truncates to max_length), then drop [UNK].
        let cut: String = text.chars().take(max_len * median).collect();
        let enc = tok.encode(cut.as_str(), false).expect("encode");
        let ids: Vec<u32> = enc
            .get_ids()
            .iter()
            .copied()
            .filter(|i| *i != unk)
            .collect();
        let want: Vec<u32> = case["token_ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_u64().expect("id") as u32)
            .collect();
        assert_eq!(ids, want, "token ids of {text:?}");
    }
}

#[test]
fn vectors_match_the_reference() {
    let f = fixture();
    let e = StaticEmbedder::builtin();
    assert_eq!(e.dim() as u64, f["dim"].as_u64().expect("dim"));
    for case in f["cases"].as_array().expect("cases") {
        let text = case["text"].as_str().expect("text");
        let got = e.embed(text);
        let want: Vec<f64> = case["vector"]
            .as_array()
            .expect("vector")
            .iter()
            .map(|v| v.as_f64().expect("f"))
            .collect();
        assert_eq!(got.len(), want.len());
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (f64::from(*g) - w).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-4, "{text:?}: max |Δ| = {worst}");
    }
}

/// `--embedder minilm`'s encoder (candle) agrees with an independent numpy forward pass
/// (tests/data/make_minilm_parity.py) to 1e-4 per component, one text at a time and in one
/// padded batch (where the attention mask must hide the padding); the long case is cut at the
/// folder's 256 tokens.
#[test]
fn minilm_matches_the_numpy_reference() {
    let Some(dir) = super::discovery_eval::minilm_dir() else {
        return;
    };
    let enc = agentmesh::discovery::TransformerEmbedder::from_dir(&dir).expect("folder loads");
    let f = super::discovery_eval::load("minilm_parity.json");
    assert_eq!(enc.dim() as u64, f["dim"].as_u64().expect("dim"));
    let cases = f["cases"].as_array().expect("cases");
    let texts: Vec<&str> = cases
        .iter()
        .map(|c| c["text"].as_str().expect("text"))
        .collect();
    let batch = enc.embed_batch(&texts).expect("batch");
    for (case, batched) in cases.iter().zip(&batch) {
        let want: Vec<f32> = case["vector"]
            .as_array()
            .expect("vector")
            .iter()
            .map(|x| x.as_f64().expect("number") as f32)
            .collect();
        let single = enc.embed(case["text"].as_str().expect("text"));
        for (got, how) in [(&single, "alone"), (batched, "batched")] {
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-4,
                "{how}: {:?}… differs by {worst}",
                &case["text"]
                    .as_str()
                    .expect("text")
                    .chars()
                    .take(30)
                    .collect::<String>()
            );
        }
    }
}
