"""Tests of :mod:`bioscan_h5.tokenizers`: kernels vs their Python twins, published ids, round trips."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bioscan_h5 import tokenizers as tk
from bioscan_h5.tokenizers import (
    PEER_CHAR_VOCAB,
    CharTokenizer,
    KmerTokenizer,
    Tokenizer,
    barcodebert_tokenizer,
    barcodemamba_tokenizer,
    clibd_tokenizer,
    get_tokenizer,
    reverse_complement,
    reverse_complement_codes,
)
from bioscan_h5.tokenizers.kernels import COMPLEMENT_TABLE, revcomp_kernel, tokenize_kernel

#: Letters a stored barcode may hold (bioscan_h5.barcode_codes.ALLOWED_LETTERS), both cases.
LETTERS = "ACGTNRYKMSWBDHVU-" + "acgtnrykmswbdhvu"

#: Hand-picked edge cases: empty, all N, interior N, trailing N, IUPAC, gap, lower case, long.
EDGE_CASES = [
    "",
    "N",
    "NNNNNNNNNNNN",
    "ACGTNACGT",
    "ACGTACGTNNNN",
    "ACGTRYKMSWBDHVU-",
    "----",
    "acgtacgtAC",
    "A",
    "ACGTA" * 133,  # 665 letters: longer than the pad length
    "ACGT" * 165,  # exactly 660
    "ACGT" * 165 + "R",  # the 661st letter is dropped by truncation
    "N" * 600 + "ACGT" * 20,
]

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def presets() -> list[Tokenizer]:
    return [barcodebert_tokenizer(), clibd_tokenizer(), barcodemamba_tokenizer(), CharTokenizer()]


def customs() -> list[Tokenizer]:
    """Small non-preset configurations that reach every branch of the kernel."""
    return [
        KmerTokenizer(3, stride=2, max_len=11),
        KmerTokenizer(3, stride=4, max_len=13, padding_side="left", prefix="[MASK]"),
        KmerTokenizer(2, max_len=9, alphabet="ACGTN", name="kmer2n"),
        KmerTokenizer(4, stride=1, max_len=10, specials=("[UNK]",), unknown="[UNK]"),
        CharTokenizer(max_len=10),
        CharTokenizer(
            "ACGT", 12, specials=("[PAD]", "[UNK]"), pad="[PAD]", unknown="[UNK]", padding_side="left"
        ),
        CharTokenizer("ACGT-", 7, specials=("[UNK]",), pad="-", unknown="[UNK]"),
        # the explicit option: lower case counts as upper case
        KmerTokenizer(4, max_len=14, uppercase=True, name="kmer4up"),
        CharTokenizer(max_len=9, uppercase=True, name="charup"),
    ]


ALL = presets() + customs()
IDS = [t.name + "-" + str(i) for i, t in enumerate(ALL)]


def to_batch(seqs: list[str | None], width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Barcodes as a store holds them: 0-padded uint8 codes and lengths (-1 = missing)."""
    longest = max((len(s) for s in seqs if s is not None), default=0)
    w = max(longest if width is None else width, 1)
    codes = np.zeros((len(seqs), w), dtype=np.uint8)
    lengths = np.full(len(seqs), -1, dtype=np.int32)
    for i, s in enumerate(seqs):
        if s is None:
            continue
        raw = np.frombuffer(s.encode("ascii"), dtype=np.uint8)
        codes[i, : len(raw)] = raw
        lengths[i] = len(raw)
    return codes, lengths


@st.composite
def long_sequences(draw) -> str:
    """600-720 letters of ACGT, then optional N runs, IUPAC letters and lower case."""
    n = draw(st.integers(600, 720))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    s = np.array(list("ACGT"))[rng.integers(0, 4, n)]
    if draw(st.booleans()):  # an interior N run
        a = int(rng.integers(0, n))
        s[a : a + int(rng.integers(1, 30))] = "N"
    if draw(st.booleans()):  # a trailing N run
        s[n - int(rng.integers(1, 60)) :] = "N"
    if draw(st.booleans()):  # scattered IUPAC letters and gaps
        where = rng.integers(0, n, 5)
        s[where] = np.array(list("RYKMSWBDHVU-"))[rng.integers(0, 12, 5)]
    if draw(st.booleans()):  # lower case
        s = np.char.lower(s)
    return "".join(s.tolist())


sequences = st.one_of(
    st.none(),
    st.text(alphabet=LETTERS, max_size=30),
    st.text(alphabet="ACGT", max_size=30),
    st.sampled_from(EDGE_CASES),
    long_sequences(),
)
batches = st.lists(sequences, min_size=0, max_size=6)


def run(tok: Tokenizer, codes: np.ndarray, lengths: np.ndarray, fn, dtype=np.int32) -> tuple[np.ndarray, ...]:
    tokens = np.full((len(lengths), tok.num_tokens), -99, dtype=dtype)
    mask = np.full((len(lengths), tok.num_tokens), 99, dtype=np.uint8 if dtype == np.int32 else dtype)
    tok._encode_into(np.ascontiguousarray(codes), np.asarray(lengths, dtype=np.int64), tokens, mask, fn=fn)
    return tokens, mask


# -- jitted kernel == plain-Python twin ------------------------------------------------------------


@pytest.mark.parametrize("tok", ALL, ids=IDS)
@SETTINGS
@given(seqs=batches)
def test_kernel_matches_python_twin(tok: Tokenizer, seqs: list[str | None]) -> None:
    codes, lengths = to_batch(seqs)
    for dtype in (np.int32, np.int64):
        fast = run(tok, codes, lengths, tokenize_kernel.jitted, dtype)
        slow = run(tok, codes, lengths, tokenize_kernel.py_func, dtype)
        np.testing.assert_array_equal(fast[0], slow[0])
        np.testing.assert_array_equal(fast[1], slow[1])
        assert (fast[0] >= 0).all() and (fast[0] < tok.vocab_size).all()
        assert set(np.unique(fast[1])) <= {0, 1}


@SETTINGS
@given(seqs=batches)
def test_revcomp_kernel_matches_python_twin_and_str(seqs: list[str | None]) -> None:
    codes, lengths = to_batch(seqs, width=max([len(s) for s in seqs if s is not None] + [0]) + 3)
    fast = np.empty_like(codes)
    slow = np.empty_like(codes)
    revcomp_kernel.jitted(codes, lengths, COMPLEMENT_TABLE, fast)
    revcomp_kernel.py_func(codes, lengths, COMPLEMENT_TABLE, slow)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(reverse_complement_codes(codes, lengths), fast)
    for i, s in enumerate(seqs):
        n = max(int(lengths[i]), 0)
        assert fast[i, :n].tobytes().decode() == reverse_complement(s or "")
        np.testing.assert_array_equal(fast[i, n:], codes[i, n:])  # padding (and missing rows) kept


# -- the published rules, from a plain str-based reading of them ------------------------------------


def ref_kmer(seq: str | None, k: int, specials: list[str], prefix: bool) -> tuple[list[int], list[int]]:
    """BarcodeBERT / CLIBD as published: pad with N or truncate to 660, k-mers every k, dict lookup.

    The lookup is case-sensitive: a k-mer with a lower-case letter is unknown.
    """
    vocab = {s: i for i, s in enumerate(specials)}
    for kmer in itertools.product("ACGT", repeat=k):
        vocab["".join(kmer)] = len(vocab)
    unk = vocab[specials[-1]]
    x = "" if seq is None else seq
    mask = [1] * (660 // k)
    if len(x) > 660:
        x = x[:660]
    else:
        mask[len(x) // k :] = [0] * (len(mask) - len(x) // k)
        x = x + "N" * (660 - len(x))
    ids = [vocab.get(x[i : i + k], unk) for i in range(0, len(x) - k + 1, k)]
    if prefix:
        ids, mask = [0, *ids], [1, *mask]
    return ids, mask


def ref_mamba(seq: str | None) -> tuple[list[int], list[int]]:
    """BarcodeMamba's char tokenizer: [MASK] [SEP] [UNK] A C G T N, left-padded with N to 660.

    Lower-case letters are [UNK].
    """
    vocab = {"A": 3, "C": 4, "G": 5, "T": 6, "N": 7}
    x = ("" if seq is None else seq)[:660]
    pad = 660 - len(x)
    return [7] * pad + [vocab.get(c, 2) for c in x], [0] * pad + [1] * len(x)


def ref_char(seq: str | None) -> tuple[list[int], list[int]]:
    """The peer README's map, right-padded with P; other letters (lower case too) -> N."""
    x = ("" if seq is None else seq)[:660]
    pad = 660 - len(x)
    return [PEER_CHAR_VOCAB[c] if c in "ACGTN" else 5 for c in x] + [0] * pad, [1] * len(x) + [0] * pad


REFERENCES = [
    (barcodebert_tokenizer(), lambda s: ref_kmer(s, 4, ["[MASK]", "[UNK]"], False)),
    (barcodebert_tokenizer(6), lambda s: ref_kmer(s, 6, ["[MASK]", "[UNK]"], False)),
    (clibd_tokenizer(), lambda s: ref_kmer(s, 5, ["<MASK>", "<CLS>", "<UNK>"], True)),
    (barcodemamba_tokenizer(), ref_mamba),
    (CharTokenizer(), ref_char),
    (
        barcodebert_tokenizer(uppercase=True),
        lambda s: ref_kmer(None if s is None else s.upper(), 4, ["[MASK]", "[UNK]"], False),
    ),
]


@pytest.mark.parametrize(("tok", "ref"), REFERENCES, ids=[t.name for t, _ in REFERENCES])
@SETTINGS
@given(seqs=batches)
def test_presets_follow_the_published_rules(tok: Tokenizer, ref, seqs: list[str | None]) -> None:
    codes, lengths = to_batch(seqs)
    tokens, mask = tok.encode_batch(codes, lengths)
    for i, s in enumerate(seqs):
        want_ids, want_mask = ref(s)
        assert tokens[i].tolist() == want_ids
        assert mask[i].tolist() == want_mask


# -- hand-checked ids ---------------------------------------------------------------------------------

# k-mer index in itertools.product("ACGT") order: A=0, C=1, G=2, T=3, base 4, first letter highest.
ACGT4 = 0 * 64 + 1 * 16 + 2 * 4 + 3  # 27


def test_barcodebert_hand_checked() -> None:
    tok = barcodebert_tokenizer()
    assert (tok.num_tokens, tok.vocab_size, tok.max_len) == (165, 258, 660)
    assert tok.vocab[:3] == ["[MASK]", "[UNK]", "AAAA"] and tok.vocab[-1] == "TTTT"
    assert tok.vocab[2 + ACGT4] == "ACGT"

    ids, mask = tok.encode("ACGTACGT")
    assert ids.tolist() == [29, 29] + [1] * 163  # 2 + 27; the N padding is [UNK]
    assert mask.tolist() == [1, 1] + [0] * 163

    ids, mask = tok.encode("AAAACCCCGGGGTTTTacgtNACG")
    # AAAA=0, CCCC=85, GGGG=170, TTTT=255; acgt (lower case) and NACG (an N) -> [UNK]
    assert ids[:7].tolist() == [2, 87, 172, 257, 1, 1, 1]
    assert barcodebert_tokenizer(uppercase=True)("AAAACCCCGGGGTTTTacgt")[:5].tolist() == [2, 87, 172, 257, 29]
    assert mask.tolist() == [1] * 6 + [0] * 159

    ids, mask = tok.encode("ACGTA")  # ANNN -> [UNK]; 5 // 4 = 1 token on
    assert ids[:3].tolist() == [29, 1, 1] and mask[:3].tolist() == [1, 0, 0]
    assert tok("ACRT")[:2].tolist() == [1, 1] and tok("TTTG").tolist()[0] == 2 + 254

    ids, mask = tok.encode("ACGT" * 166)  # truncated to 660: all 165 k-mers are ACGT, all on
    assert ids.tolist() == [29] * 165 and mask.tolist() == [1] * 165

    assert tok(None).tolist() == [1] * 165 and tok.encode(None)[1].tolist() == [0] * 165
    assert barcodebert_tokenizer(6).vocab_size == 4**6 + 2 and barcodebert_tokenizer(6).num_tokens == 110


def test_clibd_hand_checked() -> None:
    tok = clibd_tokenizer()
    assert (tok.num_tokens, tok.vocab_size) == (133, 1027)
    assert tok.vocab[:4] == ["<MASK>", "<CLS>", "<UNK>", "AAAAA"]
    ids, mask = tok.encode("ACGTACCCCC")
    # ACGTA = 0*256 + 1*64 + 2*16 + 3*4 + 0 = 108 -> 111; CCCCC = 341 -> 344; prefix 0 is <MASK>.
    assert ids.tolist() == [0, 111, 344] + [2] * 130
    assert mask.tolist() == [1, 1, 1] + [0] * 130
    ids, mask = tok.encode("TTTTTACGTN")
    assert ids[:3].tolist() == [0, 1026, 2] and mask[:4].tolist() == [1, 1, 1, 0]


def test_barcodemamba_hand_checked() -> None:
    tok = barcodemamba_tokenizer()
    assert tok.vocab == ["[MASK]", "[SEP]", "[UNK]", "A", "C", "G", "T", "N"]
    assert tok.num_tokens == 660
    ids, mask = tok.encode("ACGTN")
    assert ids.tolist() == [7] * 655 + [3, 4, 5, 6, 7]
    assert mask.tolist() == [0] * 655 + [1] * 5
    assert tok("acgRy-").tolist() == [7] * 654 + [2, 2, 2, 2, 2, 2]  # lower case is [UNK], as published
    assert barcodemamba_tokenizer(uppercase=True)("acgRy-").tolist() == [7] * 654 + [3, 4, 5, 2, 2, 2]


def test_char_hand_checked() -> None:
    tok = CharTokenizer()
    assert dict(zip(tok.vocab, range(tok.vocab_size))) == PEER_CHAR_VOCAB
    ids, mask = tok.encode("ACGTN")
    assert ids.tolist() == [1, 2, 3, 4, 5] + [0] * 655
    assert mask.tolist() == [1] * 5 + [0] * 655
    assert tok("ACgR-y").tolist() == [1, 2, 5, 5, 5, 5] + [0] * 654  # lower case, IUPAC and '-' -> N
    assert CharTokenizer(uppercase=True)("ACgR-y").tolist() == [1, 2, 3, 5, 5, 5] + [0] * 654
    assert tok("ACGT\u00e9")[:5].tolist() == [1, 2, 3, 4, 5]  # non-ASCII -> unknown -> N


# -- the three entry points agree ---------------------------------------------------------------------


@pytest.mark.parametrize("tok", ALL, ids=IDS)
@SETTINGS
@given(seqs=batches, extra=st.integers(0, 5))
def test_entry_points_agree(tok: Tokenizer, seqs: list[str | None], extra: int) -> None:
    longest = max([len(s) for s in seqs if s is not None] + [0])
    codes, lengths = to_batch(seqs, width=longest + extra)
    tokens, mask = tok.encode_batch(codes, lengths)
    tokens32, mask8 = tok.encode_batch_numpy(codes, lengths)
    assert tokens.dtype == torch.int64 and mask.dtype == torch.int64
    assert tokens32.dtype == np.int32 and mask8.dtype == np.uint8
    assert tokens.shape == (len(seqs), tok.num_tokens)
    np.testing.assert_array_equal(tokens32, tokens.numpy())
    np.testing.assert_array_equal(mask8, mask.numpy())
    for i, s in enumerate(seqs):
        row = tok.encode_codes(codes[i], int(lengths[i]))
        assert row.dtype == torch.int64 and row.shape == (tok.num_tokens,)
        assert torch.equal(row, tokens[i])
        assert torch.equal(tok(s), tokens[i])
        assert torch.equal(tok.encode_codes_with_mask(codes[i], int(lengths[i]))[1], mask[i])
        assert torch.equal(tok.encode(s)[1], mask[i])
        if s is not None and tok.uppercase:
            assert torch.equal(tok(s.lower()), tok(s.upper()))


def test_missing_is_empty_and_lengths_are_clamped() -> None:
    for tok in ALL:
        empty = tok("")
        assert torch.equal(tok(None), empty) and torch.equal(tok(float("nan")), empty)
        assert torch.equal(tok.encode_codes(np.frombuffer(b"ACGT", dtype=np.uint8), -1), empty)
        row = np.frombuffer(b"ACGTACGTAC", dtype=np.uint8)
        assert torch.equal(tok.encode_codes(row, 50), tok("ACGTACGTAC"))  # length past the row: the row
    codes, lengths = to_batch(["ACGT", "ACG"])
    tokens, _ = barcodebert_tokenizer().encode_batch(codes[:0], lengths[:0])
    assert tokens.shape == (0, 165)


def test_out_buffers_and_argument_checks() -> None:
    tok = clibd_tokenizer()
    codes, lengths = to_batch(["ACGTACGTAC", None, "GG"])
    out = (np.zeros((3, 133), np.int32), np.zeros((3, 133), np.uint8))
    got = tok.encode_batch_numpy(codes, lengths, out=out)
    assert got[0] is out[0] and got[1] is out[1]
    np.testing.assert_array_equal(out[0], tok.encode_batch_numpy(codes, lengths)[0])
    with pytest.raises(ValueError, match="int32"):
        tok.encode_batch_numpy(codes, lengths, out=(np.zeros((3, 133), np.int64), out[1]))
    with pytest.raises(TypeError, match="uint8"):
        tok.encode_batch(codes.astype(np.int16), lengths)
    with pytest.raises(ValueError, match="lengths must have shape"):
        tok.encode_batch(codes, lengths[:2])
    with pytest.raises(ValueError, match="one row"):
        tok.encode_codes(codes, 3)
    with pytest.raises(ValueError, match="padding_side must be one of"):
        KmerTokenizer(4, padding_side="middle")
    with pytest.raises(ValueError, match="max_len must be >= k"):
        KmerTokenizer(8, max_len=5)
    with pytest.raises(ValueError, match="unknown must be"):
        KmerTokenizer(4, unknown="N")
    with pytest.raises(ValueError, match="alphabet"):
        CharTokenizer("acgt")


# -- decoding -----------------------------------------------------------------------------------------


INVERTIBLE = [t for t in ALL if t.stride <= t.k]


@pytest.mark.parametrize("tok", INVERTIBLE, ids=[t.name for t in INVERTIBLE])
@SETTINGS
@given(data=st.data())
def test_decode_round_trips(tok: Tokenizer, data) -> None:
    letters = tok.alphabet + (tok.alphabet.lower() if tok.uppercase else "")
    cover = (tok.num_windows - 1) * tok.stride + tok.k  # letters the windows keep
    if tok.pad not in tok.specials and tok.pad not in tok.alphabet:
        # Padding that is [UNK]: only whole windows of letters can come back.
        n = data.draw(st.integers(0, tok.max_len // tok.k)) * tok.k
        if tok.stride < tok.k:
            n = tok.max_len
    else:
        n = data.draw(st.integers(0, tok.max_len + 5 if cover == tok.max_len else cover))
    seq = data.draw(st.text(alphabet=letters, min_size=n, max_size=n))
    want = seq.upper()[: tok.max_len]
    assert tok.decode(tok(seq), len(seq)) == want
    assert tok.decode(tok(seq).numpy(), len(seq)) == want
    assert tok.decode(tok(seq).tolist(), len(seq)) == want
    if tok.pad in tok.specials:  # a padding token marks the end: no length needed
        assert tok.decode(tok(seq)) == want


def test_decode_hand_checked_and_failures() -> None:
    bert = barcodebert_tokenizer()
    assert bert.decode([29, 2, 257] + [1] * 162, 12) == "ACGTAAAATTTT"
    upper = barcodebert_tokenizer(uppercase=True)
    assert upper.decode(upper("acgtacgt"), 8) == "ACGTACGT"
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        bert.decode(bert("acgtacgt"), 8)  # lower case is [UNK]: its letters are lost
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        bert.decode(bert("ACGTR"), 5)
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        bert.decode(bert("ACGTAC"), 6)  # ACNN: the partial k-mer is lost
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        bert.decode(bert("ACGT"))  # without a length the N padding ([UNK]) is part of the sequence
    with pytest.raises(ValueError, match="165 tokens"):
        bert.decode([29, 29])
    clibd = clibd_tokenizer()
    assert clibd.decode(clibd("ACGTACCCCC"), 10) == "ACGTACCCCC"
    mamba = barcodemamba_tokenizer()
    assert mamba.decode(mamba("ACGTN"), 5) == "ACGTN"
    assert mamba.decode(mamba("ACGTN")) == "N" * 655 + "ACGTN"  # padding N cannot be told apart
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        mamba.decode(mamba("ACRT"), 4)
    char = CharTokenizer()
    assert char.decode(char("ACGTN")) == "ACGTN" and char.decode(char("")) == ""
    assert char.decode(char("ACR")) == "ACN"  # documented: other letters become N
    with pytest.raises(ValueError, match="padding token"):
        char.decode(char("AC"), 5)
    with pytest.raises(ValueError, match="stride 4 > k 3"):
        KmerTokenizer(3, stride=4, max_len=12).decode([2, 2, 2])
    overlapping = KmerTokenizer(3, stride=1, max_len=6)
    with pytest.raises(ValueError, match="disagree"):
        overlapping.decode([2, 3, 2, 2], 6)


# -- reverse complement -------------------------------------------------------------------------------


def test_reverse_complement() -> None:
    assert reverse_complement("AACGTn") == "nACGTT"
    assert reverse_complement("ACGTRYKMSWBDHVN-U") == "A-NBDHVWSKMRYACGT"
    assert reverse_complement("RYKMBDHVSWN-") == "-NWSBDHVKMRY"
    assert reverse_complement("acgu") == "acgt"
    assert reverse_complement("") == ""
    seq = "ACGTRYKMSWBDHVN-acgtn"
    assert reverse_complement(reverse_complement(seq)) == seq
    row = np.frombuffer(b"AACGTn\0\0", dtype=np.uint8)
    assert reverse_complement_codes(row, 6).tobytes() == b"nACGTT\0\0"
    codes, lengths = to_batch(["AAC", None, "GGGT"], width=5)
    out = reverse_complement_codes(codes, lengths)
    assert [out[i].tobytes() for i in range(3)] == [b"GTT\0\0", b"\0" * 5, b"ACCC\0"]
    assert out is not codes and codes[0, :3].tobytes() == b"AAC"  # input untouched


# -- names, registry, repr, pickle --------------------------------------------------------------------


def test_registry_names_and_config() -> None:
    assert set(tk.TOKENIZER_PRESETS) == {"barcodebert", "clibd", "barcodemamba", "char"}
    for name in tk.TOKENIZER_PRESETS:
        tok = get_tokenizer(name)
        assert tok.name == name
        assert get_tokenizer(f"  {name.upper()} ") == tok
    assert get_tokenizer("barcodebert-k6") == barcodebert_tokenizer(6)
    with pytest.raises(ValueError, match="'barcodebert', 'clibd', 'barcodemamba', 'char'"):
        get_tokenizer("bert")
    for tok in ALL:
        again = Tokenizer.from_config(tok.config())
        assert again == tok and type(again) is type(tok)
        assert again.vocab == tok.vocab
        clone = pickle.loads(pickle.dumps(tok))  # noqa: S301 - our own object, as DataLoader workers do
        assert torch.equal(clone("ACGTNRACGTAC"), tok("ACGTNRACGTAC"))
        assert hash(clone) == hash(tok)
    assert get_tokenizer("char") != get_tokenizer("barcodemamba")


def test_repr_and_lookup() -> None:
    r = repr(barcodebert_tokenizer())
    assert r.startswith("KmerTokenizer(name='barcodebert', k=4, stride=4, max_len=660, num_tokens=165")
    assert "vocab_size=258" in r
    r = repr(CharTokenizer())
    assert r.startswith("CharTokenizer(name='char', max_len=660") and "pad='P'" in r and "k=" not in r
    tok = clibd_tokenizer()
    assert tok.token_to_id("<UNK>") == 2 == tok.unk_id and tok.token_to_id("ACGTA") == 111
    assert tok.pad_id is None and CharTokenizer().pad_id == 0 and CharTokenizer().unk_id is None
    with pytest.raises(KeyError, match="'ACGT'"):
        tok.token_to_id("ACGT")
