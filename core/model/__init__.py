"""Local and remote models: loading, tiny test model, GGUF, tokenizer repair, generation."""
