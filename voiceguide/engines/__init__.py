"""Built-in speech engines."""
