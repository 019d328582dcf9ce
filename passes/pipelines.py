"""Named pipelines: ``-O0`` .. ``-O3`` are pipeline strings, nothing more."""

NAMED_PIPELINES: dict[str, str] = {
    "O0": "",
    "O1": "dce",
    "O2": "dce",
    "O3": "dce",
}
