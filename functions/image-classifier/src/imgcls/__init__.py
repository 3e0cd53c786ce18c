"""Image classifier internals: preprocessing, model loading, event handling."""
