"""The shared command line of the generated-docs tools (gen_op_docs.py, gen_pass_docs.py):
write the page, or with ``--check`` fail when the committed page is stale."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def docs_main(doc: Path, render: Callable[[], str], description: str,
              argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help=f"fail when {doc.name} is stale")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        if not doc.exists() or doc.read_text() != text:
            tool = Path(sys.argv[0]).name
            print(f"{doc} is out of date: run python tools/{tool}", file=sys.stderr)
            return 1
        return 0
    doc.write_text(text)
    print(f"wrote {doc}")
    return 0
