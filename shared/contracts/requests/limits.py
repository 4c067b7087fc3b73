"""The limits of request fields, in one place: the request contracts, the gateway's bodies
(built from them) and the web forms use these."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

REASON_MAX = 2000  # a reason (return request, refusal, pause, reversal...)
TITLE_MAX = 200
TEXT_MAX = 20000  # a suggestion's body, a reply's text
NOTE_MAX = 5000  # a message's content, a progress note
SEARCH_MAX = 200  # a list's ``q``

Reason = Annotated[str, Field(min_length=1, max_length=REASON_MAX)]
Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX)]
Text = Annotated[str, Field(min_length=1, max_length=TEXT_MAX)]
Note = Annotated[str, Field(min_length=1, max_length=NOTE_MAX)]

# Intake: a citizen's phone number (a mobile or a landline with its area code), the
# urgencies of a registration and the ratings of a message's handling.
PHONE_PATTERN = r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$"
URGENCIES = ("red", "yellow", "blue")
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
URGENCY_PATTERN = f"^({'|'.join(URGENCIES)})$"
RATING_PATTERN = f"^({'|'.join(RATINGS)})$"
CONTACT_NAME_MAX = 50
TOKEN_MAX = 200  # a follow-up token
SIMILAR_DEFAULT = 5  # similar matters: candidates shown by default
SIMILAR_MAX = 20  # and at most

Urgency = Annotated[str, Field(pattern=URGENCY_PATTERN)]
Rating = Annotated[str, Field(pattern=RATING_PATTERN)]
Phone = Annotated[str, Field(pattern=PHONE_PATTERN)]
