"""Tiny models made from game text, and conversion between Hugging Face folders and GGUF files.

Nothing heavy is imported here: `arena.models.tiny` needs torch, transformers and tokenizers;
`arena.models.gguf_export` needs numpy and gguf; `arena.models.gguf_import` needs numpy, gguf,
tokenizers and transformers. Import those modules where they are used.
"""
