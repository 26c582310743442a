"""Training and evaluation: ``TrainConfig``, the one loop ``fit``, ``evaluate`` (every
metric), ``measure_inference`` (cost) and checkpoints."""
