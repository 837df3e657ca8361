#!/bin/sh
# Install agentmesh: the binary (cargo install), shell completions and man pages.
#
#   sh install.sh                  # into $PREFIX (default ~/.local)
#   sh install.sh --prefix /usr/local
#   sh install.sh --no-build       # completions and man pages only
#   sh install.sh --uninstall      # remove everything this script installs
#
# Idempotent: running it again replaces the same files.
set -eu

PREFIX=${PREFIX:-"$HOME/.local"}
BUILD=1
UNINSTALL=0

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix)
            [ $# -ge 2 ] || { echo "error: --prefix needs a directory" >&2; exit 2; }
            PREFIX=$2
            shift 2
            ;;
        --prefix=*) PREFIX=${1#--prefix=}; shift ;;
        --no-build) BUILD=0; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done

SRC=$(cd "$(dirname "$0")" && pwd)
BIN_DIR="$PREFIX/bin"
BASH_DIR="$PREFIX/share/bash-completion/completions"
ZSH_DIR="$PREFIX/share/zsh/site-functions"
FISH_DIR="$PREFIX/share/fish/vendor_completions.d"
ELVISH_DIR="$PREFIX/share/elvish/lib"
MAN_DIR="$PREFIX/share/man/man1"

# Each line: source file (relative to the repo) and destination path.
files() {
    echo "completions/agentmesh.bash $BASH_DIR/agentmesh"
    echo "completions/_agentmesh $ZSH_DIR/_agentmesh"
    echo "completions/agentmesh.fish $FISH_DIR/agentmesh.fish"
    echo "completions/agentmesh.elv $ELVISH_DIR/agentmesh.elv"
    for page in "$SRC"/man/*.1; do
        name=$(basename "$page")
        echo "man/$name $MAN_DIR/$name"
    done
}

if [ "$UNINSTALL" -eq 1 ]; then
    files | while read -r _src dest; do
        if [ -e "$dest" ]; then
            rm -f "$dest"
            echo "removed $dest"
        fi
    done
    if [ -e "$BIN_DIR/agentmesh" ]; then
        if command -v cargo >/dev/null 2>&1; then
            cargo uninstall --root "$PREFIX" agentmesh >/dev/null 2>&1 || rm -f "$BIN_DIR/agentmesh"
        else
            rm -f "$BIN_DIR/agentmesh"
        fi
        echo "removed $BIN_DIR/agentmesh"
    fi
    exit 0
fi

if [ "$BUILD" -eq 1 ]; then
    command -v cargo >/dev/null 2>&1 || {
        echo "error: cargo not found; install Rust from https://rustup.rs" >&2
        exit 2
    }
    echo "building and installing the binary into $BIN_DIR (cargo install --locked)…"
    cargo install --locked --quiet --force --path "$SRC" --root "$PREFIX"
    echo "installed $BIN_DIR/agentmesh"
fi

files | while read -r src dest; do
    mkdir -p "$(dirname "$dest")"
    cp "$SRC/$src" "$dest"
    chmod 0644 "$dest"
    echo "installed $dest"
done

case ":${PATH}:" in
    *":$BIN_DIR:"*) ;;
    *) echo "note: $BIN_DIR is not on your PATH; add it to use agentmesh" ;;
esac
case ":${MANPATH:-}:" in
    *":$PREFIX/share/man:"*|"::") ;;
    *) echo "note: add $PREFIX/share/man to MANPATH for 'man agentmesh'" ;;
esac
