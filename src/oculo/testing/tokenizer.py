"""A tiny byte-level BPE tokenizer, trained on the spot.

Nothing is downloaded: the tokenizer is trained for a few milliseconds on a small inline corpus of
English and JSON text. Its alphabet is all 256 bytes (GPT-2 style byte-level mapping), so every
string, including any JSON document, can be encoded and produced by a model that uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = ["CORPUS", "train_byte_level_bpe"]

# Qwen2's pre-tokenization regex (the one ``transformers.Qwen2Tokenizer`` rebuilds at load time).
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

_ENGLISH = """\
The quick brown fox jumps over the lazy dog. A picture is worth a thousand words.
Describe the image in detail. What is shown in this picture? There is a cat on the sofa.
The photo shows a red car parked next to a green tree under a blue sky.
You are a helpful assistant. Answer the question about the image briefly and accurately.
This is a receipt from a grocery store. The total amount is 42.50 dollars, paid by card.
Two people are walking along the beach at sunset, and the water is calm and bright.
The document contains a table with three columns: name, date, and amount.
Please extract the fields as JSON. Return only valid JSON that matches the schema.
The chart shows sales growing from 2019 to 2024, with a small dip in the second quarter.
A small white dog is sitting on the grass, looking at the camera with its head tilted.
In the kitchen there are plates, cups, a kettle, and a bowl of fresh fruit on the table.
The sign says: "No parking between 8am and 6pm, Monday to Friday."
Count the objects in the image and list their colors, shapes and positions.
Is there any text in the image? If so, transcribe it exactly, including punctuation.
The invoice number is INV-2024-0117 and the due date is March 3rd.
Hello, world! How are you today? I am fine, thank you. Yes, no, maybe; true or false.
system: You are a helpful assistant. user: What is this? assistant: It is a photo of a user and a system.
User: Can you read the label? Assistant: The label says "fragile" in large black letters.
"""

_JSON = """\
{"name": "Alice", "age": 30, "city": "Paris", "tags": ["cat", "dog"], "active": true}
{"objects": [{"label": "car", "color": "red", "count": 2}, {"label": "tree", "color": "green", "count": 1}]}
{"caption": "a red car next to a tree", "confidence": 0.87, "nsfw": false, "labels": null}
{"total": 42.5, "currency": "USD", "items": [{"description": "apples", "price": 3.99, "quantity": 4}]}
{"text": "No parking", "language": "en", "boxes": [[10, 20, 110, 60], [5, 5, 50, 50]]}
{"date": "2024-03-03", "invoice_number": "INV-2024-0117", "vendor": {"name": "ACME Corp", "id": 7}}
[{"id": 1, "type": "image", "width": 640, "height": 480}, {"id": 2, "type": "text", "value": "hello"}]
{"answer": "yes", "reason": "The sky is blue.", "score": -1.25e-3, "empty": {}, "list": []}
{"a": 0, "b": 1, "c": 2, "d": 3, "e": 4, "f": 5, "g": 6, "h": 7, "i": 8, "j": 9}
{"description": "A small white dog sitting on the grass", "animals": ["dog"], "indoor": false}
"""

CORPUS: tuple[str, ...] = tuple(line for line in (_ENGLISH + _JSON).splitlines() if line.strip())


def train_byte_level_bpe(
    special_tokens: Sequence[str],
    *,
    vocab_size: int = 640,
    style: Literal["gpt2", "qwen2"] = "gpt2",
    bos_token: str | None = None,
    corpus: Sequence[str] = CORPUS,
):
    """Train a byte-level BPE ``tokenizers.Tokenizer``.

    ``special_tokens`` come first in the vocabulary (ids ``0..len(special_tokens)-1``) and are
    registered as special added tokens; then the 256 byte symbols, then learned merges.

    ``style`` selects the pre-tokenization: ``"gpt2"`` is ``ByteLevel(use_regex=True)``; ``"qwen2"``
    is the exact pipeline that ``transformers.Qwen2Tokenizer`` rebuilds from ``vocab``/``merges``
    when it loads (NFC normalizer, Qwen2 split regex, then ``ByteLevel(use_regex=False)``), so the
    merges learned here are the merges used after a save/load round trip.

    If ``bos_token`` is given, a post-processor prepends it to every sequence (Llama style).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    if style == "qwen2":
        tokenizer.normalizer = normalizers.NFC()
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    elif style == "gpt2":
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:  # pragma: no cover - guarded by the type
        raise ValueError(f"unknown pre-tokenizer style {style!r}")
    tokenizer.decoder = decoders.ByteLevel()

    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(list(corpus) * 2, trainer=trainer, length=2 * len(corpus))

    if bos_token is not None:
        bos_id = tokenizer.token_to_id(bos_token)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos_token} $A",
            pair=f"{bos_token} $A {bos_token} $B",
            special_tokens=[(bos_token, bos_id)],
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer
