"""Identities, did:key IDs, the verification rule, and the CLI's key files (read and written
both ways with the real CLI)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from pathlib import Path

import nacl.bindings as sodium
import nacl.exceptions
import pytest

from agentmesh import (
    BadKeyNameError,
    CorruptKeyError,
    Identity,
    InvalidAgentIdError,
    KeyExistsError,
    KeyNotFoundError,
    KeyPermissionError,
    agent_id_from_public_key,
    is_agent_id,
    keys_dir,
    public_key_from_agent_id,
    verify_signature,
)
from agentmesh import _ed25519 as ed
from agentmesh.encoding import b64url

from .conftest import run_cli

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")

# The eight points of small order, canonically encoded.
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]
T8 = bytes.fromhex(SMALL_ORDER[4])


def test_generate_and_from_seed() -> None:
    a, b = Identity.generate(), Identity.generate()
    assert a.agent_id != b.agent_id
    assert a.agent_id.startswith("did:key:z6Mk")
    seed = bytes(range(32))
    assert Identity.from_seed(seed) == Identity.from_seed(seed)
    assert Identity.from_seed(seed).public_key == public_key_from_agent_id(
        Identity.from_seed(seed).agent_id
    )
    with pytest.raises(ValueError, match="32 bytes"):
        Identity.from_seed(b"short")


def test_repr_never_shows_the_secret() -> None:
    seed = bytes(range(32))
    me = Identity.from_seed(seed)
    assert repr(me) == f"Identity({me.agent_id!r})"
    assert b64url(seed) not in repr(me) and seed.hex() not in repr(me)


def test_sign_and_verify() -> None:
    me = Identity.generate()
    sig = me.sign(b"hello")
    assert len(sig) == 64
    assert verify_signature(me.agent_id, b"hello", sig)
    assert not verify_signature(me.agent_id, b"hello!", sig)
    assert not verify_signature(Identity.generate().agent_id, b"hello", sig)
    assert not verify_signature(me.agent_id, b"hello", sig[:63])
    with pytest.raises(InvalidAgentIdError):
        verify_signature("did:web:example.com", b"hello", sig)


def _scalar(seed: bytes) -> int:
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return int.from_bytes(h, "little") % ed.L


def _torsion_signature(seed: bytes, msg: bytes) -> bytes:
    """A signature by the key's holder with a torsion component in R: it passes the cofactored
    equation and fails a cofactorless one (docs/protocol.md §2)."""
    me = Identity.from_seed(seed)
    r = int.from_bytes(hashlib.sha256(msg).digest(), "little") % ed.L
    big_r = sodium.crypto_core_ed25519_add(
        sodium.crypto_scalarmult_ed25519_base_noclamp(r.to_bytes(32, "little")), T8
    )
    k = int.from_bytes(hashlib.sha512(big_r + me.public_key + msg).digest(), "little") % ed.L
    s = (r + k * _scalar(seed)) % ed.L
    return big_r + s.to_bytes(32, "little")


def test_the_cofactored_rule_accepts_torsion_in_r_like_the_node() -> None:
    seed, msg = bytes(range(32)), b"torsion"
    me = Identity.from_seed(seed)
    sig = _torsion_signature(seed, msg)
    with pytest.raises(nacl.exceptions.BadSignatureError):
        sodium.crypto_sign_open(sig + msg, me.public_key)  # libsodium is cofactorless
    assert verify_signature(me.agent_id, msg, sig)
    assert not verify_signature(me.agent_id, msg + b"!", sig)


def test_the_rule_refuses_what_the_node_refuses() -> None:
    me = Identity.generate()
    msg = b"m"
    sig = me.sign(msg)
    s = int.from_bytes(sig[32:], "little")
    # S + ℓ: the same equation, but S not canonical.
    assert not verify_signature(me.agent_id, msg, sig[:32] + (s + ed.L).to_bytes(32, "little"))
    # R of small order, R not a point, R with y ≥ p.
    for r in (bytes.fromhex(SMALL_ORDER[0]), bytes([2]) + bytes(31), b"\xff" * 31 + b"\x7f"):
        assert not verify_signature(me.agent_id, msg, r + sig[32:])


def test_ids_round_trip_and_are_checked() -> None:
    me = Identity.generate()
    assert agent_id_from_public_key(me.public_key) == me.agent_id
    assert public_key_from_agent_id(me.agent_id) == me.public_key
    assert is_agent_id(me.agent_id)
    for bad in [
        "",
        "did:key:",
        "did:key:z",
        "did:key:z6Mk0OIl",  # not base58
        "did:key:z" + "2" * 61,  # long junk
        "did:key:z1" + me.agent_id[9:],  # a leading zero byte
        me.agent_id + "1",
        me.agent_id.upper(),
        " " + me.agent_id,
    ]:
        assert not is_agent_id(bad), bad
        with pytest.raises(InvalidAgentIdError) as e:
            public_key_from_agent_id(bad)
        assert e.value.code == "invalid_id"
    with pytest.raises(ValueError):
        agent_id_from_public_key(b"\x01" * 31)


def test_weak_and_non_canonical_keys_are_not_ids() -> None:
    for hexkey in SMALL_ORDER:
        assert not is_agent_id(agent_id_from_public_key(bytes.fromhex(hexkey))), hexkey
    # y = 1 with the sign bit: x = 0 "negative", another spelling of the identity.
    assert not is_agent_id(agent_id_from_public_key(bytes([1]) + bytes(30) + b"\x80"))
    # Not on the curve.
    assert not is_agent_id(agent_id_from_public_key(bytes([2]) + bytes(31)))
    # A key with a torsion component is not weak: it is an ID (as at the node).
    mixed = sodium.crypto_core_ed25519_add(Identity.generate().public_key, T8)
    assert is_agent_id(agent_id_from_public_key(mixed))


def test_save_and_load_the_cli_format(private_home: Path) -> None:
    seed = os.urandom(32)
    me = Identity.from_seed(seed)
    path = me.save()
    assert path == private_home / "keys" / "default.key"
    assert path.read_text() == b64url(seed) + "\n"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert Identity.load() == me
    assert Identity.load("default", home=private_home) == me
    assert not list(path.parent.glob("*.tmp*")), "no temporary file is left behind"


def test_save_refuses_to_replace_a_key(private_home: Path) -> None:
    first, second = Identity.generate(), Identity.generate()
    first.save("work")
    with pytest.raises(KeyExistsError) as e:
        second.save("work")
    assert isinstance(e.value, FileExistsError)
    assert Identity.load("work") == first
    second.save("work", overwrite=True)
    assert Identity.load("work") == second


def test_load_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(KeyNotFoundError) as e:
        Identity.load("nobody", home=tmp_path)
    assert isinstance(e.value, FileNotFoundError)
    assert "agentmesh keygen --name nobody" in str(e.value)
    assert str(tmp_path / "keys" / "nobody.key") in str(e.value)


@posix_only
def test_a_key_file_others_can_read_is_refused(private_home: Path) -> None:
    path = Identity.generate().save()
    for mode in (0o640, 0o604, 0o620, 0o644):
        path.chmod(mode)
        with pytest.raises(KeyPermissionError, match="chmod 600") as e:
            Identity.load()
        assert isinstance(e.value, PermissionError)
    path.chmod(0o400)
    Identity.load()


@pytest.mark.parametrize(
    "content",
    [
        "",
        "not base64!",
        b64url(bytes(31)),
        b64url(bytes(33)),
        b64url(bytes(32)) + "=",  # padded
        "AAAA+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # standard alphabet
    ],
)
def test_a_corrupt_key_file_is_refused(private_home: Path, content: str) -> None:
    d = private_home / "keys"
    d.mkdir(mode=0o700)
    path = d / "default.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(CorruptKeyError):
        Identity.load()


def test_surrounding_whitespace_is_read_as_the_cli_reads_it(private_home: Path) -> None:
    me = Identity.from_seed(bytes(range(32)))
    d = private_home / "keys"
    d.mkdir(mode=0o700)
    path = d / "default.key"
    path.write_text("  " + b64url(bytes(range(32))) + "\r\n\n")
    path.chmod(0o600)
    assert Identity.load() == me


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../x", "x" * 65, "é", "a b"])
def test_key_names_are_checked(name: str) -> None:
    with pytest.raises(BadKeyNameError):
        Identity.load(name)
    with pytest.raises(BadKeyNameError):
        Identity.generate().save(name)


def test_keys_dir_is_resolved_as_the_cli_resolves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert keys_dir(tmp_path) == tmp_path / "keys"
    monkeypatch.setenv("AGENTMESH_HOME", str(tmp_path / "h"))
    assert keys_dir() == tmp_path / "h" / "keys"
    monkeypatch.delenv("AGENTMESH_HOME")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        assert keys_dir() == tmp_path / "xdg" / "agentmesh" / "keys"
        monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
        monkeypatch.setenv("HOME", str(tmp_path / "user"))
        assert keys_dir() == tmp_path / "user" / ".local" / "share" / "agentmesh" / "keys"
        monkeypatch.setenv("AGENTMESH_HOME", "")  # empty: unset
        assert keys_dir() == tmp_path / "user" / ".local" / "share" / "agentmesh" / "keys"


def test_the_sdk_reads_a_key_the_cli_made(tmp_path: Path) -> None:
    home = tmp_path / "cli"
    out = run_cli(home, "keygen", "--name", "made-by-cli", "--json")
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert made["store"] == "file"
    assert Identity.load("made-by-cli", home=home).agent_id == made["agent_id"]


def test_the_cli_reads_a_key_the_sdk_made(tmp_path: Path) -> None:
    home = tmp_path / "sdk"
    me = Identity.generate()
    me.save("made-by-sdk", home=home)
    out = run_cli(home, "keygen", "--show", "--name", "made-by-sdk")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == me.agent_id


@posix_only
def test_the_cli_and_the_sdk_both_refuse_a_readable_key(tmp_path: Path) -> None:
    home = tmp_path / "both"
    path = Identity.generate().save(home=home)
    path.chmod(0o644)
    with pytest.raises(KeyPermissionError):
        Identity.load(home=home)
    out = run_cli(home, "keygen", "--show")
    assert out.returncode != 0
    assert "readable by other users" in out.stderr
