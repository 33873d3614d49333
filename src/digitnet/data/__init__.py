"""Images in: MNIST (IDX files, sources, checks), a user's image to MNIST form, input files and folders,
synthetic digits and negatives. No TensorFlow."""
