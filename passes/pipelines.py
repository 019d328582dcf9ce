"""Named pipelines: ``-O0`` .. ``-O3`` are pipeline strings, nothing more.

Order matters: transformer patterns are matched before epilogue fusion (which would otherwise
absorb the residual adds and scaled matmuls they look for), and a final canonicalize removes
the constants and duplicate nodes the fusions leave behind.
"""

_FUSION = "fold-batchnorm,fuse-transformer,fuse-epilogue"

NAMED_PIPELINES: dict[str, str] = {
    "O0": "",
    "O1": "canonicalize",
    "O2": f"canonicalize,{_FUSION},fuse-elementwise,canonicalize",
    "O3": f"canonicalize,{_FUSION},fuse-elementwise{{max-ops=64}},canonicalize",
}
