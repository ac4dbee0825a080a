"""Search words: what a task search (``q``) means, the same on every store.

A task matches when **each** word of the search is the start of a word in its payload
(the JSON text, keys included) or its last error, case-insensitively: ``order`` finds
``order_id`` and ``ordering``, ``1234`` finds ``A-1234``. A word is a run of letters,
digits and ``_``; anything else separates words. Words shorter than ``MIN_WORD`` are
dropped, because neither store indexes them (InnoDB's ``innodb_ft_min_token_size`` is 3);
there are no stopwords (the MySQL index is built with ``innodb_ft_enable_stopword`` off,
so ``the`` is a word like any other). Accents fold as the stores' collations fold them."""

from __future__ import annotations

import re
import unicodedata

MIN_WORD = 3
# InnoDB's innodb_ft_max_token_size: a longer word is never indexed, so it never matches.
MAX_WORD = 84
MAX_WORDS = 8
MAX_TEXT = 200

_WORD = re.compile(r"\w+")


class BadSearch(ValueError):
    """A search that cannot be run; its message says why, for the caller."""


def search_words(text: str) -> tuple[str, ...]:
    """The words of a search, folded (``fold``) and deduplicated in order; ``BadSearch`` when
    none is long enough, or when there are too many or too long."""
    if len(text) > MAX_TEXT:
        raise BadSearch(f"search: at most {MAX_TEXT} characters")
    words = [fold(w) for w in _WORD.findall(text) if len(w) >= MIN_WORD]
    words = list(dict.fromkeys(words))
    if not words:
        raise BadSearch(f"search: give at least one word of {MIN_WORD} or more letters or digits")
    if len(words) > MAX_WORDS:
        raise BadSearch(f"search: at most {MAX_WORDS} words")
    if any(len(w) > MAX_WORD for w in words):
        raise BadSearch(f"search: words of at most {MAX_WORD} characters")
    return tuple(words)


def fold(text: str) -> str:
    """Lower case without accents (``Café`` -> ``cafe``), as the stores compare words."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def text_matches(words: tuple[str, ...], *texts: str | None) -> bool:
    """Whether each of ``words`` starts a word of ``texts``: the rule itself, for a store
    that checks candidate rows one by one instead of asking its index."""
    tokens = set(_WORD.findall(fold(" ".join(t for t in texts if t))))
    return all(any(token.startswith(w) for token in tokens) for w in words)
