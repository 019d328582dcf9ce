"""Compiler passes, importable as ``leptonc.passes``: one pass per file, grouped by family
(``canonical/``, ``fusion/``); file name = pass name in snake case.  The pass manager
(``leptonc.passmgr``) imports every module here on the first pass lookup."""
