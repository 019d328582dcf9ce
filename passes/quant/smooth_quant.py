"""smooth-quant: SmoothQuant (arXiv 2211.10438) before quantizing a matmul-heavy model.

    %ln = nn.layer_norm(%x, %gamma, %beta)          %ln = nn.layer_norm(%x, %gamma_smoothed, %beta_smoothed)
    %q = linalg.matmul(%ln, %wq)            ->      %q = linalg.matmul(%ln, %wq_smoothed)
    %k = linalg.matmul(%ln, %wk)                    %k = linalg.matmul(%ln, %wk_smoothed)
    %r = ew.add(%ln, %skip)                         %ln_restored = ew.mul(%ln, %ln_unsmooth)
                                                    %r = ew.add(%ln_restored, %skip)

For every activation X read by matmuls with constant ``[K, N]`` weights, a per-channel
factor ``s_k = max|X_k|**alpha / max|W_k|**(1 - alpha)`` divides X (folded into its
producer: a layer_norm's gamma and beta, a matmul's weight columns, a constant scale, through
constant biases) and multiplies row k of every weight; other readers of X get ``X / s * s``.
The float outputs stay equal up to f32 rounding, but X loses its outlier channels, so a
per-tensor activation scale fits it much better (``leptonc.quant.smoothquant`` has the
details).  Options:

* ``alpha``: how much of the outliers' range moves into the weights (0: none, 1: all);
* ``calib``, ``samples``, ``batch-size``: the calibration data, read exactly as ``quantize``
  reads it (a folder of .npy/.npz batches or one .npz of stacked samples; the first
  ``samples`` samples, 0: all; without ``calib``, seeded random data, which only suits smoke
  tests, and a warning says so).  Smooth on the data you will quantize with.

Stats: matmuls smoothed and skipped (the reason for each is in the API's report), readers
compensated.  Run it after ``canonicalize,fuse-transformer`` and before ``quantize`` (see
``leptonc.quant.smoothquant``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from leptonc.ir.graph import Graph
from leptonc.passes.quant.quantize import Quantize
from leptonc.passmgr import Pass, PassResult, register_pass
from leptonc.quant.smoothquant import smooth_graph


@register_pass
@dataclass(frozen=True)
class SmoothQuant(Pass):
    """Migrate activation outliers of matmul inputs into the weights (SmoothQuant) with
    strength ``alpha``, calibrating on ``calib`` (its first ``samples`` samples, 0: all).
    Float outputs stay equal up to f32 rounding.  Other readers of a smoothed activation read
    it back through ``ew.mul`` results named ``<X>_restored``."""

    name: ClassVar[str] = "smooth-quant"
    example: ClassVar[str] = "smooth-quant{alpha=0.5,calib=calib.npz,samples=64}"

    alpha: float = 0.5
    calib: str = ""
    samples: int = 0
    batch_size: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.samples < 0 or self.batch_size < 0:
            raise ValueError("samples and batch-size must be at least 0 (0: all / automatic)")

    def run(self, graph: Graph) -> PassResult:
        # One definition of the data options: the quantize pass's.
        data = Quantize(calib=self.calib, samples=self.samples, batch_size=self.batch_size)
        report = smooth_graph(graph, data.batches(graph), self.alpha)
        stats = {"smoothed": len(report.smoothed), "skipped": len(report.skipped),
                 "compensated": report.compensated}
        return PassResult(bool(report.smoothed), stats)
