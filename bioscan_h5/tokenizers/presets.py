"""The tokenizer classes for users (:class:`CharTokenizer`, :class:`KmerTokenizer`) and the presets."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .tokenizer import Tokenizer, config_class

__all__ = [
    "PEER_CHAR_VOCAB",
    "TOKENIZER_PRESETS",
    "CharTokenizer",
    "KmerTokenizer",
    "barcodebert_tokenizer",
    "barcodemamba_tokenizer",
    "clibd_tokenizer",
    "get_tokenizer",
]

#: The peer (``bioscan-dataset``) README's character map; ``P`` is the padding token.
PEER_CHAR_VOCAB = {"P": 0, "A": 1, "C": 2, "G": 3, "T": 4, "N": 5}


@config_class
class CharTokenizer(Tokenizer):
    """Character-level tokenizer: one token per letter, padded to ``max_len``.

    The defaults are the peer README's map (:data:`PEER_CHAR_VOCAB`), padded on the right with
    the token ``P`` to 660 letters. Letters outside the alphabet (other IUPAC codes, ``'-'``,
    lower case unless ``uppercase=True``) get the id of ``unknown``: ``N`` (5) by default.

    Parameters
    ----------
    alphabet, max_len, specials, pad, unknown, padding_side, name, uppercase
        As in :class:`Tokenizer`; ``max_len`` letters are ``max_len`` tokens, and the default
        ``specials`` ``("P",)`` puts ``P`` at 0.

    Examples
    --------
    >>> tok = CharTokenizer(max_len=8)
    >>> tok("ACgtR").tolist()
    [1, 2, 5, 5, 5, 0, 0, 0]
    >>> CharTokenizer(max_len=8, uppercase=True)("ACgtR").tolist()
    [1, 2, 3, 4, 5, 0, 0, 0]
    >>> tok.decode(tok("ACGTN"))
    'ACGTN'
    """

    _implied = ("k", "stride", "prefix")

    def __init__(
        self,
        alphabet: str = "ACGTN",
        max_len: int = 660,
        *,
        specials: Sequence[str] = ("P",),
        pad: str = "P",
        unknown: str = "N",
        padding_side: str = "right",
        name: str = "char",
        uppercase: bool = False,
    ) -> None:
        super().__init__(alphabet, 1, 1, max_len, specials, pad, unknown, None, padding_side, name, uppercase)


@config_class
class KmerTokenizer(Tokenizer):
    """k-mer tokenizer: windows of ``k`` letters every ``stride`` letters, padded with ``N``.

    The vocabulary is ``specials`` followed by every k-mer of ``alphabet`` in
    :func:`itertools.product` order; a window with any letter outside the alphabet
    (padding ``N`` included, when ``N`` is not in the alphabet) gets the id of ``unknown``.
    The defaults are BarcodeBERT's (``[MASK]=0``, ``[UNK]=1``, ``ACGT``, max_len 660).

    Parameters
    ----------
    k, stride, max_len, alphabet, specials, prefix, padding_side, uppercase
        As in :class:`Tokenizer` (CLIBD's ``prefix`` is ``<MASK>``).
    unknown, pad : str
        One of ``specials``; the padding letter.
    name : str or None
        Defaults to ``"kmer{k}"``.

    Examples
    --------
    >>> tok = KmerTokenizer(4, max_len=12)
    >>> tok("ACGTacgtAC").tolist()  # ACGT = 0*64 + 1*16 + 2*4 + 3 = 27, plus 2 specials
    [29, 1, 1]
    >>> KmerTokenizer(4, max_len=12, uppercase=True)("ACGTacgtAC").tolist()
    [29, 29, 1]
    """

    def __init__(
        self,
        k: int,
        stride: int | None = None,
        max_len: int = 660,
        *,
        alphabet: str = "ACGT",
        specials: Sequence[str] = ("[MASK]", "[UNK]"),
        unknown: str = "[UNK]",
        pad: str = "N",
        prefix: str | None = None,
        padding_side: str = "right",
        name: str | None = None,
        uppercase: bool = False,
    ) -> None:
        if pad in specials:
            raise ValueError(
                f"KmerTokenizer pads with a letter (e.g. 'N'), not a special token; got pad={pad!r}"
            )
        name = f"kmer{k}" if name is None else name
        super().__init__(
            alphabet, k, stride, max_len, specials, pad, unknown, prefix, padding_side, name, uppercase
        )


def barcodebert_tokenizer(k: int = 4, *, uppercase: bool = False) -> KmerTokenizer:
    """BarcodeBERT's tokenizer: non-overlapping k-mers of ``ACGT``, padded with N to 660.

    ``[MASK]=0``, ``[UNK]=1``, then the ``4**k`` k-mers in product order; ``660 // k``
    tokens (165 for k = 4); attention mask 1 on the first ``len(seq) // k``. Named
    ``"barcodebert"`` for k = 4, ``"barcodebert-k{k}"`` otherwise.

    Parameters
    ----------
    k : int
        k-mer size (BarcodeBERT's default is 4; 5 and 6 were published too).
    uppercase : bool, default=False
        Count lower-case letters as upper case (BarcodeBERT makes such a k-mer ``[UNK]``).
    """
    name = "barcodebert" if int(k) == 4 else f"barcodebert-k{int(k)}"
    return KmerTokenizer(k, name=name, uppercase=uppercase)  # KmerTokenizer's defaults are BarcodeBERT's


def clibd_tokenizer(*, uppercase: bool = False) -> KmerTokenizer:
    """CLIBD's DNA tokenizer: 5-mers, stride 5, padded with N to 660, ``<MASK>`` prepended.

    ``<MASK>=0``, ``<CLS>=1``, ``<UNK>=2``, then the 1024 5-mers in product order; 133
    tokens. CLIBD feeds its encoder no attention mask; ours is 1 on the prefix and the first
    ``len(seq) // 5`` k-mers (use all ones to match CLIBD's embeddings exactly).
    ``uppercase=True`` counts lower-case letters as upper case (CLIBD makes such a 5-mer ``<UNK>``).
    """
    specials = ("<MASK>", "<CLS>", "<UNK>")
    return KmerTokenizer(
        5, specials=specials, unknown="<UNK>", prefix="<MASK>", name="clibd", uppercase=uppercase
    )


def barcodemamba_tokenizer(*, uppercase: bool = False) -> CharTokenizer:
    """BarcodeMamba's character tokenizer (vocab of 8), left-padded with N to 660.

    ``[MASK]=0``, ``[SEP]=1``, ``[UNK]=2``, ``A=3``, ``C=4``, ``G=5``, ``T=6``, ``N=7``;
    attention mask 1 on the real letters. ``uppercase=True`` counts lower-case letters as upper
    case (BarcodeMamba makes them ``[UNK]``).
    """
    specials = ("[MASK]", "[SEP]", "[UNK]")
    return CharTokenizer(
        specials=specials,
        pad="N",
        unknown="[UNK]",
        padding_side="left",
        name="barcodemamba",
        uppercase=uppercase,
    )


#: Names accepted by :func:`get_tokenizer` (and ``bioscan-h5 build --tokenize NAME``).
TOKENIZER_PRESETS: dict[str, Callable[[], Tokenizer]] = {
    "barcodebert": barcodebert_tokenizer,
    "clibd": clibd_tokenizer,
    "barcodemamba": barcodemamba_tokenizer,
    "char": CharTokenizer,
}

_BARCODEBERT_K = re.compile(r"barcodebert-k(\d+)")


def get_tokenizer(name: str) -> Tokenizer:
    """The preset tokenizer of a name.

    Parameters
    ----------
    name : str
        One of ``"barcodebert"``, ``"clibd"``, ``"barcodemamba"``, ``"char"`` (case and
        surrounding spaces ignored), or ``"barcodebert-k{k}"`` for BarcodeBERT with another k.

    Returns
    -------
    Tokenizer
        A new tokenizer; ``get_tokenizer(tok.name)`` rebuilds any preset.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones).
    """
    key = str(name).strip().lower()
    if key in TOKENIZER_PRESETS:
        return TOKENIZER_PRESETS[key]()
    m = _BARCODEBERT_K.fullmatch(key)
    if m and 1 <= int(m.group(1)) <= 12:
        return barcodebert_tokenizer(int(m.group(1)))
    valid = ", ".join(repr(n) for n in TOKENIZER_PRESETS)
    raise ValueError(f"unknown tokenizer {name!r}; valid names: {valid} (or 'barcodebert-k<k>', k in 1..12)")
