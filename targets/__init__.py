"""Compilation targets, importable as ``leptonc.targets`` (later issues add cpu, gpu, fpga,
asic and llvm)."""
