"""Constants shared by the tokenizer tests (a plain module: the test folders are not packages)."""

from __future__ import annotations

from plugins.tokenizers import BPE, HFBPE, ByteLevelBPE, HFByteLevelBPE, HFWordPiece, WordPiece

ALL_TOKENIZERS = (BPE, WordPiece, ByteLevelBPE, HFBPE, HFWordPiece, HFByteLevelBPE)
NAMES = [cls.name for cls in ALL_TOKENIZERS]
SMALL_VOCAB = 600
