"""The compiler: kernel IR, lowering of fused groups, renderers, compilation and its cache."""
