"""leptonc's own TVM schedule rules."""
