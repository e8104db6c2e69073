"""User-owned session fields (``session_annotations``): name, user, metadata, tags, bookmark, explicit end state,
deletion. Written only by the API, so the writer's rollups and the user's edits never overwrite each other."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyarrow as pa

from threadline.api.schemas import as_dict
from threadline.store.gateway import Store

_MAP = pa.map_(pa.string(), pa.string())


@dataclass
class Annotation:
    """A session's user-owned fields. ``end_state`` is '' when not set; ``created_at_ms`` is ms since the epoch."""

    name: str = ""
    user_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    bookmarked: bool = False
    end_state: str = ""
    deleted: bool = False
    created_at_ms: int = 0


def get_annotation(store: Store, project_id: str, session_id: str) -> Annotation | None:
    """The session's current annotation, or None when it has never been annotated."""
    rows = store.select(
        "SELECT name, user_id, metadata, tags, bookmarked, end_state, deleted, toUnixTimestamp64Milli(created_at) "
        "AS created_ms FROM {db}.session_annotations FINAL WHERE project_id = {project_id:String} "
        "AND session_id = {session_id:String}", {"project_id": project_id, "session_id": session_id},
        tag="annotations.get")
    if not rows:
        return None
    row = rows[0]
    return Annotation(row["name"], row["user_id"], as_dict(row["metadata"]),
                      list(row["tags"]), bool(row["bookmarked"]), row["end_state"], bool(row["deleted"]),
                      int(row["created_ms"]))


def put_annotation(store: Store, project_id: str, session_id: str, annotation: Annotation) -> None:
    """Write the session's annotation (replacing the previous one: the newest ``updated_at`` wins)."""
    now_us = time.time_ns() // 1000
    store.insert("session_annotations", pa.table({
        "project_id": [project_id], "session_id": [session_id], "name": [annotation.name],
        "user_id": [annotation.user_id], "metadata": pa.array([list(annotation.metadata.items())], _MAP),
        "tags": pa.array([annotation.tags], pa.list_(pa.string())),
        "bookmarked": pa.array([int(annotation.bookmarked)], pa.uint8()), "end_state": [annotation.end_state],
        "deleted": pa.array([int(annotation.deleted)], pa.uint8()),
        "created_at": pa.array([annotation.created_at_ms or now_us // 1000], pa.timestamp("ms", tz="UTC")),
        "updated_at": pa.array([now_us], pa.timestamp("us", tz="UTC")),
    }), tag="annotations.put")


def put_placeholder_rollup(store: Store, project_id: str, session_id: str, user_id: str, version: int) -> None:
    """An empty rollup row for a session created ahead of its traffic. ``version`` comes from the committer, so
    the writer's next rollup of the session (from its traces) replaces it, and it replaces an earlier tombstone."""
    now_ns = time.time_ns()
    moment = pa.array([now_ns], pa.timestamp("ns", tz="UTC"))
    store.insert("session_rollups", pa.table({
        "project_id": [project_id], "session_id": [session_id], "user_id": [user_id], "first_seen": moment,
        "last_seen": moment, "version": pa.array([version], pa.uint64()), "is_deleted": pa.array([0], pa.uint8()),
    }), tag="annotations.placeholder")
