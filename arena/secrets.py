"""Keeping credentials out of what arena stores and shows.

Arena never holds an API key: a spec names the environment variable that holds it
(`api_key_env`) and the backend reads it at call time. Two mistakes would break that, and this
module catches both:

- a key pasted where the variable's NAME belongs: `looks_like_secret` recognises the shapes of
  common keys (OpenAI `sk-...`, Groq `gsk_...`, Hugging Face `hf_...`, GitHub `ghp_...` and
  `github_pat_...`, AWS `AKIA...`, Slack `xoxb-...`, Google `AIza...`, ...) and long random
  strings; `valid_env_name` says whether a value can name a variable at all;
- a credential inside a URL (`https://user:pass@host/v1`, `?api_key=...`): `url_credentials` says
  where one sits (for a refusal that does not repeat it), `redact_url` masks it for display,
  `redact_urls` does the same for every URL inside a longer text (an error message).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_NAME_MAX = 64

# The shapes of common API keys and tokens. Prefixes that could begin a variable's name
# (hf_, gsk_, ghp_, AKIA ...) need a long random tail, so `HF_TOKEN` or `hf_token` stay names.
_KEY_SHAPES = re.compile(
    r"""^(?:
        sk[-_]\S*                                 # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), Stripe (sk_)
      | (?:rk|pk)_(?:live|test)_\S+               # Stripe restricted and publishable keys
      | gsk_[A-Za-z0-9]{16,}                      # Groq
      | hf_[A-Za-z0-9]{16,}                       # Hugging Face
      | gh[pousr]_[A-Za-z0-9]{16,}                # GitHub tokens
      | github_pat_[A-Za-z0-9_]{16,}              # GitHub fine-grained tokens
      | glpat-\S+                                 # GitLab
      | (?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{12,} # AWS access key ids
      | xox[abposr]-\S+                           # Slack
      | xapp-\S+                                  # Slack app tokens
      | AIza[A-Za-z0-9_\-]{20,}                   # Google
      | ya29\.\S+                                 # Google OAuth access tokens
      | r8_[A-Za-z0-9]{16,}                       # Replicate
      | pplx-\S+                                  # Perplexity
      | nvapi-\S+                                 # NVIDIA
      | eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]*)?  # a JWT
    )$""",
    re.VERBOSE,
)
# Query (or fragment) parameters that carry credentials, compared lower-cased with - as _.
_SECRET_PARAMS = {
    "key",
    "api_key",
    "apikey",
    "token",
    "access_token",
    "auth",
    "auth_token",
    "authorization",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "sig",
    "signature",
    "x_api_key",
    "x_goog_api_key",
    "code",
}
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")


def valid_env_name(value: str) -> bool:
    """Whether `value` can name an environment variable (letters, digits and _, not starting
    with a digit, at most 64 characters)."""
    return len(value) <= ENV_NAME_MAX and ENV_NAME_RE.match(value) is not None


def looks_like_secret(value: object) -> bool:
    """Whether `value` looks like an API key or token rather than a name: a known key shape,
    a `Bearer ...` header, or a long random run of letters and digits (lower case and digits
    mixed, where variable names are words)."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    if not text:
        return False
    if text.lower().startswith(("bearer ", "basic ", "token ")):
        return True
    if _KEY_SHAPES.match(text):
        return True
    # A random string: long, no separators between words, lower case mixed with digits.
    run = re.fullmatch(r"[A-Za-z0-9+/=]{24,}", text)
    if run and re.search(r"[a-z]", text) and re.search(r"[0-9]", text):
        return True
    return False


def _param_name(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _secret_param(name: str) -> bool:
    n = _param_name(name)
    return n in _SECRET_PARAMS or n.endswith(("_key", "_token", "_secret", "_password"))


def _redact_pairs(text: str) -> tuple[str, bool]:
    """A query string or fragment with the values of credential parameters masked; and
    whether any was."""
    if not text:
        return text, False
    out, hit = [], False
    for pair in text.split("&"):
        name, sep, value = pair.partition("=")
        if sep and value and (_secret_param(name) or looks_like_secret(value)):
            out.append(f"{name}={MASK}")
            hit = True
        elif not sep and looks_like_secret(name):
            out.append(MASK)
            hit = True
        else:
            out.append(pair)
    return "&".join(out), hit


def _split_netloc(netloc: str) -> tuple[str | None, str | None, str]:
    """(user, password, host[:port]) of a URL's netloc, without decoding."""
    if "@" not in netloc:
        return None, None, netloc
    userinfo, _, hostport = netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    return user, (password if sep else None), hostport


def url_credentials(url: str) -> str | None:
    """Where `url` carries a credential, in words that do not repeat it ("a user name and
    password before the host (user:password@)", "the query parameter api_key"), or None when
    it carries none."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        parts = None
    netloc = parts.netloc if parts is not None else ""
    if parts is None or not netloc:
        # Not a URL we can take apart: look for user info by hand.
        if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#\s]*@", url.strip()):
            return "user info before the host (user:password@)"
        return None
    user, password, _ = _split_netloc(netloc)
    if password is not None:
        return "a user name and password before the host (user:password@)"
    if user is not None:
        return "user info before the host (a name or token and @)"
    for label, text in (("query", parts.query), ("fragment", parts.fragment)):
        for pair in text.split("&") if text else ():
            name, sep, value = pair.partition("=")
            if sep and value and _secret_param(name):
                return f"the {label} parameter {_param_name(name)}"
            if (sep and looks_like_secret(value)) or (not sep and looks_like_secret(name)):
                return f"something that looks like a key in its {label}"
    return None


def redact_url(url: str) -> str:
    """`url` as it may be shown: a password in the user info masked (`user:***@host`), user
    info without a password (often a token) masked whole (`***@host`), and the values of
    credential parameters in the query or fragment masked (`?api_key=***`). Anything that is
    not a URL comes back as it is, unless it looks like a key itself."""
    if not isinstance(url, str):
        url = str(url)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced [ in the host: mask everything before the host
        return re.sub(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/?#]*@", rf"\1{MASK}@", url)
    if not parts.scheme or not parts.netloc:
        return MASK if looks_like_secret(url) else url
    user, password, hostport = _split_netloc(parts.netloc)
    if password is not None:
        netloc = f"{user}:{MASK}@{hostport}"
    elif user is not None:
        netloc = f"{MASK}@{hostport}"
    else:
        netloc = hostport
    query, _ = _redact_pairs(parts.query)
    fragment, _ = _redact_pairs(parts.fragment)
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_urls(text: str) -> str:
    """`text` with every URL in it passed through `redact_url` (for messages that quote one)."""
    if not isinstance(text, str):
        text = str(text)
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group()), text)
