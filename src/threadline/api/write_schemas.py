"""Request and response models of the session writes, scores and jobs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from threadline.ingest.normalize import MAX_ID_LENGTH

ExplicitEndState = Literal["success", "failure", "indeterminate"]
Tag = Annotated[str, Field(min_length=1, max_length=200)]
MetadataMap = dict[Annotated[str, Field(min_length=1, max_length=200)], Annotated[str, Field(max_length=10_000)]]


class SessionCreate(BaseModel):
    """A session created ahead of its traffic; its traces join it by carrying ``session_id``."""

    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, examples=["chat-123"])
    name: str | None = Field(None, max_length=500, examples=["Refund for order A-1001"])
    user_id: str | None = Field(None, min_length=1, max_length=MAX_ID_LENGTH, examples=["user-42"])
    metadata: MetadataMap | None = Field(None, examples=[{"channel": "web"}])
    tags: list[Tag] | None = Field(None, max_length=100, examples=[["billing"]])
    end_state: ExplicitEndState | None = None


class SessionPatch(BaseModel):
    """Fields to change; omitted fields keep their value, ``null`` clears ``name`` and ``end_state``.
    ``metadata`` and ``tags`` replace the user-set values (metadata reported on spans is kept beneath)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=500)
    metadata: MetadataMap | None = None
    tags: list[Tag] | None = Field(None, max_length=100)
    bookmarked: bool | None = None
    end_state: ExplicitEndState | None = None


class JobOut(BaseModel):
    """A background job. ``status``: pending, running, done or failed; ``done``/``total`` count traces."""

    job_id: str
    kind: str
    target_id: str
    status: str
    total: int
    done: int
    error: str | None
    created_at: str
    updated_at: str
    links: dict[str, str]


class ScoreIn(BaseModel):
    """A score: numeric (a number), boolean (true/false) or categorical (a string) value, with an optional comment.
    A session's ``quality_score`` is the mean of its numeric (and boolean) scores named ``quality``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["quality"])
    value: bool | float | str = Field(examples=[0.8, True, "resolved"])
    comment: str | None = Field(None, max_length=10_000)
    source: Literal["human", "llm", "code"] = "human"


class ScoreOut(BaseModel):
    """A stored score."""

    score_id: str
    target: Literal["session", "trace"]
    target_id: str
    name: str
    data_type: Literal["numeric", "categorical", "boolean"]
    value: bool | float | str
    comment: str | None
    source: str
    created_at: str
