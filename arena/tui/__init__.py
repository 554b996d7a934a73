"""The Textual app: a face on the arena core. Only `arena.cli` imports this package; nothing
here holds game rules or rating logic, and nothing imports torch or the trainer."""
