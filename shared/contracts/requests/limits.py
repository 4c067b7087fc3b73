"""The limits of request fields, in one place: the request contracts, the gateway's bodies
(built from them) and the web forms use these."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

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

# Attachments (shared/blobs.py): a file uploaded first (POST /api/v1/attachments), named by
# its SHA-256 when a request records it on an object.
ATTACHMENT_NAME_MAX = 120
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class AttachmentRef(BaseModel):
    """An uploaded file to record: its SHA-256 (from the upload's answer) and its name."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True,
                              json_schema_extra={"examples": [{
                                  "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                                  "name": "答复函.pdf"}]})

    sha256: str = Field(pattern=SHA256_PATTERN)
    name: str | None = Field(None, max_length=ATTACHMENT_NAME_MAX)


Attachments = Annotated[list[AttachmentRef], Field(max_length=10)]
