"""8-bit integer matmuls on x86 with AVX-512 VNNI: one ``vpdpbusd`` per 64 multiply-adds.

``lower_quant`` emits an eligible ``quant.matmul`` (u8 activations ``A[rows, K]`` times a
constant i8 weight, K a multiple of 4 and N of 16) as a plain TE reduction over a weight
packed at compile time as ``Bp[N / 16, K / 4, 64]`` -- 16 output columns by 4 consecutive
k, the operand layout of ``vpdpbusd`` -- and tags the PrimFunc with
``leptonc.int8_layout = "dot16x4"`` and ``leptonc.int8_shape = [rows, K, N]``.  Any
schedule computes that reduction correctly (the GPU's, the generic CPU contraction rule);
this rule replaces it, on CPUs that have VNNI, by a register-blocked micro-kernel with the
same parameters:

    parallel for each tile of R rows x 16*C columns:
      acc[R][C] = 0                                  # R*C zmm accumulators (i32 x 16)
      for ko in K / 4:
        for r in R:  a = broadcast(A[row r, 4*ko : 4*ko + 4])      # 4 u8 as one i32
          for c in C:  acc[r][c] = vpdpbusd(acc[r][c], a, Bp[col tile c, ko])
      out[rows, cols] = acc + corr[cols]             # bias and zero-point term, i32

``vpdpbusd`` multiplies u8 by i8 and adds groups of four products to i32 lanes without
saturation, so the result is the exact i32 sum that ``quant.matmul`` defines (the lowering
has checked that the raw sums fit).  TVM's ``tensorize`` would express the same, but it
crashes in this TVM build (it serialises the intrinsic, which segfaults), so the kernel is
written directly in TIR.  Without VNNI the rule declines and the tagged PrimFunc is
scheduled like any contraction.
"""

from __future__ import annotations

from tvm import tirx
from tvm.script import tirx as T
from tvm.target import Target

LAYOUT_ATTR = "leptonc.int8_layout"
SHAPE_ATTR = "leptonc.int8_shape"  # [rows, K, N] of a dot16x4 matmul
DOT16X4 = "dot16x4"
_LANES = 16  # i32 accumulator lanes of a zmm register
_GROUP = 4   # u8 x i8 products each lane sums per vpdpbusd
# Register tile: R rows x C column groups of accumulators (16 of the 32 zmm registers), R
# broadcasts and C weight loads per R*C instructions.
_ROW_TILES = (4, 2, 1)
_COLUMN_TILES = (4, 2, 1)


def has_vnni(target: Target) -> bool:
    features = {str(f) for f in target.attrs.get("mattr", [])}
    return str(target.kind.name) == "llvm" and "+avx512vnni" in features


def _largest_dividing(extent: int, choices: tuple[int, ...]) -> int:
    return next(c for c in choices if extent % c == 0)


def _dot16x4_kernel(rows: int, depth: int, columns: int) -> tirx.PrimFunc:
    """The VNNI micro-kernel for ``out[rows, columns] = A[rows, depth] @ B + corr``."""
    r_tile = _largest_dividing(rows, _ROW_TILES)
    c_tile = _largest_dividing(columns // _LANES, _COLUMN_TILES)
    tiles_n = columns // (_LANES * c_tile)
    tiles = rows // r_tile * tiles_n
    steps = depth // _GROUP

    @T.prim_func(s_tir=True)
    def kernel(a: T.Buffer((rows, depth), "uint8"), bp: T.Buffer((columns // 16, depth // 4, 64), "int8"),
               corr: T.Buffer((columns,), "int32"), out: T.Buffer((rows, columns), "int32")):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        for tile in T.parallel(tiles):
            acc = T.alloc_buffer((r_tile * c_tile * 16,), "int32", scope="local")
            for i in T.unroll(r_tile * c_tile):
                acc[T.ramp(i * 16, 1, 16)] = T.broadcast(T.int32(0), 16)
            for ko in range(steps):
                for r in T.unroll(r_tile):
                    quad = T.reinterpret(a.vload([tile // tiles_n * r_tile + r, ko * 4], "uint8x4"),
                                         dtype="int32")
                    for c in T.unroll(c_tile):
                        acc[T.ramp((r * c_tile + c) * 16, 1, 16)] = T.call_llvm_pure_intrin(
                            T.llvm_lookup_intrinsic_id("llvm.x86.avx512.vpdpbusd.512"),
                            acc[T.ramp((r * c_tile + c) * 16, 1, 16)],
                            T.reinterpret(T.broadcast(quad, 16), dtype="int8x64"),
                            bp.vload([tile % tiles_n * c_tile + c, ko, 0], "int8x64"),
                            dtype="int32x16")
            for r in T.unroll(r_tile):
                for c in T.unroll(c_tile):
                    out[tile // tiles_n * r_tile + r, T.ramp((tile % tiles_n * c_tile + c) * 16, 1, 16)] = (
                        acc[T.ramp((r * c_tile + c) * 16, 1, 16)]
                        + corr[T.ramp((tile % tiles_n * c_tile + c) * 16, 1, 16)])

    return kernel


def schedule_int8_dot(func: tirx.PrimFunc, target: Target) -> tirx.PrimFunc | None:
    """The VNNI kernel for a ``dot16x4``-tagged PrimFunc, or None when the rule does not apply
    (no VNNI on the target, an untagged function, shapes that do not tile)."""
    if not (func.attrs and func.attrs.get(LAYOUT_ATTR) == DOT16X4 and has_vnni(target)):
        return None
    rows, depth, columns = (int(d) for d in func.attrs[SHAPE_ATTR])
    if depth % _GROUP or columns % _LANES:
        return None
    kernel = _dot16x4_kernel(rows, depth, columns)
    for key, value in func.attrs.items():  # the lowering's tags and symbol stay on the new body
        if key not in kernel.attrs:
            kernel = kernel.with_attr(key, value)
    return kernel
