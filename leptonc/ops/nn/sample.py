"""Sampling at computed coordinates: ``nn.grid_sample``, ``nn.affine_grid`` (the grids it
samples at) and ``nn.roi_align``, plus the N-d interpolation taps that deformable
convolution shares."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import check_choice, const_ints, padded
from leptonc.ops.nn.common import check_float, check_rank, static_len
from leptonc.ops.nn.resize import RESIZE_MODES, cubic_kernel
from leptonc.ops.numeric import float_compute_dtype
from leptonc.ops.registry import attr, defop


# ----- interpolation taps ----------------------------------------------------------------------
def _axis_taps(coords: list[np.ndarray], mode: str):
    """(per-axis integer tap positions, weights) for nearest/linear/cubic sampling."""
    if mode == "nearest":
        return [[(np.rint(c).astype(np.int64), 1.0)] for c in coords]
    taps = []
    for c in coords:
        base = np.floor(c)
        frac = c - base
        base = base.astype(np.int64)
        if mode == "linear":
            taps.append([(base, 1 - frac), (base + 1, frac)])
        else:
            taps.append([(base + k, cubic_kernel(frac - k, -0.75)) for k in (-1, 0, 1, 2)])
    return taps


def interpolation_taps(coords: list[np.ndarray], mode: str
                       ) -> Iterator[tuple[list[np.ndarray], np.ndarray]]:
    """Every tap of N-d nearest/linear/cubic interpolation at float ``coords`` (one array
    per axis): its integer position on each axis and its weight (2^d taps for linear)."""
    for combo in itertools.product(*_axis_taps(coords, mode)):
        weight = 1.0
        for _, w in combo:
            weight = weight * w
        yield [pos for pos, _ in combo], weight


def clamp_taps(positions: list[np.ndarray], dims: Sequence[int]
               ) -> tuple[list[np.ndarray], np.ndarray]:
    """(positions clamped into the input so they can be gathered, whether each tap lies in
    the input: one outside reads as zero)."""
    idx, inside = [], True
    for pos, size in zip(positions, dims, strict=True):
        inside = inside & (pos >= 0) & (pos < size)
        idx.append(np.clip(pos, 0, size - 1))
    return idx, inside


# ----- grid_sample -----------------------------------------------------------------------------
def unnormalize(g: np.ndarray, size: int, align_corners: bool) -> np.ndarray:
    """[-1, 1] grid coordinates to input pixel coordinates."""
    if align_corners:
        return (g + 1) / 2 * (size - 1)
    return ((g + 1) * size - 1) / 2


def reflect(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Fold coordinates into [low, high] by reflecting at the borders."""
    span = high - low
    if span <= 0:
        return np.zeros_like(x)
    d = np.abs(x - low)
    flips = np.floor(d / span)
    r = d - flips * span
    return np.where(flips % 2 == 0, low + r, high - r)


def _sample_borders(size: int, align_corners: bool) -> tuple[float, float]:
    return (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)


def _grid_coords(grid: np.ndarray, dims: Sequence[int], attrs: dict) -> list[np.ndarray]:
    """Input pixel coordinates per axis of every grid point, padded for nearest/linear."""
    sp, align, padding = len(dims), attrs["align_corners"], attrs["padding_mode"]
    coords = []
    for a in range(sp):  # grid's last dim lists the innermost axis first
        c = unnormalize(grid[..., sp - 1 - a].astype(np.float64), dims[a], align)
        low, high = _sample_borders(dims[a], align)
        # nearest/linear pad the sampling point; cubic pads each of its taps instead
        # (PyTorch and ONNX Runtime), which grid_sample's tap loop does for every mode
        if padding == "border" and attrs["mode"] != "cubic":
            c = np.where((c < low) | (c > high), np.clip(c, 0, dims[a] - 1), c)
        elif padding == "reflection" and attrs["mode"] != "cubic":
            c = reflect(c, low, high)
        coords.append(c)
    return coords


@defop("nn.grid_sample", inputs="x, grid",
       attrs={"mode": attr("str", "linear"), "padding_mode": attr("str", "zeros"),
              "align_corners": attr("bool", False)},
       doc="ONNX GridSample (N-d): sample x at the [-1, 1] coordinates of grid [N, *out, d] "
           "(last dim ordered x, y, z...) with nearest/linear/cubic and zeros/border/reflection")
class GridSample:
    def infer(ins, attrs):
        x, grid = ins[0].type, ins[1].type
        check_float(x, "grid_sample")
        check_choice(attrs["mode"], RESIZE_MODES, "grid_sample mode")
        check_choice(attrs["padding_mode"], ("zeros", "border", "reflection"), "padding_mode")
        if x.shape is None or grid.shape is None:
            return [TensorType(x.dtype, None)]
        if len(grid.shape) != len(x.shape) or grid.shape[-1] not in (x.rank - 2, None):
            raise ShapeError(f"grid {grid} does not fit input {x}")
        return [TensorType(x.dtype, (x.shape[0], x.shape[1], *grid.shape[1:-1]))]

    def kernel(xs, attrs):
        x, grid = xs
        dims, sp = x.shape[2:], x.ndim - 2
        acc = float_compute_dtype(x.dtype)
        align, padding = attrs["align_corners"], attrs["padding_mode"]
        coords = _grid_coords(grid, dims, attrs)
        batch = np.arange(x.shape[0]).reshape((-1,) + (1,) * sp)
        out = np.zeros(grid.shape[:-1] + (x.shape[1],), dtype=acc)
        for positions, weight in interpolation_taps(coords, attrs["mode"]):
            if padding == "reflection":
                positions = [reflect(pos.astype(np.float64), *_sample_borders(size, align)
                                     ).astype(np.int64) for pos, size in zip(positions, dims, strict=True)]
            idx, inside = clamp_taps(positions, dims)
            if padding != "zeros":
                inside = True
            picked = x[(batch, slice(None)) + tuple(idx)]  # advanced indices first: [N, *out, C]
            out += picked * np.expand_dims(np.asarray(weight * inside, acc), -1)
        return np.moveaxis(out, -1, 1).astype(x.dtype)


# ----- affine_grid -----------------------------------------------------------------------------
def base_grid(dims: Sequence[int], align_corners: bool) -> np.ndarray:
    """[*dims, d+1] homogeneous [-1, 1] coordinates (x first, i.e. innermost axis first)."""
    axes = []
    for size in dims:
        if align_corners:
            axes.append(np.linspace(-1.0, 1.0, size) if size > 1 else np.zeros(size))
        else:
            axes.append((np.arange(size) * 2.0 + 1.0) / size - 1.0)
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([*mesh[::-1], np.ones(tuple(dims))], axis=-1)


@defop("nn.affine_grid", inputs="theta, size?",
       attrs={"size": attr("ints", ()), "align_corners": attr("bool", False)},
       doc="ONNX AffineGrid: sampling grid [N, *spatial, d] for affine matrices theta "
           "[N, d, d+1]; size ([N, C, *spatial]) is an attribute or a run-time i64 input")
class AffineGrid:
    def infer(ins, attrs):
        theta, size_input = padded(ins, 2)
        theta = theta.type
        check_float(theta, "affine_grid")
        size = attrs["size"] or const_ints(size_input)
        if size:
            return [TensorType(theta.dtype, (size[0], *size[2:], len(size) - 2))]
        n = static_len(size_input)  # 2 + number of spatial dims
        return [TensorType(theta.dtype, None if n is None else (None,) * (n - 1) + (n - 2,))]

    def kernel(xs, attrs):
        theta, size_input = padded(xs, 2)
        size = list(attrs["size"]) or [int(v) for v in size_input]
        dims = size[2:]
        grid = base_grid(dims, attrs["align_corners"]).reshape(-1, len(dims) + 1)
        out = np.matmul(grid, np.swapaxes(theta.astype(np.float64), 1, 2))
        return out.reshape((size[0], *dims, len(dims))).astype(theta.dtype)


# ----- roi_align -------------------------------------------------------------------------------
def _samples_per_bin(ratio: int, length: np.ndarray, pooled: int) -> np.ndarray:
    """Bilinear samples per output bin along one axis of every roi: sampling_ratio, or
    (when it is 0) as many as the bin is long, at least one."""
    count = np.full(len(length), ratio) if ratio > 0 else np.ceil(length / pooled).astype(int)
    return np.maximum(count, 1)


def _roi_axis(start: np.ndarray, length: np.ndarray, pooled: int, grid: np.ndarray,
              limit: int):
    """Bilinear sample positions of RoiAlign along one axis, for every roi [R, pooled, g]:
    (low index, high index, fraction, inside-the-image mask, sample-is-used mask).  Rois may
    use different sample counts ``grid``; the largest is taken and the rest masked."""
    bin_size = (length / pooled)[:, None, None]
    k = np.arange(int(grid.max()))[None, None, :]
    pos = start[:, None, None] + np.arange(pooled)[None, :, None] * bin_size + (
        k + 0.5) * bin_size / grid[:, None, None]
    used = np.broadcast_to(k < grid[:, None, None], pos.shape)
    inside = (pos >= -1.0) & (pos <= limit)
    pos = np.maximum(pos, 0.0)
    low = np.floor(pos).astype(np.int64)
    at_edge = low >= limit - 1
    low = np.where(at_edge, limit - 1, low)
    high = np.where(at_edge, limit - 1, low + 1)
    frac = np.where(at_edge, 0.0, pos - low)
    return low, high, frac, inside, used


@defop("nn.roi_align", inputs="x, rois, batch_indices",
       attrs={"mode": attr("str", "avg"), "output_height": attr("int", 1),
              "output_width": attr("int", 1), "sampling_ratio": attr("int", 0),
              "spatial_scale": attr("float", 1.0),
              "coordinate_transformation_mode": attr("str", "half_pixel")},
       doc="ONNX RoiAlign: bilinear samples averaged (or max-ed, as ONNX Runtime does) over "
           "each output bin of each region of interest [x1, y1, x2, y2]")
class RoiAlign:
    def infer(ins, attrs):
        x, rois = ins[0].type, ins[1].type
        check_float(x, "roi_align")
        check_rank(x, "roi_align", 4)
        check_choice(attrs["mode"], ("avg", "max"), "roi_align mode")
        r = rois.shape[0] if rois.shape else None
        c = x.shape[1] if x.shape else None
        return [TensorType(x.dtype, (r, c, attrs["output_height"], attrs["output_width"]))]

    def kernel(xs, attrs):
        x, rois, batch = xs
        height, width = x.shape[2:]
        oh, ow = attrs["output_height"], attrs["output_width"]
        half_pixel = attrs["coordinate_transformation_mode"] == "half_pixel"
        boxes = rois.astype(np.float64) * attrs["spatial_scale"] - (0.5 if half_pixel else 0.0)
        x1, y1 = boxes[:, 0], boxes[:, 1]
        roi_w, roi_h = boxes[:, 2] - x1, boxes[:, 3] - y1
        if not half_pixel:  # the legacy mode makes every roi at least one pixel
            roi_w, roi_h = np.maximum(roi_w, 1.0), np.maximum(roi_h, 1.0)
        grid_h = _samples_per_bin(attrs["sampling_ratio"], roi_h, oh)
        grid_w = _samples_per_bin(attrs["sampling_ratio"], roi_w, ow)
        y_lo, y_hi, fy, in_y, used_y = _roi_axis(y1, roi_h, oh, grid_h, height)
        x_lo, x_hi, fx, in_x, used_x = _roi_axis(x1, roi_w, ow, grid_w, width)

        def rows(a):  # [R, oh, gh] -> [R, oh, gh, 1, 1]
            return a[:, :, :, None, None]

        def cols(a):  # [R, ow, gw] -> [R, 1, 1, ow, gw]
            return a[:, None, None, :, :]

        inside = rows(in_y) & cols(in_x)
        images = batch.astype(np.int64)[:, None, None, None, None]
        corners = [(y_lo, x_lo, (1 - fy), (1 - fx)), (y_lo, x_hi, (1 - fy), fx),
                   (y_hi, x_lo, fy, (1 - fx)), (y_hi, x_hi, fy, fx)]
        terms = (x[images, :, rows(yi), cols(xi)] * (rows(wy) * cols(wx) * inside)[..., None]
                 for yi, xi, wy, wx in corners)  # each [R, oh, gh, ow, gw, C]
        used = (rows(used_y) & cols(used_x))[..., None]
        if attrs["mode"] == "avg":
            total = np.where(used, sum(terms), 0.0).sum(axis=(2, 4))
            out = total / (grid_h * grid_w)[:, None, None, None]
        else:
            best = np.where(used, np.maximum.reduce(list(terms)), -np.inf)
            out = best.max(axis=(2, 4))
        return np.moveaxis(out, -1, 1).astype(x.dtype)
