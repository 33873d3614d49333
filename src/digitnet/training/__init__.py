"""Training networks: configs, recipes and their flags, the networks, augmentation, schedules, run
directories, the compiled loop, metrics."""
