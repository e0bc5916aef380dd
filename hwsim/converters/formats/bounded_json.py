"""JSON from a file, parsed with the limits of a table file: the parser of every JSON that hwsim
reads from disk (table files, the ``# meta:`` line of a CSV table, the metadata of a ``.mat``
table, and the sidecars of trained receivers).

:func:`parse_json_bytes` refuses, before or while parsing, text that is not UTF-8, more list or
object entries than any table needs (:data:`MAX_JSON_ITEMS`, counted before parsing), number
literals longer than :data:`MAX_NUMBER_CHARS` and nesting too deep for the parser; every
message names the file. It is also importable as ``hwsim.converters.tables.parse_json_bytes``.
"""

from __future__ import annotations

import json

from ..adc import MAX_LEVELS

#: Longest number literal accepted in a table file (a float's shortest repr has at most 24).
MAX_NUMBER_CHARS = 40

#: Largest number of list/object entries (commas) in a JSON table or ``.mat`` metadata:
#: four lists of M numbers plus provenance.
MAX_JSON_ITEMS = 8 * MAX_LEVELS + 4096


def _bounded_number(src):
    def parse(text: str):
        if len(text) > MAX_NUMBER_CHARS:
            raise ValueError(f"{src}: a number is written with {len(text)} digits or characters "
                             f"({text[:12]}...); numbers in a table file have at most {MAX_NUMBER_CHARS}")
        return float(text) if any(c in text for c in ".eE") else int(text)
    return parse


def parse_json_bytes(src, data: bytes, what: str = "a JSON table file"):
    """Parse JSON ``data`` from file ``src`` with the limits of a table file; every error names ``src``.

    Refuses: text that is not UTF-8, more than :data:`MAX_JSON_ITEMS` list or object entries
    (counted before parsing), number literals longer than :data:`MAX_NUMBER_CHARS` and
    nesting too deep for the parser.
    """
    items = data.count(b",")
    if items > MAX_JSON_ITEMS:
        raise ValueError(f"{src} is not {what}: it holds about {items} list or object entries, more than the "
                         f"{MAX_JSON_ITEMS} any {MAX_LEVELS}-level table needs")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{src} is not {what} (not UTF-8 text)") from None
    number = _bounded_number(src)
    try:
        return json.loads(text, parse_int=number, parse_float=number)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{src} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{src} is not {what} (JSON nested too deeply)") from None
    except ValueError as exc:   # from the number hook (or the interpreter's own digit limit)
        text = str(exc)
        raise ValueError(text if text.startswith(f"{src}:") else f"{src}: {text}") from None
