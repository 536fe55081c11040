"""DNA barcode tokenizers that work on the stored uint8 codes, in bulk or one sample at a time.

A store keeps each barcode as its ASCII letters in an ``(N, W)`` uint8 array, 0-padded, with
an int32 length per row (``-1`` for a missing barcode; see :mod:`bioscan_h5.dna`). Every
tokenizer here turns such rows into a fixed number ``T`` of integer token ids plus an
attention mask:

* :meth:`Tokenizer.encode_batch` does a whole ``(N, L)`` block in one numba kernel call;
* :meth:`Tokenizer.encode_codes` does one stored row, without building a ``str``;
* calling the tokenizer on a ``str`` (``tok("ACGT...")``) returns the token ids only, so a
  tokenizer can be passed as a plain ``dna_transform``.

How a sequence becomes tokens (all tokenizers)
----------------------------------------------
1. Lower-case letters count as their upper-case letter. A missing barcode (length ``-1``,
   or a non-``str`` such as ``None``/``NaN`` given to ``__call__``) tokenizes as the empty
   sequence.
2. The sequence is truncated to its first ``max_len`` letters, or padded to ``max_len``
   (on the right by default, on the left with ``padding_side="left"``) with the ``pad``
   letter (``"N"``) or, for character tokenizers, with a padding token (``"P"``).
3. Windows of ``k`` letters are read at positions ``0, stride, 2*stride, ...`` while a whole
   window fits in the ``max_len`` padded letters. Character tokenizers are ``k = 1``.
4. A window made only of alphabet letters gets the id of its k-mer: the ``specials`` come
   first (ids ``0 .. S-1``), then every k-mer of the alphabet in :func:`itertools.product`
   order. A window holding any other letter (another IUPAC code, ``'-'``, or an ``N``
   outside the alphabet) gets the id of ``unknown``. A character tokenizer whose
   ``unknown`` is a letter maps such letters to that letter's id (the default ``CharTokenizer``
   maps them to ``N``).
5. If ``prefix`` is set, its id is prepended (CLIBD prepends ``<MASK>``, id 0).
6. The attention mask is 1 on the prefix and on the first ``n // stride`` windows (``n`` the
   sequence length after truncation, before padding), 0 after: BarcodeBERT's rule, which
   for ``k = 1`` marks exactly the real letters. With left padding the mask is the mirror
   image (1 on the last ``n // stride`` windows).

:meth:`Tokenizer.decode` turns ids back into letters where that is possible (it raises
``ValueError`` on an unknown token, whose letters are lost). :func:`reverse_complement` and
:func:`reverse_complement_codes` (a kernel over stored codes) give the usual augmentation.

The kernels are written once as plain Python (``_tokenize_kernel.py_func``,
``_revcomp_kernel.py_func``) and compiled by numba; set ``BIOSCAN_H5_DISABLE_JIT=1`` to run
the Python twins (see :mod:`bioscan_h5._jit`).

Presets (published conventions, ids and order)
----------------------------------------------
``"barcodebert"`` (:func:`barcodebert_tokenizer`)
    BarcodeBERT: k = 4, stride 4, truncate or pad with N to 660; ``[MASK]=0``, ``[UNK]=1``,
    then the 256 4-mers of ``ACGT`` in product order (258 ids); any k-mer with a letter
    outside ``ACGT`` (padding N included) is ``[UNK]``; 165 tokens; mask as rule 6.
``"clibd"`` (:func:`clibd_tokenizer`)
    CLIBD's DNA pipeline: k = 5, stride 5, truncate or pad with N to 660; ``<MASK>=0``,
    ``<CLS>=1``, ``<UNK>=2``, then the 1024 5-mers (1027 ids); id 0 (``<MASK>``, not
    ``<CLS>``) is prepended: 133 tokens. CLIBD itself passes no attention mask (its encoder
    attends to all 133 positions); ours marks the prefix and the first ``n // 5`` k-mers as
    for BarcodeBERT. Use ``torch.ones_like(mask)`` to reproduce CLIBD's embeddings exactly.
``"barcodemamba"`` (:func:`barcodemamba_tokenizer`)
    BarcodeMamba's character tokenizer (``utils/char_tokenizer.py`` and
    ``configs/tokenizer/char.yaml``: characters ``ACGTN``, vocab size 8): ``[MASK]=0``,
    ``[SEP]=1``, ``[UNK]=2``, ``A=3``, ``C=4``, ``G=5``, ``T=6``, ``N=7``; padded on the
    **left** with ``N`` (its dataset sets ``pad_token = "N"`` and ``padding_side: left``) to
    660, truncated on the right; any other letter is ``[UNK]``; mask 1 on the real letters.
    (BarcodeMamba maps lower-case letters to ``[UNK]``; we treat them as upper case.) Its
    k = 4 variant is ``KmerTokenizer(4, specials=("[MASK]", "[SEP]", "[UNK]"),
    padding_side="left")``, except that BarcodeMamba's own mask is all ones there.
``"char"`` (:class:`CharTokenizer` defaults)
    The peer README's map ``{"P": 0, "A": 1, "C": 2, "G": 3, "T": 4, "N": 5}``, padded on
    the right with ``P`` to 660; every other letter (IUPAC codes, ``'-'``) maps to ``N``'s
    id, 5 (the map has no unknown token).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._jit import kernel

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "Tokenizer",
    "CharTokenizer",
    "KmerTokenizer",
    "PEER_CHAR_VOCAB",
    "TOKENIZER_PRESETS",
    "barcodebert_tokenizer",
    "clibd_tokenizer",
    "barcodemamba_tokenizer",
    "get_tokenizer",
    "reverse_complement",
    "reverse_complement_codes",
]

#: The peer (``bioscan-dataset``) README's character map; ``P`` is the padding token.
PEER_CHAR_VOCAB = {"P": 0, "A": 1, "C": 2, "G": 3, "T": 4, "N": 5}

_PADDING_SIDES = ("right", "left")
_MAX_KMERS = 1 << 24


# ----------------------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------------------


@kernel
def _tokenize_kernel(
    codes,
    lengths,
    digits,
    base,
    k,
    stride,
    max_len,
    left,
    pad_code,
    pad_id,
    unk_id,
    first_id,
    prefix_id,
    tokens,
    mask,
):  # pragma: no cover - jitted
    """Tokenize every row of ``codes`` into ``tokens`` / ``mask`` (see the module docstring).

    ``digits`` maps a byte to its alphabet index (``-1``: not in the alphabet). ``pad_code``
    is the padding letter's byte (``-1``: none); ``pad_id`` the padding token (``-1``: none),
    written for windows that hold padding only. ``prefix_id`` ``-1`` means no prefix.
    """
    n = lengths.shape[0]
    width = codes.shape[1]
    n_tok = tokens.shape[1]
    first = 1 if prefix_id >= 0 else 0
    n_win = n_tok - first
    pad_digit = -1
    if pad_code >= 0:
        pad_digit = digits[pad_code]
    # Byte -> token id for single letters (the k == 1 fast path).
    tok1 = np.empty(256, dtype=np.int64)
    for c in range(256):
        tok1[c] = unk_id if digits[c] < 0 else first_id + digits[c]
    # The token of a window made of padding only.
    if pad_id >= 0:
        pad_tok = pad_id
    elif pad_digit < 0:
        pad_tok = unk_id
    else:
        pad_tok = 0
        for _ in range(k):
            pad_tok = pad_tok * base + pad_digit
        pad_tok += first_id
    for i in range(n):
        ln = lengths[i]
        if ln < 0:
            ln = 0
        if ln > width:
            ln = width
        if ln > max_len:
            ln = max_len
        row = codes[i]
        out = tokens[i]
        mrow = mask[i]
        # Padded position p holds letter p - shift for shift <= p < end, padding elsewhere.
        shift = max_len - ln if left else 0
        end = shift + ln
        if first == 1:
            out[0] = prefix_id
            mrow[0] = 1
        # Windows, in order: [0, j_pl) padding only, [j_pl, j_lo) partly padding,
        # [j_lo, j_hi) wholly inside the sequence, [j_hi, j_pr) partly padding,
        # [j_pr, n_win) padding only.
        j_hi = (end - k) // stride + 1 if end >= k else 0
        if j_hi > n_win:
            j_hi = n_win
        j_lo = (shift + stride - 1) // stride
        if j_lo > j_hi:
            j_lo = j_hi
        j_pl = (shift - k) // stride + 1 if shift >= k else 0
        if j_pl > j_lo:
            j_pl = j_lo
        j_pr = (end + stride - 1) // stride
        if j_pr > n_win:
            j_pr = n_win
        if j_pr < j_hi:
            j_pr = j_hi
        out[first : first + j_pl] = pad_tok
        # The inner loops index slices from 0 so that numba can drop negative-index checks.
        seg = row[j_lo * stride - shift : (j_hi - 1) * stride + k - shift] if j_hi > j_lo else row[0:0]
        oseg = out[first + j_lo : first + j_hi]
        if k == 1 and stride == 1:
            for j in range(oseg.shape[0]):
                oseg[j] = tok1[seg[j]]
        elif stride == k:
            # Back-to-back windows: one pass over the letters (faster than a loop per window).
            idx = 0
            bad = 0
            t = 0
            o = 0
            for p in range(seg.shape[0]):
                d = digits[seg[p]]
                bad |= d
                idx = idx * base + d
                t += 1
                if t == k:
                    oseg[o] = unk_id if bad < 0 else first_id + idx
                    o += 1
                    t = 0
                    idx = 0
                    bad = 0
        else:
            for j in range(oseg.shape[0]):
                p0 = j * stride
                idx = 0
                bad = 0
                for t in range(k):
                    d = digits[seg[p0 + t]]
                    bad |= d
                    idx = idx * base + d
                oseg[j] = unk_id if bad < 0 else first_id + idx
        for part in range(2):
            a = j_pl if part == 0 else j_hi
            b = j_lo if part == 0 else j_pr
            for j in range(a, b):
                start = j * stride
                if pad_id >= 0 and (start >= end or start + k <= shift):
                    out[first + j] = pad_id
                    continue
                idx = 0
                bad = 0
                for t in range(k):
                    p = start + t
                    if p >= shift and p < end:
                        d = digits[row[p - shift]]
                    else:
                        d = pad_digit
                    bad |= d
                    idx = idx * base + d
                out[first + j] = unk_id if bad < 0 else first_id + idx
        out[first + j_pr : first + n_win] = pad_tok
        # Attention mask: 1 on n // stride windows, at the start (or the end when left-padded).
        n_on = ln // stride
        if n_on > n_win:
            n_on = n_win
        on_lo = n_win - n_on if left else 0
        on_hi = on_lo + n_on
        mrow[first : first + on_lo] = 0
        mrow[first + on_lo : first + on_hi] = 1
        mrow[first + on_hi : first + n_win] = 0


@kernel
def _revcomp_kernel(codes, lengths, table, out):  # pragma: no cover - jitted
    """Reverse-complement the first ``lengths[i]`` letters of each row; keep the padding."""
    n = lengths.shape[0]
    width = codes.shape[1]
    for i in range(n):
        ln = lengths[i]
        if ln < 0:
            ln = 0
        if ln > width:
            ln = width
        dst = out[i]
        if ln > 0:
            src = codes[i, ln - 1 :: -1]  # the letters, last first
            for j in range(ln):
                dst[j] = table[src[j]]
        dst[ln:] = codes[i, ln:]


# ----------------------------------------------------------------------------------------------
# Reverse complement
# ----------------------------------------------------------------------------------------------

#: Complement of each IUPAC nucleotide code (and the gap ``-``); ``U`` pairs with ``A``.
_COMPLEMENT = {
    "A": "T",
    "C": "G",
    "G": "C",
    "T": "A",
    "U": "A",
    "R": "Y",
    "Y": "R",
    "K": "M",
    "M": "K",
    "S": "S",
    "W": "W",
    "B": "V",
    "V": "B",
    "D": "H",
    "H": "D",
    "N": "N",
    "-": "-",
}


def _complement_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint8)
    for a, b in _COMPLEMENT.items():
        table[ord(a)] = ord(b)
        table[ord(a.lower())] = ord(b.lower())
    return table


_COMPLEMENT_TABLE = _complement_table()
_COMPLEMENT_STR = str.maketrans({**_COMPLEMENT, **{a.lower(): b.lower() for a, b in _COMPLEMENT.items()}})


def reverse_complement(seq: str) -> str:
    """Reverse complement of a barcode string.

    Each IUPAC code is replaced by its complement (``A<->T``, ``C<->G``, ``R<->Y``,
    ``K<->M``, ``B<->V``, ``D<->H``; ``S``, ``W``, ``N`` and ``-`` are their own complement;
    ``U`` becomes ``A``), keeping lower case; any other character is kept as it is.

    Parameters
    ----------
    seq : str
        The barcode.

    Returns
    -------
    str
        The reverse complement, as long as ``seq``.

    Examples
    --------
    >>> reverse_complement("AACGTn")
    'nACGTT'
    """
    return seq.translate(_COMPLEMENT_STR)[::-1]


def reverse_complement_codes(codes: np.ndarray, lengths: np.ndarray | int) -> np.ndarray:
    """Reverse complement of stored barcode codes, in one kernel call.

    The first ``lengths[i]`` letters of each row are reversed and complemented as in
    :func:`reverse_complement`; the padding after them is kept, so the result is laid out
    like the input (same shape, same lengths).

    Parameters
    ----------
    codes : numpy.ndarray of uint8, shape (N, W) or (W,)
        ASCII codes, as in a store's ``/dna/codes``.
    lengths : numpy.ndarray of int, shape (N,), or int
        Length of each row (``-1``: missing, left as it is). An int when ``codes`` is one row.

    Returns
    -------
    numpy.ndarray of uint8
        A new array shaped like ``codes``.
    """
    codes2, lengths2, one = _as_batch(codes, lengths)
    out = np.empty_like(codes2)
    _revcomp_kernel(codes2, lengths2, _COMPLEMENT_TABLE, out)
    return out[0] if one else out


# ----------------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------------


def _torch():
    import torch

    return torch


def _as_batch(codes: np.ndarray, lengths: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Check and normalise ``(codes, lengths)`` to a 2-D uint8 block and int64 lengths."""
    codes = np.asarray(codes)
    if codes.dtype != np.uint8:
        raise TypeError(f"codes must be a uint8 array of ASCII letters, got dtype {codes.dtype!r}")
    if codes.ndim == 1:
        if np.ndim(lengths) != 0:
            raise ValueError(
                f"one row of codes takes one int length, got lengths of shape {np.shape(lengths)!r}"
            )
        return np.ascontiguousarray(codes.reshape(1, -1)), np.array([int(lengths)], dtype=np.int64), True
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (N, L) or (L,), got shape {codes.shape!r}")
    lengths = np.asarray(lengths)
    if lengths.shape != (codes.shape[0],):
        raise ValueError(
            f"lengths must have shape ({codes.shape[0]},) to match codes of shape {codes.shape!r}, "
            f"got shape {lengths.shape!r}"
        )
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got dtype {lengths.dtype!r}")
    return np.ascontiguousarray(codes), np.ascontiguousarray(lengths, dtype=np.int64), False


def _str_codes(seq: object) -> tuple[np.ndarray, int]:
    """A barcode string (or a missing value) as one row of codes and its length."""
    if not isinstance(seq, str):
        return np.zeros(1, dtype=np.uint8), -1
    raw = seq.encode("ascii", errors="replace")  # non-ASCII -> '?', an unknown letter
    if not raw:
        return np.zeros(1, dtype=np.uint8), 0
    return np.frombuffer(raw, dtype=np.uint8), len(raw)


class Tokenizer:
    """A DNA tokenizer over fixed windows of ``k`` letters (``k = 1``: character level).

    Use :class:`CharTokenizer`, :class:`KmerTokenizer` or a preset
    (:func:`get_tokenizer`); this base class holds the shared machinery. The rules are
    described in the module docstring (:mod:`bioscan_h5.tokenizers`).

    Parameters
    ----------
    alphabet : str
        The letters that have ids of their own, upper case, each once (e.g. ``"ACGT"``).
    k : int
        Letters per token.
    stride : int or None
        Step between windows; ``None`` means ``k`` (non-overlapping).
    max_len : int
        Letters kept: sequences are truncated or padded to this many before windowing.
    specials : sequence of str
        Special tokens, given ids ``0 .. len(specials) - 1`` ahead of the alphabet's k-mers.
    pad : str
        A single padding letter (run through the letter mapping, e.g. ``"N"``) or one of
        ``specials`` (a padding token; only when ``k == 1``).
    unknown : str
        What windows with a letter outside ``alphabet`` become: one of ``specials``, or (when
        ``k == 1``) a letter of ``alphabet``.
    prefix : str or None
        One of ``specials`` to put before the windows, or None.
    padding_side : {"right", "left"}
        Where padding goes.
    name : str
        The tokenizer's name (presets use their registry name).

    Attributes
    ----------
    name : str
    vocab : list of str
        Token strings; ``vocab[i]`` is the token of id ``i``.
    max_len : int
        Letters the sequence is truncated or padded to.
    num_tokens : int
        ``T``, the number of token ids produced per sequence.
    """

    def __init__(
        self,
        alphabet: str,
        k: int,
        stride: int | None,
        max_len: int,
        specials: Sequence[str],
        pad: str,
        unknown: str,
        prefix: str | None = None,
        padding_side: str = "right",
        name: str = "tokenizer",
    ) -> None:
        k = int(k)
        stride = k if stride is None else int(stride)
        max_len = int(max_len)
        specials = [str(s) for s in specials]
        if not isinstance(alphabet, str) or not alphabet:
            raise ValueError(f"alphabet must be a non-empty str of letters, got {alphabet!r}")
        if alphabet != alphabet.upper() or len(set(alphabet)) != len(alphabet) or not alphabet.isascii():
            raise ValueError(
                f"alphabet must hold distinct upper-case ASCII letters (lower case is mapped to upper "
                f"case), got {alphabet!r}"
            )
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k!r}")
        if stride < 1:
            raise ValueError(f"stride must be >= 1 (or None for k), got {stride!r}")
        if max_len < k:
            raise ValueError(f"max_len must be >= k ({k}) so that one window fits, got {max_len!r}")
        if len(alphabet) ** k > _MAX_KMERS:
            raise ValueError(
                f"{len(alphabet)} letters and k={k} give {len(alphabet) ** k} k-mers, more than "
                f"{_MAX_KMERS}; use a smaller k"
            )
        if len(set(specials)) != len(specials):
            raise ValueError(f"specials must be distinct, got {specials!r}")
        kmers = ["".join(p) for p in itertools.product(alphabet, repeat=k)]
        clash = set(specials) & set(kmers)
        if clash:
            raise ValueError(f"specials {sorted(clash)!r} clash with k-mers of the alphabet {alphabet!r}")
        if padding_side not in _PADDING_SIDES:
            raise ValueError(f"padding_side must be one of {_PADDING_SIDES!r}, got {padding_side!r}")
        if pad in specials:
            if k != 1:
                raise ValueError(
                    f"a padding token ({pad!r}) needs k == 1; pad k-mers with a letter such as 'N'"
                )
        elif not (isinstance(pad, str) and len(pad) == 1 and pad.isascii()):
            raise ValueError(f"pad must be one ASCII letter or one of specials {specials!r}, got {pad!r}")
        if unknown not in specials and not (k == 1 and isinstance(unknown, str) and unknown in alphabet):
            valid = f"one of specials {specials!r}" + (f" or a letter of {alphabet!r}" if k == 1 else "")
            raise ValueError(f"unknown must be {valid}, got {unknown!r}")
        if prefix is not None and prefix not in specials:
            raise ValueError(f"prefix must be None or one of specials {specials!r}, got {prefix!r}")

        self.name = str(name)
        self.alphabet = alphabet
        self.k = k
        self.stride = stride
        self.max_len = max_len
        self.specials = specials
        self.pad = pad
        self.unknown = unknown
        self.prefix = prefix
        self.padding_side = padding_side
        self.vocab: list[str] = specials + kmers
        self._ids = {tok: i for i, tok in enumerate(self.vocab)}
        self.num_windows = (max_len - k) // stride + 1
        self.num_tokens = self.num_windows + (1 if prefix is not None else 0)

        digits = np.full(256, -1, dtype=np.int64)
        if unknown in alphabet:
            digits[:] = alphabet.index(unknown)
        for i, ch in enumerate(alphabet):
            digits[ord(ch)] = i
            digits[ord(ch.lower())] = i
        self._digits = digits
        self._first_id = len(specials)
        self._unk_id = self._ids[unknown] if unknown in specials else -1
        self._pad_id = self._ids[pad] if pad in specials else -1
        self._pad_code = -1 if pad in specials else ord(pad)
        self._prefix_id = self._ids[prefix] if prefix is not None else -1

    # -- properties -------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of token ids (``len(vocab)``)."""
        return len(self.vocab)

    @property
    def unk_id(self) -> int | None:
        """Id of the unknown token, or None when unknown letters map to a letter."""
        return self._unk_id if self._unk_id >= 0 else None

    @property
    def pad_id(self) -> int | None:
        """Id of the padding token, or None when padding is a letter (e.g. ``N``)."""
        return self._pad_id if self._pad_id >= 0 else None

    def token_to_id(self, token: str) -> int:
        """Id of a token string (a special, or a k-mer in upper case).

        Raises
        ------
        KeyError
            When ``token`` is not in :attr:`vocab`.
        """
        try:
            return self._ids[token]
        except KeyError:
            raise KeyError(
                f"{token!r} is not a token of {self.name!r} (k={self.k}, specials {self.specials!r})"
            ) from None

    def config(self) -> dict[str, Any]:
        """The settings that rebuild this tokenizer with :meth:`from_config` (JSON-friendly)."""
        return {
            "class": type(self).__name__,
            "name": self.name,
            "alphabet": self.alphabet,
            "k": self.k,
            "stride": self.stride,
            "max_len": self.max_len,
            "specials": list(self.specials),
            "pad": self.pad,
            "unknown": self.unknown,
            "prefix": self.prefix,
            "padding_side": self.padding_side,
        }

    @staticmethod
    def from_config(config: dict[str, Any]) -> Tokenizer:
        """Rebuild a tokenizer from :meth:`config`'s dict (e.g. read back from a store)."""
        cfg = dict(config)
        classes = {c.__name__: c for c in (Tokenizer, CharTokenizer, KmerTokenizer)}
        cls = classes.get(cfg.pop("class", "Tokenizer"))
        if cls is None:
            raise ValueError(
                f"unknown tokenizer class {config.get('class')!r} in config {config!r}; valid: {sorted(classes)!r}"
            )
        if cls is CharTokenizer:
            for key in ("k", "stride", "prefix"):
                cfg.pop(key, None)
        return cls(**cfg)

    # -- encoding ---------------------------------------------------------------------------

    def _encode_into(
        self,
        codes: np.ndarray,
        lengths: np.ndarray,
        tokens: np.ndarray,
        mask: np.ndarray,
        fn: Callable | None = None,
    ) -> None:
        """Run the kernel (or ``fn``, e.g. its ``.py_func``) on normalised inputs."""
        (fn or _tokenize_kernel)(
            codes,
            lengths,
            self._digits,
            len(self.alphabet),
            self.k,
            self.stride,
            self.max_len,
            self.padding_side == "left",
            self._pad_code,
            self._pad_id,
            self._unk_id,
            self._first_id,
            self._prefix_id,
            tokens,
            mask,
        )

    def encode_batch_numpy(
        self, codes: np.ndarray, lengths: np.ndarray, *, out: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tokenize a block of stored barcodes into numpy arrays (one kernel call).

        This is the form used to precompute token arrays into a store.

        Parameters
        ----------
        codes : numpy.ndarray of uint8, shape (N, L)
            ASCII codes, 0-padded (``L`` need not equal :attr:`max_len`).
        lengths : numpy.ndarray of int, shape (N,)
            Length of each row; ``-1`` (missing) tokenizes as the empty sequence.
        out : (numpy.ndarray, numpy.ndarray) or None
            C-contiguous int32 and uint8 arrays of shape ``(N, T)`` to write into (e.g. buffers
            reused chunk after chunk while building a store); new arrays when None.

        Returns
        -------
        tokens : numpy.ndarray of int32, shape (N, T)
        attention_mask : numpy.ndarray of uint8, shape (N, T)
            ``out`` itself when given.
        """
        codes, lengths, _ = _as_batch(codes, lengths)
        shape = (len(lengths), self.num_tokens)
        if out is None:
            tokens = np.empty(shape, dtype=np.int32)
            mask = np.empty(shape, dtype=np.uint8)
        else:
            tokens, mask = out
            for arr, dtype, what in ((tokens, np.int32, "tokens"), (mask, np.uint8, "mask")):
                if (
                    not isinstance(arr, np.ndarray)
                    or arr.shape != shape
                    or arr.dtype != dtype
                    or not arr.flags.c_contiguous
                    or not arr.flags.writeable
                ):
                    raise ValueError(
                        f"out {what} must be a writeable C-contiguous {np.dtype(dtype).name} array of shape "
                        f"{shape!r}, got {getattr(arr, 'dtype', type(arr))!r} of shape {np.shape(arr)!r}"
                    )
        self._encode_into(codes, lengths, tokens, mask)
        return tokens, mask

    def encode_batch(self, codes: np.ndarray, lengths: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenize a block of stored barcodes into tensors (one kernel call).

        Parameters
        ----------
        codes : numpy.ndarray of uint8, shape (N, L)
            ASCII codes, 0-padded.
        lengths : numpy.ndarray of int, shape (N,)
            Length of each row; ``-1`` (missing) tokenizes as the empty sequence.

        Returns
        -------
        tokens : torch.LongTensor, shape (N, T)
        attention_mask : torch.LongTensor, shape (N, T)
        """
        codes, lengths, _ = _as_batch(codes, lengths)
        tokens = np.empty((len(lengths), self.num_tokens), dtype=np.int64)
        mask = np.empty((len(lengths), self.num_tokens), dtype=np.int64)
        self._encode_into(codes, lengths, tokens, mask)
        torch = _torch()
        return torch.from_numpy(tokens), torch.from_numpy(mask)

    def encode_codes(self, codes_row: np.ndarray, length: int) -> torch.Tensor:
        """Token ids of one stored barcode row (no ``str`` round trip).

        Parameters
        ----------
        codes_row : numpy.ndarray of uint8, shape (L,)
            One row of a store's ``/dna/codes``.
        length : int
            Its length (``-1``: missing, tokenized as the empty sequence).

        Returns
        -------
        torch.LongTensor, shape (T,)
        """
        return self.encode_codes_with_mask(codes_row, length)[0]

    def encode_codes_with_mask(self, codes_row: np.ndarray, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask of one stored barcode row.

        Parameters
        ----------
        codes_row : numpy.ndarray of uint8, shape (L,)
        length : int

        Returns
        -------
        tokens, attention_mask : torch.LongTensor, shape (T,)
        """
        if np.ndim(codes_row) != 1:
            raise ValueError(f"codes_row must be one row (shape (L,)), got shape {np.shape(codes_row)!r}")
        codes, lengths, _ = _as_batch(codes_row, length)
        tokens = np.empty((1, self.num_tokens), dtype=np.int64)
        mask = np.empty((1, self.num_tokens), dtype=np.int64)
        self._encode_into(codes, lengths, tokens, mask)
        torch = _torch()
        return torch.from_numpy(tokens[0]), torch.from_numpy(mask[0])

    def encode(self, seq: str | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask of a barcode string.

        Parameters
        ----------
        seq : str or None
            The barcode; anything that is not a ``str`` (``None``, ``NaN``) is missing and
            tokenizes as the empty sequence. Non-ASCII characters count as unknown letters.

        Returns
        -------
        tokens, attention_mask : torch.LongTensor, shape (T,)
        """
        row, length = _str_codes(seq)
        return self.encode_codes_with_mask(row, length)

    def __call__(self, seq: str | None) -> torch.Tensor:
        """Token ids of a barcode string, shape ``(T,)``: usable as a ``dna_transform``."""
        return self.encode(seq)[0]

    # -- decoding ---------------------------------------------------------------------------

    def decode(self, tokens: Sequence[int] | np.ndarray | torch.Tensor, length: int | None = None) -> str:
        """The letters that a row of token ids stands for.

        Parameters
        ----------
        tokens : sequence of int, numpy.ndarray or torch.Tensor, shape (T,)
            One tokenized sequence.
        length : int or None
            The sequence's length (as stored; ``-1`` for missing). When given, the result is
            the first ``min(length, max_len)`` letters, upper case, and padding windows are
            ignored. When None, a padding *token* (``P``) ends the sequence, while padding
            with a *letter* (``N``) cannot be told from real letters: the whole padded
            window is returned (which fails for k-mer presets, whose padding is ``[UNK]``).

        Returns
        -------
        str

        Raises
        ------
        ValueError
            If the letters cannot be recovered: an unknown token (its letters were lost), a
            special token among the letters, ``stride > k`` (letters between windows are not
            kept), overlapping windows that disagree, or a wrong number of tokens.
        """
        ids = np.asarray(tokens)
        if ids.shape != (self.num_tokens,):
            raise ValueError(
                f"{self.name!r} makes {self.num_tokens} tokens per sequence, got shape {ids.shape!r}"
            )
        if self.stride > self.k:
            raise ValueError(
                f"{self.name!r} is not invertible: stride {self.stride} > k {self.k} skips letters between windows"
            )
        ids = [int(t) for t in ids]
        first = 1 if self.prefix is not None else 0
        wins = ids[first:]
        left = self.padding_side == "left"
        cover = (self.num_windows - 1) * self.stride + self.k  # padded positions the windows cover
        if length is not None:
            n = min(max(int(length), 0), self.max_len)
        elif self._pad_id >= 0:
            n = sum(1 for t in wins if t != self._pad_id)
        else:
            n = cover if not left else self.max_len
        lo = self.max_len - n if left else 0
        hi = lo + n
        if hi > cover or lo < 0:
            raise ValueError(
                f"{self.name!r} keeps letters 0..{cover} of the padded {self.max_len}; "
                f"letters {lo}..{hi} cannot be recovered"
            )
        letters: list[str | None] = [None] * cover
        for j, tok in enumerate(wins):
            start = j * self.stride
            if start >= hi or start + self.k <= lo:
                continue  # a window outside the sequence: padding only
            if tok == self._pad_id:
                raise ValueError(f"token {first + j} is the padding token {self.pad!r}, inside the sequence")
            if not 0 <= tok < len(self.vocab):
                raise ValueError(
                    f"token {first + j} is {tok}, outside the vocabulary (0..{len(self.vocab) - 1})"
                )
            if tok < self._first_id:
                why = " (its letters were not in the alphabet and are lost)" if tok == self._unk_id else ""
                raise ValueError(
                    f"cannot decode token {first + j}: id {tok} is the special {self.vocab[tok]!r}{why}; "
                    f"{self.name!r} decodes only k-mers of {self.alphabet!r}"
                )
            for t, ch in enumerate(self.vocab[tok]):
                p = start + t
                if letters[p] is not None and letters[p] != ch:
                    raise ValueError(f"overlapping windows disagree at letter {p}: {letters[p]!r} vs {ch!r}")
                letters[p] = ch
        return "".join(ch or "" for ch in letters[lo:hi])

    # -- misc -------------------------------------------------------------------------------

    def _repr_fields(self) -> list[str]:
        return [
            f"name={self.name!r}",
            f"k={self.k}",
            f"stride={self.stride}",
            f"max_len={self.max_len}",
            f"num_tokens={self.num_tokens}",
            f"vocab_size={self.vocab_size}",
            f"alphabet={self.alphabet!r}",
            f"specials={self.specials!r}",
            f"pad={self.pad!r}",
            f"unknown={self.unknown!r}",
            f"prefix={self.prefix!r}",
            f"padding_side={self.padding_side!r}",
        ]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._repr_fields())})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tokenizer):
            return NotImplemented
        return self.config() == other.config()

    def __hash__(self) -> int:
        return hash(tuple(sorted((key, repr(v)) for key, v in self.config().items())))


class CharTokenizer(Tokenizer):
    """Character-level tokenizer: one token per letter, padded to ``max_len``.

    The defaults are the peer README's map ``{"P": 0, "A": 1, "C": 2, "G": 3, "T": 4,
    "N": 5}``, padded on the right with the token ``P`` to 660 letters. Letters outside the
    alphabet (other IUPAC codes, ``'-'``, anything else) get the id of ``unknown``: ``N``
    (5) by default, since that map has no unknown token.

    Parameters
    ----------
    alphabet : str
        Letters with ids of their own, upper case, in id order after ``specials``.
    max_len : int
        Letters (= tokens) per sequence.
    specials : sequence of str
        Tokens with the first ids (the default ``("P",)`` puts ``P`` at 0).
    pad : str
        One of ``specials`` (a padding token) or a letter (e.g. ``"N"``, fed through the
        mapping like a real letter).
    unknown : str
        A letter of ``alphabet`` or one of ``specials``.
    padding_side : {"right", "left"}
    name : str

    Examples
    --------
    >>> tok = CharTokenizer(max_len=8)
    >>> tok("ACgtR").tolist()
    [1, 2, 3, 4, 5, 0, 0, 0]
    >>> tok.decode(tok("ACGTN"))
    'ACGTN'
    """

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
    ) -> None:
        super().__init__(
            alphabet,
            1,
            1,
            max_len,
            specials=specials,
            pad=pad,
            unknown=unknown,
            prefix=None,
            padding_side=padding_side,
            name=name,
        )

    def _repr_fields(self) -> list[str]:
        return [f for f in super()._repr_fields() if not f.startswith(("k=", "stride=", "prefix="))]


class KmerTokenizer(Tokenizer):
    """k-mer tokenizer: windows of ``k`` letters every ``stride`` letters, padded with ``N``.

    The vocabulary is ``specials`` followed by every k-mer of ``alphabet`` in
    :func:`itertools.product` order; a window with any letter outside the alphabet
    (padding ``N`` included, when ``N`` is not in the alphabet) gets the id of ``unknown``.
    The defaults are BarcodeBERT's (``[MASK]=0``, ``[UNK]=1``, ``ACGT``, max_len 660).

    Parameters
    ----------
    k : int
        Letters per k-mer.
    stride : int or None
        Step between k-mers; None means ``k`` (non-overlapping).
    max_len : int
        Letters the sequence is truncated or padded to before windowing.
    alphabet : str
    specials : sequence of str
    unknown : str
        One of ``specials``.
    pad : str
        The padding letter.
    prefix : str or None
        One of ``specials`` to prepend (CLIBD prepends ``<MASK>``).
    padding_side : {"right", "left"}
    name : str or None
        Defaults to ``"kmer{k}"``.

    Examples
    --------
    >>> tok = KmerTokenizer(4, max_len=12)
    >>> tok("ACGTacgtAC").tolist()  # ACGT = 0*64 + 1*16 + 2*4 + 3 = 27, plus 2 specials
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
    ) -> None:
        if pad in specials:
            raise ValueError(
                f"KmerTokenizer pads with a letter (e.g. 'N'), not a special token; got pad={pad!r}"
            )
        super().__init__(
            alphabet,
            k,
            stride,
            max_len,
            specials=specials,
            pad=pad,
            unknown=unknown,
            prefix=prefix,
            padding_side=padding_side,
            name=f"kmer{k}" if name is None else name,
        )


# ----------------------------------------------------------------------------------------------
# Presets and registry
# ----------------------------------------------------------------------------------------------


def barcodebert_tokenizer(k: int = 4) -> KmerTokenizer:
    """BarcodeBERT's tokenizer: non-overlapping k-mers of ``ACGT``, padded with N to 660.

    ``[MASK]=0``, ``[UNK]=1``, then the ``4**k`` k-mers in product order; ``660 // k``
    tokens (165 for k = 4); attention mask 1 on the first ``len(seq) // k``.

    Parameters
    ----------
    k : int
        k-mer size (BarcodeBERT's default is 4; 5 and 6 were published too).

    Returns
    -------
    KmerTokenizer
        Named ``"barcodebert"`` for k = 4, ``"barcodebert-k{k}"`` otherwise.
    """
    return KmerTokenizer(
        k,
        stride=k,
        max_len=660,
        alphabet="ACGT",
        specials=("[MASK]", "[UNK]"),
        unknown="[UNK]",
        pad="N",
        name="barcodebert" if int(k) == 4 else f"barcodebert-k{int(k)}",
    )


def clibd_tokenizer() -> KmerTokenizer:
    """CLIBD's DNA tokenizer: 5-mers, stride 5, padded with N to 660, ``<MASK>`` prepended.

    ``<MASK>=0``, ``<CLS>=1``, ``<UNK>=2``, then the 1024 5-mers in product order; 133
    tokens. CLIBD feeds its encoder no attention mask; ours is 1 on the prefix and the first
    ``len(seq) // 5`` k-mers (use all ones to match CLIBD's embeddings exactly).

    Returns
    -------
    KmerTokenizer
    """
    return KmerTokenizer(
        5,
        stride=5,
        max_len=660,
        alphabet="ACGT",
        specials=("<MASK>", "<CLS>", "<UNK>"),
        unknown="<UNK>",
        pad="N",
        prefix="<MASK>",
        name="clibd",
    )


def barcodemamba_tokenizer() -> CharTokenizer:
    """BarcodeMamba's character tokenizer (vocab of 8), left-padded with N to 660.

    ``[MASK]=0``, ``[SEP]=1``, ``[UNK]=2``, ``A=3``, ``C=4``, ``G=5``, ``T=6``, ``N=7``;
    letters outside ``ACGTN`` are ``[UNK]``; attention mask 1 on the real letters.

    Returns
    -------
    CharTokenizer
    """
    return CharTokenizer(
        "ACGTN",
        660,
        specials=("[MASK]", "[SEP]", "[UNK]"),
        pad="N",
        unknown="[UNK]",
        padding_side="left",
        name="barcodemamba",
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
