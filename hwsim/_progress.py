"""Progress of a training loop: a bar on a terminal, one line per finished epoch otherwise.

A log file, a pipe or a batch job gets readable lines instead of a bar redrawn with carriage returns::

    train learned detector: epoch 3/10, loss 0.3725, validation BER 1.57e-02

Text that comes from a file or a config (a curve name, a table's units) goes through :func:`shown`
before it reaches the terminal.
"""

from __future__ import annotations

import sys


def shown(value) -> str:
    """``value`` as one line of printable ASCII: text from a file never reaches the terminal raw
    (no escape sequences, no added lines); other characters appear as Python escapes (``\\x1b``)."""
    text = str(value)
    if all(" " <= c <= "~" for c in text):
        return text
    return text.encode("unicode_escape").decode("ascii")


class EpochProgress:
    """Use as a context manager around the epochs (the bar is closed however the loop ends).

    ``desc`` names the training; ``epochs`` x ``steps`` is the whole run (``steps`` may also give each
    epoch's count), ``done`` epochs of which were finished before (a resumed training); ``enabled``
    False shows nothing.
    """

    def __init__(self, desc: str, epochs: int, steps: int | list = 1, done: int = 0, enabled: bool = True):
        from tqdm.auto import tqdm

        self.desc, self.epochs = desc, epochs
        self.lines = enabled and not sys.stderr.isatty()
        per_epoch = [steps] * epochs if isinstance(steps, int) else list(steps)
        self.bar = tqdm(total=sum(per_epoch), initial=sum(per_epoch[:done]), desc=desc, leave=False,
                        disable=not enabled or self.lines)

    def __enter__(self) -> "EpochProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def step(self) -> None:
        """One step of an epoch done."""
        self.bar.update()

    def epoch(self, epoch: int, shown: dict | None = None) -> None:
        """Epoch ``epoch`` (from 0) finished; ``shown`` maps names to its figures, already formatted."""
        shown = shown or {}
        if self.lines:
            figures = "".join(f", {name} {value}" for name, value in shown.items())
            print(f"{self.desc}: epoch {epoch + 1}/{self.epochs}{figures}", file=sys.stderr, flush=True)
        elif shown:
            self.bar.set_postfix(shown)
