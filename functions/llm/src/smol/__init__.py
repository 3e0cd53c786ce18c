"""SmolLM2 on llama.cpp: request parsing, S3-to-memfd loading, generation."""
