"""Training networks: configs and recipes, the networks, augmentation, schedules, run directories,
the compiled loop, metrics."""
