"""Signed notes, checkpoints and cosignatures: the C2SP examples and Go's published vectors
(golang.org/x/mod/sumdb/note, note_test.go, BSD licence), so that Go's tools and ours read
and write the same notes byte for byte."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from thidua.ledger import note
from thidua.ledger.merkle import EMPTY_ROOT
from thidua.ledger.note import (
    COSIGNATURE_V1,
    ED25519,
    Checkpoint,
    InvalidSignature,
    NoteError,
    Signature,
    Signer,
    UnverifiedNote,
    Verifier,
    cosign,
    cosignature_message,
    generate_key,
    open_note,
    parse_signature_line,
    parse_signer,
    parse_verifier,
    sign_note,
    verify_cosignature,
)

# Go's vectors.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"— EnochRoot {ENOCH_B64}\n"
PETER = Signature("PeterNeumann", 0xC74F20A3, PETER_B64)
ENOCH = Signature("EnochRoot", 0xAF0CFE78, ENOCH_B64)


def _peter() -> Verifier:
    return parse_verifier(PETER_VKEY)


def _enoch() -> Verifier:
    return parse_verifier(ENOCH_VKEY)


def test_go_keys_parse_and_the_signer_derives_the_verifier() -> None:
    signer = parse_signer(PETER_SKEY)
    assert signer.verifier() == _peter()
    assert (signer.name, signer.kind, _peter().key_id) == ("PeterNeumann", ED25519, 0xC74F20A3)
    assert signer.text() == PETER_SKEY
    assert _peter().text() == PETER_VKEY
    assert "seed" not in repr(signer)


def test_our_signature_is_gos_byte_for_byte() -> None:
    assert sign_note(TEXT, parse_signer(PETER_SKEY)) == TEXT + "\n" + PETER_SIG


def test_gos_signed_note_opens() -> None:
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [_peter()])
    assert opened.text == TEXT
    assert opened.verified == (PETER,)
    assert opened.unverified == (ENOCH,)
    both = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [_peter(), _enoch()])
    assert both.verified == (PETER, ENOCH)
    assert both.unverified == ()


def test_a_note_with_no_known_signature_is_refused_with_what_it_carried() -> None:
    with pytest.raises(UnverifiedNote) as refused:
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])
    assert refused.value.unverified == (PETER, ENOCH)


def test_the_signed_note_specs_example_opens() -> None:
    vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
    note = (
        "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXp"
        "pzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
    )
    assert open_note(note, [parse_verifier(vkey)]).text == "This is an example message.\n"


def _manglings(key: str) -> list[str]:
    """Go's test: every proper substring, and every byte moved up by one."""
    cuts = [key[i:j] for i in range(len(key)) for j in range(i + 1, len(key) + 1)]
    bumped = [key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))]
    return [k for k in cuts + bumped if k != key]


def test_every_mangled_verifier_key_is_refused() -> None:
    for mangled in _manglings(PETER_VKEY):
        with pytest.raises(NoteError):
            parse_verifier(mangled)
    for bad in [
        # Go's: a key of the wrong length, and an unknown type, each with its adjusted ID.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not lowercase
    ]:
        with pytest.raises(NoteError):
            parse_verifier(bad)


def test_every_mangled_signer_key_is_refused() -> None:
    for mangled in _manglings(PETER_SKEY):
        with pytest.raises(NoteError):
            parse_signer(mangled)


@pytest.mark.parametrize("name", ["", "a+b", "bad name", "tab\tname", "ideographic\u3000space"])
def test_key_names_without_spaces_or_plus(name: str) -> None:
    with pytest.raises(NoteError):
        Verifier(name, ED25519, bytes(32))
    with pytest.raises(NoteError):
        Signer(name, ED25519, bytes(32))
    with pytest.raises(NoteError):
        generate_key(name)


def test_generated_keys_sign_and_verify() -> None:
    skey, vkey = generate_key("thidua.example.vn")
    signer, verifier = parse_signer(skey), parse_verifier(vkey)
    assert signer.verifier() == verifier
    note = sign_note("Cụm thi đua số XII\nđã ký\n", signer)
    assert open_note(note, [verifier]).verified[0].name == "thidua.example.vn"
    other = parse_verifier(generate_key("thidua.example.vn")[1])
    with pytest.raises(UnverifiedNote):
        open_note(note, [other])  # same name, another key ID: an unknown key


def test_the_same_key_as_a_witness_has_another_id() -> None:
    skey, _ = generate_key("w.example")
    log = parse_signer(skey)
    witness = Signer(log.name, COSIGNATURE_V1, log.seed)
    assert witness.verifier().key_id != log.verifier().key_id
    assert parse_signer(witness.text()) == witness
    assert parse_verifier(witness.verifier().text()) == witness.verifier()


def test_gos_duplicated_and_unknown_signatures() -> None:
    peter_forged = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(InvalidSignature):
        open_note(TEXT + "\n" + peter_forged, [_peter()])
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    opened = open_note(note, [_peter()])
    assert opened.verified == (PETER,)
    assert opened.unverified == (ENOCH, parse_signature_line(enoch_abcd[:-1]))


def test_a_known_key_cannot_hide_a_bad_signature_behind_a_good_one() -> None:
    forged = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(InvalidSignature):
        open_note(TEXT + "\n" + PETER_SIG + forged, [_peter()])


@pytest.mark.parametrize(
    "message",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "— Bad Name " + PETER_B64 + "\n",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG + "\n",
        TEXT + "\n" + "— PeterNeumann\n",
        TEXT + "\n" + "— PeterNeumann \n",
        TEXT + "\n" + "— PeterNeumann AAAAAA==\n",  # a key ID and no signature
        TEXT + "\n" + "— PeterNeumann not*base64\n",
        TEXT + "\n" + "- PeterNeumann " + PETER_B64 + "\n",  # a hyphen, not an em dash
        "tab\there\n\n" + PETER_SIG,
        "carriage return\r\n\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_malformed_notes_are_refused(message: str) -> None:
    for known in ([_peter()], []):
        with pytest.raises(NoteError, match="malformed") as refused:
            open_note(message, known)
        assert type(refused.value) is NoteError


def test_notes_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        open_note(b"\xff" + TEXT.encode() + b"\n" + PETER_SIG.encode(), [_peter()])


def test_a_hundred_signatures_are_read() -> None:
    assert open_note(TEXT + "\n" + PETER_SIG * 100, [_peter()]).verified == (PETER,)


def test_a_key_listed_twice_is_one_key() -> None:
    assert open_note(TEXT + "\n" + PETER_SIG, [_enoch(), _peter(), _enoch()]).verified == (PETER,)


def test_two_known_keys_with_one_name_and_id_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    peter = _peter()
    monkeypatch.setattr(note, "key_id", lambda *_: 0xC74F20A3)  # a key ID collision, cheaply
    twin = Verifier("PeterNeumann", ED25519, bytes(32))
    with pytest.raises(NoteError, match="two known keys"):
        open_note(TEXT + "\n" + PETER_SIG, [peter, twin])


@pytest.mark.parametrize("text", ["no newline", "tab\there\n", "nul\x00\n"])
def test_malformed_texts_are_not_signed(text: str) -> None:
    with pytest.raises(NoteError):
        sign_note(text, parse_signer(PETER_SKEY))


def test_a_note_needs_a_signer() -> None:
    with pytest.raises(NoteError):
        sign_note(TEXT)


ROOT = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def test_the_checkpoint_specs_example() -> None:
    checkpoint = Checkpoint.parse(SPEC_CHECKPOINT)
    assert checkpoint == Checkpoint("example.com/behind-the-sofa", 20852163, ROOT)
    assert checkpoint.body() == SPEC_CHECKPOINT


def test_checkpoints_round_trip_with_extension_lines() -> None:
    checkpoint = Checkpoint("thidua.example.vn/cum-xii", 0, EMPTY_ROOT, ("ext one", "ext two"))
    assert Checkpoint.parse(checkpoint.body()) == checkpoint


@pytest.mark.parametrize(
    "text",
    [
        "o\n1\n",
        SPEC_CHECKPOINT[:-1],
        "\n1\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n01\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n+1\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n 1\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n1_0\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n٣\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n-1\n" + base64.b64encode(ROOT).decode() + "\n",
        f"o\n{2**63}\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n1\n" + base64.b64encode(ROOT[:31]).decode() + "\n",
        "o\n1\nnot base64\n",
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",  # stray bits
        "o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n",  # an empty extension line
        "o\r\n1\n" + base64.b64encode(ROOT).decode() + "\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


def test_checkpoints_are_built_valid() -> None:
    for bad in [("", 1, ROOT), ("o", -1, ROOT), ("o", 1, ROOT[:31]), ("a\nb", 1, ROOT)]:
        with pytest.raises(NoteError):
            Checkpoint(*bad)
    with pytest.raises(NoteError):
        Checkpoint("o", 1, ROOT, ("",))


def _witness() -> Signer:
    return parse_signer(generate_key("witness.example.vn/so-noi-vu", COSIGNATURE_V1)[0])


def test_a_cosignature_round_trip_signs_the_specs_message() -> None:
    witness = _witness()
    checkpoint = Checkpoint.parse(SPEC_CHECKPOINT)
    line = cosign(checkpoint, witness, 1679315147)
    assert line.startswith("— witness.example.vn/so-noi-vu ")
    assert line.endswith("\n")
    assert verify_cosignature(checkpoint, line, witness.verifier()) == 1679315147
    raw = parse_signature_line(line[:-1]).raw()
    assert len(raw) == 72
    assert raw[:8] == (1679315147).to_bytes(8, "big")
    message = f"cosignature/v1\ntime 1679315147\n{SPEC_CHECKPOINT}".encode()
    assert cosignature_message(SPEC_CHECKPOINT.encode(), 1679315147) == message
    Ed25519PublicKey.from_public_bytes(witness.verifier().public_key).verify(raw[8:], message)
    key_id = hashlib.sha256(
        b"witness.example.vn/so-noi-vu\n\x04" + witness.verifier().public_key
    ).digest()[:4]
    assert base64.b64decode(line.split(" ")[2])[:4] == key_id


def test_the_specs_cosignature_line_has_the_layout_we_read() -> None:
    line = (
        "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
        "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
    )
    raw = parse_signature_line(line).raw()
    assert len(raw) == 72
    assert int.from_bytes(raw[:8], "big") == 1679315147


def test_a_cosignature_opens_with_the_log_signature_as_one_note() -> None:
    log_skey, log_vkey = generate_key("thidua.example.vn")
    checkpoint = Checkpoint("thidua.example.vn/cum-xii", 3, ROOT)
    signed = sign_note(checkpoint.body(), parse_signer(log_skey))
    witness = _witness()
    opened = open_note(signed + cosign(checkpoint, witness), [parse_verifier(log_vkey)])
    assert [s.name for s in opened.verified] == ["thidua.example.vn"]
    assert [s.name for s in opened.unverified] == [witness.name]
    both = open_note(
        signed + cosign(checkpoint, witness), [parse_verifier(log_vkey), witness.verifier()]
    )
    assert [s.name for s in both.verified] == ["thidua.example.vn", witness.name]


def test_a_tampered_cosignature_is_refused() -> None:
    witness = _witness()
    checkpoint = Checkpoint.parse(SPEC_CHECKPOINT)
    line = cosign(checkpoint, witness, 1679315147)
    moved = Checkpoint(checkpoint.origin, checkpoint.size + 1, checkpoint.root)
    with pytest.raises(InvalidSignature):
        verify_cosignature(moved, line, witness.verifier())
    raw = base64.b64decode(line.split(" ")[2])
    later = raw[:4] + (1679315148).to_bytes(8, "big") + raw[12:]
    forged = f"— {witness.name} {base64.b64encode(later).decode()}\n"
    with pytest.raises(InvalidSignature):
        verify_cosignature(checkpoint, forged, witness.verifier())
    with pytest.raises(NoteError, match="not a cosignature by"):
        verify_cosignature(checkpoint, line, _witness().verifier())


def test_a_cosignature_needs_witness_keys_and_a_time() -> None:
    log = parse_signer(generate_key("thidua.example.vn")[0])
    checkpoint = Checkpoint.parse(SPEC_CHECKPOINT)
    with pytest.raises(NoteError):
        cosign(checkpoint, log)
    witness = _witness()
    line = cosign(checkpoint, witness, 1)
    with pytest.raises(NoteError):
        verify_cosignature(checkpoint, line, log.verifier())
    with pytest.raises(NoteError, match="time"):
        verify_cosignature(checkpoint, cosign(checkpoint, witness, 0), witness.verifier())
