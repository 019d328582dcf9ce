"""The leptonc IR: types, values, nodes, graphs, builder/rewriter, text form, verifier."""
