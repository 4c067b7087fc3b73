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
