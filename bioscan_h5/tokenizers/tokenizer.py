"""The :class:`Tokenizer` base class: its settings (checked once, turned into the kernel's
arguments), vocabulary, encoding and decoding, and the sequence options applied to stored codes
before tokenizing (BarcodeBERT's pretraining pipeline)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .kernels import TokenizeArgs, as_batch, out_arrays, str_codes, tokenize_kernel

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["Tokenizer", "config_class"]

_T = TypeVar("_T", bound="type[Tokenizer]")
_N = ord("N")

#: The sequence options of a tokenizer (:meth:`Tokenizer.with_options`), in its config when on.
SEQUENCE_OPTIONS = ("strip_trailing_n", "random_offset")

#: The attributes ``repr`` shows, in order (less a class's ``_implied`` settings).
_REPR_FIELDS: tuple[str, ...] = ("name", "k", "stride", "max_len", "num_tokens", "vocab_size", "alphabet")
_REPR_FIELDS += ("specials", "pad", "unknown", "prefix", "padding_side", "uppercase")

#: The settings :meth:`Tokenizer.config` records, in order.
_CONFIG_FIELDS: tuple[str, ...] = ("name", "alphabet", "k", "stride", "max_len", "specials")
_CONFIG_FIELDS += ("pad", "unknown", "prefix", "padding_side", "uppercase")

#: The classes :meth:`Tokenizer.from_config` rebuilds, by name (see :func:`config_class`).
_CONFIG_CLASSES: dict[str, type[Tokenizer]] = {}

#: Valid ``padding_side`` values.
PADDING_SIDES = ("right", "left")

#: The most k-mers an alphabet and ``k`` may give (the vocabulary is built in memory).
MAX_KMERS = 1 << 24


def check_settings(
    alphabet: str,
    k: int,
    stride: int | None,
    max_len: int,
    specials: Sequence[str],
    pad: str,
    unknown: str,
    prefix: str | None,
    padding_side: str,
) -> tuple[int, int, int, list[str], list[str]]:
    """``k``, ``stride`` (None made ``k``) and ``max_len`` as ints, ``specials`` as a list of str, and
    every k-mer of the alphabet in :func:`itertools.product` order; a ValueError names the first
    setting that is out of range or inconsistent with the others."""
    k = int(k)
    stride = k if stride is None else int(stride)
    max_len = int(max_len)
    specials = [str(s) for s in specials]
    if not isinstance(alphabet, str) or not alphabet:
        raise ValueError(f"alphabet must be a non-empty str of letters, got {alphabet!r}")
    if alphabet != alphabet.upper() or len(set(alphabet)) != len(alphabet) or not alphabet.isascii():
        raise ValueError(
            f"alphabet must hold distinct upper-case ASCII letters (lower case is unknown, or upper case "
            f"with uppercase=True), got {alphabet!r}"
        )
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1 (or None for k), got {stride!r}")
    if max_len < k:
        raise ValueError(f"max_len must be >= k ({k}) so that one window fits, got {max_len!r}")
    if len(alphabet) ** k > MAX_KMERS:
        raise ValueError(
            f"{len(alphabet)} letters and k={k} give {len(alphabet) ** k} k-mers, more than "
            f"{MAX_KMERS}; use a smaller k"
        )
    if len(set(specials)) != len(specials):
        raise ValueError(f"specials must be distinct, got {specials!r}")
    kmers = ["".join(p) for p in itertools.product(alphabet, repeat=k)]
    clash = set(specials) & set(kmers)
    if clash:
        raise ValueError(f"specials {sorted(clash)!r} clash with k-mers of the alphabet {alphabet!r}")
    if padding_side not in PADDING_SIDES:
        raise ValueError(f"padding_side must be one of {PADDING_SIDES!r}, got {padding_side!r}")
    if pad in specials:
        if k != 1:
            raise ValueError(f"a padding token ({pad!r}) needs k == 1; pad k-mers with a letter such as 'N'")
    elif not (isinstance(pad, str) and len(pad) == 1 and pad.isascii()):
        raise ValueError(f"pad must be one ASCII letter or one of specials {specials!r}, got {pad!r}")
    if unknown not in specials and not (k == 1 and isinstance(unknown, str) and unknown in alphabet):
        valid = f"one of specials {specials!r}" + (f" or a letter of {alphabet!r}" if k == 1 else "")
        raise ValueError(f"unknown must be {valid}, got {unknown!r}")
    if prefix is not None and prefix not in specials:
        raise ValueError(f"prefix must be None or one of specials {specials!r}, got {prefix!r}")
    return k, stride, max_len, specials, kmers


def tokenize_args(tok: Tokenizer) -> TokenizeArgs:
    """The kernel's tables and ids for a tokenizer's checked settings (specials take the first ids);
    with ``uppercase`` a lower-case letter counts as its upper-case letter, else as unknown."""
    alphabet, specials, pad, unknown, prefix = tok.alphabet, tok.specials, tok.pad, tok.unknown, tok.prefix
    digits = np.full(256, -1, dtype=np.int64)
    if unknown in alphabet:
        digits[:] = alphabet.index(unknown)
    for i, ch in enumerate(alphabet):
        digits[ord(ch)] = i
        if tok.uppercase:
            digits[ord(ch.lower())] = i
    return TokenizeArgs(
        digits=digits,
        base=len(alphabet),
        k=tok.k,
        stride=tok.stride,
        max_len=tok.max_len,
        left=tok.padding_side == "left",
        pad_code=-1 if pad in specials else ord(pad),
        pad_id=specials.index(pad) if pad in specials else -1,
        unk_id=specials.index(unknown) if unknown in specials else -1,
        first_id=len(specials),
        prefix_id=specials.index(prefix) if prefix is not None else -1,
    )


def config_class(cls: _T) -> _T:
    """Class decorator: let :meth:`Tokenizer.from_config` rebuild ``cls`` from its name."""
    _CONFIG_CLASSES[cls.__name__] = cls
    return cls


@config_class
class Tokenizer:
    """A DNA tokenizer over fixed windows of ``k`` letters (``k = 1``: character level).

    Use :class:`CharTokenizer`, :class:`KmerTokenizer` or a preset
    (:func:`get_tokenizer`); this base class holds the shared machinery. The rules are
    described in ``docs/tokenizers.md``.

    Parameters
    ----------
    alphabet : str
        The letters that have ids of their own, upper case, each once (e.g. ``"ACGT"``).
    k, stride : int
        Letters per token, and step between windows (``stride=None`` means ``k``, non-overlapping).
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
    uppercase : bool
        Count a lower-case letter as its upper-case letter. By default (as BarcodeBERT, CLIBD
        and BarcodeMamba do) a lower-case letter is a letter outside the alphabet.

    Attributes
    ----------
    vocab : list of str
        Token strings; ``vocab[i]`` is the token of id ``i``.
    num_tokens : int
        ``T``, the number of token ids produced per sequence.
    """

    #: Settings a subclass's constructor fixes (left out of ``repr`` and :meth:`from_config`).
    _implied: tuple[str, ...] = ()
    strip_trailing_n = random_offset = False  #: sequence options (:meth:`with_options`)

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
        uppercase: bool = False,
    ) -> None:
        checked = check_settings(alphabet, k, stride, max_len, specials, pad, unknown, prefix, padding_side)
        self.k, self.stride, self.max_len, self.specials, kmers = checked
        self.name = str(name)
        self.alphabet = alphabet
        self.pad = pad
        self.unknown = unknown
        self.prefix = prefix
        self.padding_side = padding_side
        self.uppercase = bool(uppercase)
        self.vocab: list[str] = [*self.specials, *kmers]
        self._ids = {tok: i for i, tok in enumerate(self.vocab)}
        self.num_windows = (self.max_len - self.k) // self.stride + 1
        self.num_tokens = self.num_windows + (1 if prefix is not None else 0)
        self._args = tokenize_args(self)

    @property
    def vocab_size(self) -> int:
        """Number of token ids (``len(vocab)``)."""
        return len(self.vocab)

    @property
    def unk_id(self) -> int | None:
        """Id of the unknown token, or None when unknown letters map to a letter."""
        return self._args.unk_id if self._args.unk_id >= 0 else None

    @property
    def pad_id(self) -> int | None:
        """Id of the padding token, or None when padding is a letter (e.g. ``N``)."""
        return self._args.pad_id if self._args.pad_id >= 0 else None

    def token_to_id(self, token: str) -> int:
        """Id of a token string (a special, or a k-mer in upper case); a KeyError for a string not
        in :attr:`vocab`."""
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
            **{key: copy.copy(getattr(self, key)) for key in _CONFIG_FIELDS},
            **{key: True for key in SEQUENCE_OPTIONS if getattr(self, key)},
        }

    @staticmethod
    def from_config(config: dict[str, Any]) -> Tokenizer:
        """Rebuild a tokenizer from :meth:`config`'s dict (e.g. read back from a store)."""
        cfg = dict(config)
        options = {key: bool(cfg.pop(key)) for key in SEQUENCE_OPTIONS if key in cfg}
        cls = _CONFIG_CLASSES.get(cfg.pop("class", "Tokenizer"))
        if cls is None:
            raise ValueError(
                f"unknown tokenizer class {config.get('class')!r} in config {config!r}; "
                f"valid: {sorted(_CONFIG_CLASSES)!r}"
            )
        for key in cls._implied:
            cfg.pop(key, None)
        cfg.setdefault("uppercase", True)  # configs older than the setting come from upper-casing tokenizers
        return cls(**cfg).with_options(**options)

    def with_options(self, *, strip_trailing_n: bool = False, random_offset: bool = False) -> Tokenizer:
        """A copy that prepares each sequence as BarcodeBERT's pretraining does.

        Parameters
        ----------
        strip_trailing_n : bool
            Tokenize ``seq.rstrip("N")`` (the trailing ``N`` run is dropped, then padding added).
        random_offset : bool
            Start each sequence at a random offset in ``0 .. k - 1`` (drawn per sequence from
            torch's global generator, per call): ``seq[offset:]``, after the strip. Tokens then
            differ from call to call, and precomputed store tokens are never used for it. Read
            whole barcodes (``max_nucleotides=None``) for BarcodeBERT's exact tokens: its window
            after the offset reaches ``offset`` letters past a 660-letter cut.
        """
        out = copy.copy(self)
        out.strip_trailing_n, out.random_offset = bool(strip_trailing_n), bool(random_offset)
        return out

    def _encode_into(
        self,
        codes: np.ndarray,
        lengths: np.ndarray,
        tokens: np.ndarray,
        mask: np.ndarray,
        fn: Callable | None = None,
    ) -> None:
        """Run the kernel (or ``fn``, e.g. its ``.py_func``) on normalised inputs and sequence options."""
        if self.strip_trailing_n or self.random_offset:
            offsets = None
            if self.random_offset:  # torch's global generator: seeded per DataLoader worker
                import torch

                offsets = torch.randint(self.k, (len(lengths),)).numpy().astype(np.int64)
            codes, lengths = _trim_codes(codes, lengths, self.strip_trailing_n, offsets)
        (fn or tokenize_kernel)(codes, lengths, self._args, tokens, mask)

    def _encode_tensors(
        self, codes: np.ndarray, lengths: np.ndarray | int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens and mask as 2-D LongTensors (int64 arrays, which torch takes without a copy)."""
        import torch

        codes, lengths, _ = as_batch(codes, lengths)
        tokens = np.empty((len(lengths), self.num_tokens), dtype=np.int64)
        mask = np.empty_like(tokens)
        self._encode_into(codes, lengths, tokens, mask)
        return torch.from_numpy(tokens), torch.from_numpy(mask)

    def encode_batch_numpy(
        self, codes: np.ndarray, lengths: np.ndarray, *, out: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tokenize a block of stored barcodes into numpy arrays (one kernel call).

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
        codes, lengths, _ = as_batch(codes, lengths)
        tokens, mask = out_arrays(out, (len(lengths), self.num_tokens))
        self._encode_into(codes, lengths, tokens, mask)
        return tokens, mask

    def encode_batch(self, codes: np.ndarray, lengths: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenize a block of stored barcodes into tensors (one kernel call).

        ``codes`` and ``lengths`` are as in :meth:`encode_batch_numpy`; returns ``tokens`` and
        ``attention_mask``, LongTensors of shape ``(N, T)``.
        """
        return self._encode_tensors(codes, lengths)

    def encode_codes(self, codes_row: np.ndarray, length: int) -> torch.Tensor:
        """Token ids of one stored barcode row (no ``str`` round trip), a LongTensor of shape ``(T,)``.

        Parameters
        ----------
        codes_row : numpy.ndarray of uint8, shape (L,)
            One row of a store's ``/dna/codes``.
        length : int
            Its length (``-1``: missing, tokenized as the empty sequence).
        """
        return self.encode_codes_with_mask(codes_row, length)[0]

    def encode_codes_with_mask(self, codes_row: np.ndarray, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask (LongTensors of shape ``(T,)``) of one stored barcode
        row; ``codes_row`` and ``length`` as in :meth:`encode_codes`."""
        if np.ndim(codes_row) != 1:
            raise ValueError(f"codes_row must be one row (shape (L,)), got shape {np.shape(codes_row)!r}")
        tokens, mask = self._encode_tensors(codes_row, length)
        return tokens[0], mask[0]

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
        row, length = str_codes(seq)
        return self.encode_codes_with_mask(row, length)

    def __call__(self, seq: str | None) -> torch.Tensor:
        """Token ids of a barcode string, shape ``(T,)``: usable as a ``dna_transform``."""
        return self.encode(seq)[0]

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

        Raises
        ------
        ValueError
            If the letters cannot be recovered: an unknown token (its letters were lost), a
            special token among the letters, ``stride > k`` (letters between windows are not
            kept), overlapping windows that disagree, or a wrong number of tokens.
        """
        args, pad_id, vocab = self._args, self._args.pad_id, self.vocab
        name, k, stride, max_len = self.name, self.k, self.stride, self.max_len
        ids = np.asarray(tokens)
        if ids.shape != (self.num_tokens,):
            raise ValueError(f"{name!r} makes {self.num_tokens} tokens per sequence, got shape {ids.shape!r}")
        if stride > k:
            raise ValueError(
                f"{name!r} is not invertible: stride {stride} > k {k} skips letters between windows"
            )
        first = 1 if self.prefix is not None else 0
        wins = [int(t) for t in ids][first:]
        left = self.padding_side == "left"
        cover = (self.num_windows - 1) * stride + k  # padded positions the windows cover
        if length is not None:
            n = min(max(int(length), 0), max_len)
        elif pad_id >= 0:
            n = sum(1 for t in wins if t != pad_id)
        else:
            n = cover if not left else max_len
        lo = max_len - n if left else 0
        hi = lo + n
        if hi > cover or lo < 0:
            raise ValueError(
                f"{name!r} keeps letters 0..{cover} of the padded {max_len}; "
                f"letters {lo}..{hi} cannot be recovered"
            )
        letters: list[str | None] = [None] * cover
        for j, tok in enumerate(wins):
            start = j * stride
            if start >= hi or start + k <= lo:
                continue  # a window outside the sequence: padding only
            if tok == pad_id:
                raise ValueError(f"token {first + j} is the padding token {self.pad!r}, inside the sequence")
            if not 0 <= tok < len(vocab):
                raise ValueError(f"token {first + j} is {tok}, outside the vocabulary (0..{len(vocab) - 1})")
            if tok < args.first_id:
                why = " (its letters were not in the alphabet and are lost)" if tok == args.unk_id else ""
                raise ValueError(
                    f"cannot decode token {first + j}: id {tok} is the special {vocab[tok]!r}{why}; "
                    f"{name!r} decodes only k-mers of {self.alphabet!r}"
                )
            for t, ch in enumerate(vocab[tok]):
                p = start + t
                if letters[p] is not None and letters[p] != ch:
                    raise ValueError(f"overlapping windows disagree at letter {p}: {letters[p]!r} vs {ch!r}")
                letters[p] = ch
        return "".join(ch or "" for ch in letters[lo:hi])

    def __repr__(self) -> str:
        keys = [k for k in _REPR_FIELDS if k not in self._implied]
        keys += [key for key in SEQUENCE_OPTIONS if getattr(self, key)]
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in keys)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tokenizer):
            return NotImplemented
        return self.config() == other.config()

    def __hash__(self) -> int:
        return hash(tuple(sorted((key, repr(v)) for key, v in self.config().items())))


def _trim_codes(
    codes: np.ndarray, lengths: np.ndarray, strip_trailing_n: bool, offsets: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """New ``(codes, lengths)`` of ``seq.rstrip("N")[offset:]`` per row, vectorised; a length of
    ``-1`` (missing) stays ``-1``."""
    lengths = lengths.copy()
    width = codes.shape[1]
    pos = np.arange(width)
    if strip_trailing_n and width:
        real = (codes != _N) & (pos < lengths[:, None])
        last = width - np.argmax(real[:, ::-1], axis=1)  # one past the last real letter
        last[~real.any(axis=1)] = 0
        lengths = np.where(lengths >= 0, np.minimum(lengths, last), -1)
    if offsets is not None and width:
        take = np.minimum(pos[None, :] + offsets[:, None], width - 1)
        codes = np.take_along_axis(codes, take, axis=1)
        lengths = np.where(lengths >= 0, np.maximum(lengths - offsets, 0), -1)
    return np.ascontiguousarray(codes), lengths
