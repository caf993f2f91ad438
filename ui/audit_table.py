"""The audit trail as Settings shows it: who in plain words ("You", "&Open's update"), when, what."""

from __future__ import annotations

import pandas as pd

from lib.plain_words import capital, person
from lib.timefmt import shown


def audit_frame(lines: list[dict], me: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "At": shown(d["at"]),
                "By": capital(person(d["actor"], me)),
                "What": d["action"],
                "Email": d["email"],
                "Detail": d["detail"],
            }
            for d in lines
        ]
    )
