"""e2guardian's ``#time:`` tag in phrase lists, read and applied as 5.3 does.

``#time: <start hour> <start min> <end hour> <end min> <days>`` limits the
entries below it in the same file (and in the files it includes; a tag in an
included file does not leak back) to a daily window on some weekdays; days
are the digits 0 (Monday) to 6 (Sunday). ``ListContainer::readTimeTag``
reads the numbers with ``atoi`` between single spaces and refuses hours over
23, minutes over 59 and more than 7 day characters; ``isNow`` counts both
ends of the window (08:00 to 16:30 includes 16:30:59) and never wraps over
midnight, so a window whose end comes before its start matches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TimeWindow:
    start: int  # minutes since midnight, included
    end: int  # minutes since midnight, included (to its last second)
    days: str  # e2guardian's day characters; '0' is Monday
    text: str  # the tag as written, for people

    def active(self, moment: datetime) -> bool:
        if str(moment.weekday()) not in self.days:
            return False
        return self.start <= moment.hour * 60 + moment.minute <= self.end


def time_window(numbers: tuple[int, int, int, int], days: str,
                text: str) -> tuple[TimeWindow | None, list[str]]:
    """The window of a ``#time:`` tag from its four numbers (as ``atoi`` read
    them) and its day characters, with the problems found; None when
    e2guardian refuses the tag (its whole list then fails to load)."""
    sh, sm, eh, em = numbers
    for value, limit, what in ((sh, 23, "start hour"), (eh, 23, "end hour"),
                               (sm, 59, "start minute"), (em, 59, "end minute")):
        if not 0 <= value <= limit:
            return None, [f"#time: {what} {value} out of bounds (0-{limit}); e2guardian "
                          "refuses this list"]
    if len(days) > 7:
        return None, ["#time: more than 7 day characters; e2guardian refuses this list"]
    warnings = []
    odd = sorted(set(days) - set("0123456"))
    if odd:
        warnings.append(f"#time: day characters {''.join(odd)!r} never match (days are "
                        "0 for Monday to 6 for Sunday)")
    if not days:
        warnings.append("#time: no days given: the entries below never apply")
    start, end = sh * 60 + sm, eh * 60 + em
    if start > end:
        warnings.append("#time: the window ends before it starts and e2guardian never "
                        "wraps over midnight: the entries below never apply")
    return TimeWindow(start, end, days, text), warnings
