"""Whole jobs the CLI runs as one library call each: evaluate, ensembles (local and Ray), sweeps,
fine-tuning, the detector's training, export, plots, the shipped model's build."""
