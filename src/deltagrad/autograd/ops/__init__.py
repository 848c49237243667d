"""Every op of the engine: each a small ``Function`` with its forward and backward together."""
