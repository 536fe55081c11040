"""Lower-case letters: the presets give the published tokenizers' ids (issue 13, item 6).

BarcodeBERT, CLIBD and BarcodeMamba look k-mers (or letters) up as they are, so a k-mer with
a lower-case letter is their unknown token. The presets do the same; ``uppercase=True`` is
the explicit option that counts lower case as upper case.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bioscan_h5.tokenizers import (
    CharTokenizer,
    KmerTokenizer,
    Tokenizer,
    barcodebert_tokenizer,
    barcodemamba_tokenizer,
    clibd_tokenizer,
    get_tokenizer,
)


def _published_kmers(seq: str, k: int, specials: list[str], unknown: str) -> list[int]:
    """Dict lookup of each k-mer of the N-padded sequence, as BarcodeBERT / CLIBD publish it."""
    vocab = {s: i for i, s in enumerate(specials)}
    for kmer in itertools.product("ACGT", repeat=k):
        vocab["".join(kmer)] = len(vocab)
    x = seq[:660] + "N" * max(0, 660 - len(seq))
    return [vocab.get(x[i : i + k], vocab[unknown]) for i in range(0, 660 - k + 1, k)]


MIXED = "ACGTacgtACGTAcGtTTTTtttt" * 3 + "ACGTN"


def test_barcodebert_lower_case_kmers_are_unk() -> None:
    want = _published_kmers(MIXED, 4, ["[MASK]", "[UNK]"], "[UNK]")
    assert barcodebert_tokenizer()(MIXED).tolist() == want
    assert get_tokenizer("barcodebert")("acgt").tolist()[0] == 1  # [UNK]


def test_clibd_lower_case_kmers_are_unk() -> None:
    want = [0, *_published_kmers(MIXED, 5, ["<MASK>", "<CLS>", "<UNK>"], "<UNK>")]
    assert clibd_tokenizer()(MIXED).tolist() == want


def test_barcodemamba_lower_case_letters_are_unk() -> None:
    ids = barcodemamba_tokenizer()("ACgt").tolist()
    assert ids[-4:] == [3, 4, 2, 2]


def test_uppercase_is_the_explicit_option() -> None:
    assert (
        barcodebert_tokenizer(uppercase=True)(MIXED).tolist()
        == barcodebert_tokenizer()(MIXED.upper()).tolist()
    )
    assert clibd_tokenizer(uppercase=True)("acgta").tolist()[1] == clibd_tokenizer()("ACGTA").tolist()[1]
    assert barcodemamba_tokenizer(uppercase=True)("ACgt").tolist()[-4:] == [3, 4, 5, 6]
    assert KmerTokenizer(4, uppercase=True)("acgt").tolist()[0] == 2 + 27
    assert CharTokenizer(uppercase=True)("acgtn").tolist()[:5] == [1, 2, 3, 4, 5]
    assert barcodebert_tokenizer(uppercase=True) != barcodebert_tokenizer()
    assert "uppercase=True" in repr(barcodebert_tokenizer(uppercase=True))


def test_configs_round_trip_and_older_configs_upper_case() -> None:
    for tok in (barcodebert_tokenizer(), barcodebert_tokenizer(uppercase=True), CharTokenizer()):
        assert Tokenizer.from_config(tok.config()) == tok
    # Token arrays stored by earlier versions were made by tokenizers that upper-cased: their
    # config (without the setting) must not pass for the case-sensitive preset.
    old = barcodebert_tokenizer().config()
    del old["uppercase"]
    again = Tokenizer.from_config(old)
    assert again.uppercase and again != barcodebert_tokenizer()


@pytest.mark.parametrize("name", ["barcodebert", "clibd", "barcodemamba"])
def test_stored_codes_path_agrees(name: str) -> None:
    """The codes path (what datasets use) follows the same rule as the string path."""
    tok = get_tokenizer(name)
    codes = np.frombuffer(MIXED.encode(), dtype=np.uint8)
    assert tok.encode_codes(codes, len(MIXED)).tolist() == tok(MIXED).tolist()
