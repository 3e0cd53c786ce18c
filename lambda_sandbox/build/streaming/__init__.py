"""Response streaming for Python handlers (function-side code, shipped inside bundles)."""
