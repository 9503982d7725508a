"""Business logic: the only layer that applies state transitions and owns transactions."""
