"""CLIP's byte-level BPE tokenizer (Radford et al. 2021, https://arxiv.org/abs/2103.00020), as MMSeg's
``mmseg.utils.tokenizer`` uses it: the same vocabulary file, ids and ``tokenize`` output.

Text is cleaned (HTML entities unescaped twice, NFC, whitespace collapsed, lower-cased), split into
words, letter runs, single digits and runs of other symbols, mapped byte by byte onto printable
characters and merged by the ranked BPE merges. Unlike CLIP we do not run ``ftfy`` (mojibake repair):
it changes only broken text and would be one more dependency. The vocabulary ships next to this file
(CLIP's MIT licence: LICENSE-CLIP).
"""
from __future__ import annotations

import functools
import gzip
import html
import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["DEFAULT_BPE_PATH", "CLIPTokenizer", "clip_tokenizer"]

DEFAULT_BPE_PATH = str(Path(__file__).with_name("bpe_simple_vocab_16e6.txt.gz"))
_SOT, _EOT = "<start_of_text>", "<end_of_text>"
_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")  # tried in this order, as CLIP's pattern
_NUM_MERGES = 49152 - 256 - 2  # CLIP keeps this many merges of the file (the rest are unused)


@functools.lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """Byte -> printable character: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _kind(char: str) -> str:
    """'space', 'letter', 'number' or 'other' (CLIP's \\s, \\p{L}, \\p{N} classes)."""
    if char.isspace():
        return "space"
    category = unicodedata.category(char)
    return {"L": "letter", "N": "number"}.get(category[0], "other")


def split_words(text: str) -> list[str]:
    """Pre-tokenise cleaned text: special tokens, contractions, letter runs, single digits, symbol runs."""
    pieces: list[str] = []
    i, n = 0, len(text)
    while i < n:
        special = next((s for s in (_SOT, _EOT) if text.startswith(s, i)), None)
        contraction = next((c for c in _CONTRACTIONS if text.startswith(c, i)), None)
        kind = _kind(text[i])
        if special or contraction:
            piece = special or contraction
        elif kind == "space":
            i += 1
            continue
        elif kind == "number":
            piece = text[i]
        else:  # a run of letters, or a run of anything that is neither space, letter nor number
            j = i + 1
            while j < n and _kind(text[j]) == kind:
                j += 1
            piece = text[i:j]
        pieces.append(piece)
        i += len(piece)
    return pieces


def clean_text(text: str) -> str:
    """Unescape HTML (twice, as CLIP), NFC-normalise, collapse whitespace and lower-case."""
    text = unicodedata.normalize("NFC", html.unescape(html.unescape(text))).strip()
    return re.sub(r"\s+", " ", text).strip().lower()


class CLIPTokenizer:
    """Text -> CLIP token ids (49408 ids: 256 bytes, 256 word-final bytes, 48894 merges, 2 specials)."""

    def __init__(self, bpe_path: str | os.PathLike = DEFAULT_BPE_PATH) -> None:
        if not os.path.isfile(bpe_path):
            raise FileNotFoundError(f"CLIPTokenizer: BPE vocabulary {os.fspath(bpe_path)!r} not found; pass the path "
                                    "of CLIP's bpe_simple_vocab_16e6.txt.gz")
        with gzip.open(bpe_path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges = [tuple(line.split()) for line in lines[1 : _NUM_MERGES + 1]]  # line 0 is a version header
        bytes_ = list(byte_to_unicode().values())
        vocab = bytes_ + [b + "</w>" for b in bytes_] + ["".join(m) for m in merges] + [_SOT, _EOT]
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.decoder = {i: token for token, i in self.encoder.items()}
        self.ranks = {merge: i for i, merge in enumerate(merges)}
        self.sot_id, self.eot_id = self.encoder[_SOT], self.encoder[_EOT]
        self.vocab_size = len(self.encoder)
        self._cache: dict[str, tuple[str, ...]] = {_SOT: (_SOT,), _EOT: (_EOT,)}

    def bpe(self, word: str) -> tuple[str, ...]:
        """Merge the characters of one (byte-mapped) word; the last symbol carries the '</w>' end mark."""
        if word in self._cache:
            return self._cache[word]
        symbols = [*word[:-1], word[-1] + "</w>"]
        while len(symbols) > 1:
            pairs = {(a, b) for a, b in zip(symbols, symbols[1:])}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        self._cache[word] = tuple(symbols)
        return self._cache[word]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without the start/end tokens."""
        table = byte_to_unicode()
        ids: list[int] = []
        for piece in split_words(clean_text(text)):
            mapped = "".join(table[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[s] for s in self.bpe(mapped))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` (word ends become spaces; special tokens stay as written)."""
        back = {c: b for b, c in byte_to_unicode().items()}
        text = "".join(self.decoder[int(i)] for i in ids)
        return bytes(back[c] for c in text).decode("utf-8", errors="replace").replace("</w>", " ")

    def __call__(self, texts: str | Sequence[str], context_length: int = 77) -> torch.Tensor:
        """(len(texts), context_length) long ids: start, text, end, zero padding; too long -> cut, end kept."""
        if isinstance(texts, str):
            texts = [texts]
        out = torch.zeros(len(texts), context_length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.sot_id, *self.encode(text), self.eot_id]
            if len(ids) > context_length:
                ids = ids[:context_length]
                ids[-1] = self.eot_id
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out


@functools.lru_cache(maxsize=4)
def clip_tokenizer(bpe_path: str = DEFAULT_BPE_PATH) -> CLIPTokenizer:
    """A shared tokenizer per vocabulary file (reading the file takes about a second)."""
    return CLIPTokenizer(bpe_path)
