"""GBNF grammars (llama.cpp's grammar language) for constrained generation.

Both the in-process llama.cpp backend and the OpenAI-compatible backend (talking to a llama.cpp
server) constrain a reply to a list of choices with the same grammar, built here.
"""

from __future__ import annotations

from collections.abc import Sequence


def gbnf_literal(text: str) -> str:
    """`text` as a GBNF string literal (quotes, backslashes and control characters escaped)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)  # the GBNF parser reads UTF-8, so other characters stay literal
    out.append('"')
    return "".join(out)


def choices_grammar(choices: Sequence[str]) -> str:
    """A GBNF grammar whose only sentences are the given strings."""
    return "root ::= " + " | ".join(gbnf_literal(c) for c in choices) + "\n"
