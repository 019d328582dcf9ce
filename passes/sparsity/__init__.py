"""Sparsity: magnitude pruning (unstructured) and structured N:M / block sparsity.  Both
record the pattern in the weight constant's type (``SparseEncoding``) for targets to exploit;
docs/sparsity.md says which targets do."""
