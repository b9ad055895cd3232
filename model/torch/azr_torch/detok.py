"""Token ids -> text inside the worker, so stop strings end generation without a round trip.

Covers: `tokenizer.json` with a ByteLevel decoder (GPT-2 byte <-> unicode table: Qwen2/2.5/3,
Llama 3) and SentencePiece-style vocabularies (`▁` for space, `<0xNN>` byte fallback); added
tokens by their content; special tokens (eos, pad, …) contribute no text; incomplete UTF-8 at
the end is held back until the next token completes it.
Not: encoding (prompts arrive as ids; the TypeScript tokenizer owns encoding and chat templates).
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional


def _bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


class Detokenizer:
    def __init__(self, pieces: Dict[int, bytes], special: set):
        self.pieces = pieces
        self.special = special

    @staticmethod
    def from_dir(model_dir: str) -> Optional["Detokenizer"]:
        path = os.path.join(model_dir, "tokenizer.json")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        vocab = (tj.get("model") or {}).get("vocab") or {}
        if isinstance(vocab, list):  # Unigram: [[piece, score], ...]
            vocab = {p[0]: i for i, p in enumerate(vocab)}
        dec = tj.get("decoder") or {}
        byte_level = dec.get("type") == "ByteLevel" or any(d.get("type") == "ByteLevel" for d in dec.get("decoders", []) or [])
        pieces: Dict[int, bytes] = {}
        if byte_level:
            inv = {c: b for b, c in _bytes_to_unicode().items()}
            for tok, i in vocab.items():
                pieces[i] = bytes(inv[c] for c in tok if c in inv)
        else:
            for tok, i in vocab.items():
                if len(tok) == 6 and tok.startswith("<0x") and tok.endswith(">"):
                    pieces[i] = bytes([int(tok[3:5], 16)])
                else:
                    pieces[i] = tok.replace("▁", " ").encode("utf-8")
        special = set()
        for at in tj.get("added_tokens", []) or []:
            pieces[at["id"]] = at["content"].encode("utf-8")
            if at.get("special"):
                special.add(at["id"])
        return Detokenizer(pieces, special)

    def decode_bytes(self, ids: List[int]) -> bytes:
        return b"".join(self.pieces.get(i, b"") for i in ids if i not in self.special)

    def decode(self, ids: List[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def prefix_lengths(self, ids: List[int]) -> List[int]:
        """Character length of the text decoded from ids[:k+1], for each k (used to cut at a stop string)."""
        out, acc = [], b""
        for i in ids:
            if i not in self.special:
                acc += self.pieces.get(i, b"")
            out.append(len(acc.decode("utf-8", errors="ignore")))
        return out
