"""DNA barcode tokenizers that work on the stored uint8 codes, in bulk or one sample at a time.

What each preset produces, the vocabularies and the padding, truncation and unknown-letter
rules are in ``docs/tokenizers.md``.
"""

from .masking import MaskTokens, mask_tokens, substitute_tokens
from .presets import (
    PEER_CHAR_VOCAB,
    TOKENIZER_PRESETS,
    CharTokenizer,
    KmerTokenizer,
    barcodebert_tokenizer,
    barcodemamba_tokenizer,
    clibd_tokenizer,
    get_tokenizer,
)
from .reverse_complement import reverse_complement, reverse_complement_codes
from .tokenizer import Tokenizer

__all__ = [
    "PEER_CHAR_VOCAB",
    "TOKENIZER_PRESETS",
    "CharTokenizer",
    "KmerTokenizer",
    "MaskTokens",
    "Tokenizer",
    "barcodebert_tokenizer",
    "barcodemamba_tokenizer",
    "clibd_tokenizer",
    "get_tokenizer",
    "mask_tokens",
    "reverse_complement",
    "reverse_complement_codes",
    "substitute_tokens",
]
