"""The cyclic garbage collector while a run starts: off during the imports, then frozen.

A run imports pytest, the checks and the pydantic types of chatkit and openai: tens of
thousands of objects that live until exit. Each collection while they load walks all of
them again, and so does every full collection afterwards, pytest's five at the end of a
session and the interpreter's at exit included. The CLI turns the collector off before its
imports (``importing``); once pytest has collected the checks, ``imported`` moves
everything alive into the permanent generation (``gc.freeze``) and turns the collector back
on, so the record phase collects only what the probes allocate.
"""

from __future__ import annotations

import gc

_paused = False


def importing() -> None:
    """The imports start: no collections until ``imported``."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def imported() -> None:
    """The imports are done: freeze what they made and collect again from here on.

    Does nothing unless ``importing`` turned the collector off (plain pytest keeps its own).
    """
    global _paused
    if not _paused:
        return
    _paused = False
    gc.freeze()
    gc.enable()
