"""DNA pretraining (issue 22): BarcodeBERT's masking (rate, which ids, equal to its own code for
the same generator), k-mer substitution, MaskTokens as a batch_transform, and the tokenizer's
sequence options against a port of BarcodeBERT's tokenization on the same sequences."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.errors import InvalidArgumentError
from bioscan_h5.tokenizers import (
    CharTokenizer,
    MaskTokens,
    Tokenizer,
    barcodebert_tokenizer,
    barcodemamba_tokenizer,
    mask_tokens,
    substitute_tokens,
)

TOK = barcodebert_tokenizer()


def _batch(n=256, seed=0):
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)
    codes = letters[rng.choice(5, size=(n, 700), p=[0.24, 0.24, 0.24, 0.24, 0.04])]
    lengths = rng.integers(300, 700, n)
    return TOK.encode_batch(codes, lengths)[0]


def barcodebert_masking(sequences, mask_ratio, generator, n_special_tokens=2):
    """BarcodeBERT pretraining.py's masking, as written there (device = the tokens')."""
    special_tokens_mask = sequences > (n_special_tokens - 1)
    masked_input = sequences.clone()
    random_mask = torch.rand(masked_input.shape, generator=generator, device=sequences.device)
    input_maskout = random_mask < mask_ratio
    input_maskout &= special_tokens_mask
    masked_input[input_maskout] = 0
    return masked_input, input_maskout


def test_masking_equals_barcodebert_for_the_same_generator():
    ids = _batch()
    ours = mask_tokens(ids, TOK, 0.5, torch.Generator().manual_seed(3))
    ref = barcodebert_masking(ids, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(ours[0], ref[0]) and torch.equal(ours[1], ref[1])


@pytest.mark.parametrize("rate", [0.15, 0.5, 0.8])
def test_masking_statistics(rate):
    ids = _batch()
    masked, mask = mask_tokens(ids, TOK, rate, torch.Generator().manual_seed(1))
    special = ids < len(TOK.specials)
    assert special.any()
    assert not mask[special].any(), "a special token was masked"
    assert torch.equal(masked[special], ids[special])
    assert (masked[mask] == TOK.token_to_id("[MASK]")).all()
    assert torch.equal(masked[~mask], ids[~mask])
    n = int((~special).sum())
    got = float(mask.sum()) / n
    assert abs(got - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    # per position, across the batch, the rate holds too (no positional bias)
    per_pos = mask[:, :50].float().sum(0) / (~special[:, :50]).float().sum(0)
    assert (per_pos - rate).abs().max() < 6 * np.sqrt(rate * (1 - rate) / 200)


def test_substitution_gives_a_kmer_one_letter_away():
    ids = _batch()
    where = torch.rand(ids.shape, generator=torch.Generator().manual_seed(0)) < 0.3
    out = substitute_tokens(ids, TOK, where, torch.Generator().manual_seed(0))
    changed = where & (ids >= len(TOK.specials))
    assert torch.equal(out[~changed], ids[~changed])
    a, b = ids[changed].tolist(), out[changed].tolist()
    for x, y in zip(a[:2000], b[:2000]):
        kx, ky = TOK.vocab[x], TOK.vocab[y]
        assert sum(p != q for p, q in zip(kx, ky)) == 1
    matrix = torch.zeros(TOK.vocab_size, TOK.vocab_size)
    matrix[:, TOK.token_to_id("AAAA")] = 1.0
    out = substitute_tokens(ids, TOK, where, matrix=matrix)
    aaaa = TOK.token_to_id("AAAA")
    moved = changed & (ids != aaaa)
    assert (out[moved] == aaaa).all()
    assert torch.equal(out[changed & (ids == aaaa)], ids[changed & (ids == aaaa)])  # nothing else to draw


def test_mask_with_substitution_and_other_tokenizers():
    ids = _batch()
    masked, mask = mask_tokens(ids, TOK, 0.5, torch.Generator().manual_seed(2), substitute=0.2)
    mid = TOK.token_to_id("[MASK]")
    sub = mask & (masked != mid)
    frac = float(sub.sum()) / float(mask.sum())
    assert 0.15 < frac < 0.25 and (masked[sub] != ids[sub]).all()
    mamba = barcodemamba_tokenizer()
    m_ids = mamba.encode_batch(
        np.frombuffer(b"ACGTNACGT" * 10, dtype=np.uint8)[None].repeat(4, 0), np.full(4, 90)
    )[0]
    masked, mask = mask_tokens(m_ids, mamba, 0.5)
    assert not mask[m_ids < 3].any() and (masked[mask] == 0).all()
    with pytest.raises(InvalidArgumentError, match=r"has no mask token.*mask_id="):
        mask_tokens(m_ids, CharTokenizer(), 0.5)
    with pytest.raises(InvalidArgumentError, match="rate="):
        mask_tokens(m_ids, mamba, 1.5)


def test_mask_tokens_as_a_batch_transform(sample_root_5m, store_5m):
    ds = BIOSCAN5M(str(sample_root_5m.root), split="train", modality=("dna",), dna_transform=TOK)
    loader = batch_loader(
        ds, batch_size=16, batch_transform=MaskTokens(TOK, 0.5, generator=torch.Generator().manual_seed(0))
    )
    batch = next(iter(loader))
    assert {"masked_dna", "masked_positions"} <= set(batch)
    assert torch.equal(
        batch["masked_dna"][~batch["masked_positions"]], batch["dna"][~batch["masked_positions"]]
    )


# -------------------------------------------------------------- BarcodeBERT's tokenization, ported
def barcodebert_tokens(seq, k=4, max_len=660, offset=0):
    """BarcodeBERT's KmerTokenizer on ``seq.rstrip("N")`` (its BIOSCAN-5M barcodes), [UNK] default."""
    vocab = {"[MASK]": 0, "[UNK]": 1}
    for kmer in itertools.product("ACGT", repeat=k):
        vocab["".join(kmer)] = len(vocab)
    x = seq.rstrip("N")[offset:]
    att = [1] * (max_len // k)
    if len(x) > max_len:
        x = x[:max_len]
    else:
        att[len(x) // k :] = [0] * (len(att) - len(x) // k)
        x = x + "N" * (max_len - len(x))
    return [vocab.get(x[i : i + k], 1) for i in range(0, len(x) - k + 1, k)], att


def test_sequence_options_equal_barcodebert_tokenization():
    rng = np.random.default_rng(5)
    seqs = [
        "".join(rng.choice(list("ACGTN"), size=rng.integers(600, 700))) + "N" * int(rng.integers(0, 30))
        for _ in range(40)
    ]
    seqs += ["ACGTAC" + "N" * 50, "NNNN", "acgtACGTACGTNN", ""]
    codes = np.zeros((len(seqs), 760), dtype=np.uint8)
    for i, s in enumerate(seqs):
        codes[i, : len(s)] = np.frombuffer(s.encode(), dtype=np.uint8)
    lengths = np.array([len(s) for s in seqs])
    tok = TOK.with_options(strip_trailing_n=True, random_offset=True)
    torch.manual_seed(9)
    ids, mask = tok.encode_batch(codes, lengths)
    torch.manual_seed(9)
    offsets = torch.randint(4, (len(seqs),)).tolist()
    assert len(set(offsets)) > 1
    for i, s in enumerate(seqs):
        want, att = barcodebert_tokens(s, offset=offsets[i])
        assert ids[i].tolist() == want, (i, s)
        assert mask[i].tolist() == att, (i, s)
    stripped = TOK.with_options(strip_trailing_n=True)
    assert stripped.encode("ACGTACGTNNNN")[0].tolist() == barcodebert_tokens("ACGTACGTNNNN")[0]


def test_sequence_options_show_and_round_trip():
    tok = TOK.with_options(strip_trailing_n=True, random_offset=True)
    assert "strip_trailing_n" in repr(tok) and "random_offset" in repr(tok)
    assert Tokenizer.from_config(tok.config()) == tok
    assert tok != TOK and Tokenizer.from_config(TOK.config()) == TOK
    assert "strip_trailing_n" not in TOK.config()
