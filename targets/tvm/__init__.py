"""leptonc targets through Apache TVM: cpu (LLVM) and gpu (CUDA)."""
