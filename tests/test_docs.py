"""Generated reference pages stay in step with the registries."""

import gen_op_docs


def test_ops_md_is_up_to_date():
    assert gen_op_docs.DOC.read_text() == gen_op_docs.render(), (
        "docs/ops.md is stale: run python tools/gen_op_docs.py")
