"""Op families, one module each: elemwise, reduce, shape, indexing, blas, nnet."""
