"""Tiny models made from game text, and GGUF export of Hugging Face models for llama.cpp.

Nothing heavy is imported here: `arena.models.tiny` needs torch, transformers and tokenizers;
`arena.models.gguf_export` needs numpy and gguf. Import those modules where they are used.
"""
