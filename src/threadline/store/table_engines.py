"""Table engines and DDL operations rendered for one ClickHouse (chDB or a server) or for a cluster.

One definition of a table renders both ways (the model is PostHog's ``posthog/clickhouse/table_engines.py``):

* **local** (``cluster=None``): ``CREATE TABLE {db}.spans (...) ENGINE = ReplacingMergeTree(ingested_at) ...``,
  exactly what chDB runs;
* **cluster** (``cluster="prod"``): every statement gets ``ON CLUSTER 'prod'`` and the engine becomes its
  ``Replicated*`` twin, with the replication path built from the server's macros. A :class:`Sharded` table is stored
  as ``<name>_local`` on every shard (path ``/clickhouse/tables/{shard}/{database}/{table}``, replica
  ``{replica}``) behind a ``Distributed`` table under the canonical name, so queries and inserts name ``spans`` on
  either layout. An :data:`UNSHARDED` table keeps its name and has one replica on every node of the cluster (path
  ``/clickhouse/tables/noshard/{database}/{table}``, replica ``{replica}-{shard}``, unique even when replica macros
  repeat across shards): small tables every query may join, read locally on any node.

``{shard}``, ``{replica}``, ``{database}`` and ``{table}`` are ClickHouse macros, expanded by each server when it
creates its replica (docs: "Data Replication", engine parameters); ``{db}`` is the gateway's placeholder for the
configured database. Migrations are short lists of the operations below; ``render(cluster)`` turns one into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

LOCAL_SUFFIX = "_local"
SHARDED_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
SHARDED_REPLICA = "{replica}"
UNSHARDED_PATH = "/clickhouse/tables/noshard/{database}/{table}"
UNSHARDED_REPLICA = "{replica}-{shard}"


def on_cluster(cluster: str | None) -> str:
    """`` ON CLUSTER 'name'`` (with its leading space), or ``""`` locally. ``name`` is validated by the gateway and
    the settings (letters, digits, ``_ . -``), so quoting it as a string literal is safe."""
    return f" ON CLUSTER '{cluster}'" if cluster else ""


class MergeTree:
    """``MergeTree``: the local engine; ``ReplicatedMergeTree(path, replica)`` on a cluster."""

    family = "MergeTree"

    def __init__(self, *args: str) -> None:
        self.args = args

    def local(self) -> str:
        """The engine clause on one server (no parentheses without arguments, as written today)."""
        return f"{self.family}({', '.join(self.args)})" if self.args else self.family

    def replicated(self, path: str, replica: str) -> str:
        """The ``Replicated*`` twin: Keeper ``path`` and ``replica`` name first, then the engine's own arguments."""
        args = ", ".join((f"'{path}'", f"'{replica}'", *self.args))
        return f"Replicated{self.family}({args})"


class ReplacingMergeTree(MergeTree):
    """``ReplacingMergeTree([version[, is_deleted]])``: rows with equal sort keys collapse to the highest
    ``version`` (the last inserted without one); ``is_deleted = 1`` on that row drops the key under ``FINAL``.
    Raises ValueError for ``is_deleted`` without ``version`` (ClickHouse requires both)."""

    family = "ReplacingMergeTree"

    def __init__(self, version: str | None = None, is_deleted: str | None = None) -> None:
        if is_deleted and not version:
            raise ValueError("ReplacingMergeTree needs a version column to use is_deleted")
        super().__init__(*(arg for arg in (version, is_deleted) if arg))


@dataclass(frozen=True)
class Sharded:
    """Spread a table's rows over the cluster's shards by ``key`` (a UInt64 expression).

    ``key`` must be a function of the table's ``ORDER BY`` columns, so every version of a row lands on the shard
    holding the others and ``FINAL`` / ``LIMIT 1 BY`` collapse them there (ClickHouse applies both per shard)."""

    key: str


@dataclass(frozen=True)
class Unsharded:
    """One full replica of the table on every node: for small tables (projects, keys, jobs, bookkeeping)."""


UNSHARDED = Unsharded()
Distribution = Sharded | Unsharded


class Operation(Protocol):
    """One step of a migration."""

    def render(self, cluster: str | None) -> tuple[str, ...]:
        """The statements of this step, locally (``cluster=None``) or on ``cluster``."""
        ...


@dataclass(frozen=True)
class CreateTable:
    """``CREATE TABLE IF NOT EXISTS``: ``columns`` is the text between the parentheses, ``clauses`` what follows
    the engine (``PARTITION BY``, ``ORDER BY``, ``SETTINGS``), one per line."""

    name: str
    columns: str
    engine: MergeTree
    clauses: str
    distribution: Distribution

    @property
    def storage_name(self) -> str:
        """Where the rows live: ``<name>_local`` for a sharded table on a cluster, else ``name``."""
        return self.name + LOCAL_SUFFIX if isinstance(self.distribution, Sharded) else self.name

    def render(self, cluster: str | None) -> tuple[str, ...]:
        """Locally one statement; on a cluster the replicated table, then (sharded) its Distributed table."""
        if cluster is None:
            return (self._create(self.name, "", self.engine.local()),)
        if isinstance(self.distribution, Unsharded):
            return (self._create(self.name, on_cluster(cluster), self.engine.replicated(UNSHARDED_PATH,
                                                                                     UNSHARDED_REPLICA)),)
        local = self._create(self.storage_name, on_cluster(cluster),
                             self.engine.replicated(SHARDED_PATH, SHARDED_REPLICA))
        distributed = (f"\nCREATE TABLE IF NOT EXISTS {{db}}.{self.name}{on_cluster(cluster)} "
                       f"AS {{db}}.{self.storage_name}\n"
                       f"ENGINE = Distributed('{cluster}', '{{db}}', '{self.storage_name}', "
                       f"{self.distribution.key})\n")
        return local, distributed

    def _create(self, name: str, where: str, engine: str) -> str:
        return f"\nCREATE TABLE IF NOT EXISTS {{db}}.{name}{where} (\n{self.columns}\n) ENGINE = {engine}\n" \
               f"{self.clauses}\n"


@dataclass(frozen=True)
class AddColumn:
    """``ALTER TABLE ... ADD COLUMN IF NOT EXISTS <definition>``: on a cluster both the stored table and its
    Distributed table (which must list the column to read it)."""

    table: CreateTable
    definition: str

    def render(self, cluster: str | None) -> tuple[str, ...]:
        """One ALTER locally or for an unsharded table; two (storage, then Distributed) for a sharded one."""
        names = [self.table.name]
        if cluster is not None and self.table.storage_name != self.table.name:
            names = [self.table.storage_name, self.table.name]
        return tuple(f"ALTER TABLE {{db}}.{name}{on_cluster(cluster)} ADD COLUMN IF NOT EXISTS {self.definition}"
                     for name in names)


@dataclass(frozen=True)
class AlterStorage:
    """An ``ALTER TABLE`` that concerns stored parts only (skip indexes, ``MATERIALIZE``, mutations): on a cluster
    it targets ``<name>_local``, ``ON CLUSTER``; a Distributed table has no parts."""

    table: CreateTable
    action: str

    def render(self, cluster: str | None) -> tuple[str, ...]:
        """One ALTER of the table that holds the rows."""
        name = self.table.name if cluster is None else self.table.storage_name
        return (f"ALTER TABLE {{db}}.{name}{on_cluster(cluster)} {self.action}",)


@dataclass(frozen=True)
class NotOnCluster:
    """An operation for one ClickHouse (chDB or a server) only; nothing on a cluster. For settings whose meaning
    differs on replicated tables: ``cleanup_delay_period`` paces the removal of outdated parts on a MergeTree, but on
    a ReplicatedMergeTree it also paces the cleanup of the replication log in (ZooKeeper) Keeper."""

    operation: Operation

    def render(self, cluster: str | None) -> tuple[str, ...]:
        """The operation's statements locally; ``()`` on a cluster."""
        return self.operation.render(cluster) if cluster is None else ()


@dataclass(frozen=True)
class Statement:
    """A statement run once, as written, on either layout (an ``INSERT`` of seed rows: on a cluster it goes
    through the Distributed table or into a replicated one, and replication copies it)."""

    sql: str

    def render(self, cluster: str | None) -> tuple[str, ...]:
        """``(sql,)``."""
        return (self.sql,)


@dataclass(frozen=True)
class RebuildTable:
    """Recreate ``table`` under the definition ``rebuilt`` (a CreateTable named ``<table>_rebuilt``), for what
    ``ALTER`` cannot change (``index_granularity``): create it, copy ``columns`` over (the rest take their
    defaults), exchange the two, drop the old one. ReplacingMergeTree rows copied twice collapse, so re-running an
    interrupted rebuild loses nothing (one interrupted right after the exchange swaps back: the data stays whole,
    under the old definition). On a cluster the stored tables are exchanged ``ON CLUSTER``; the Distributed table
    keeps pointing at ``<table>_local``."""

    table: CreateTable
    rebuilt: CreateTable
    columns: str

    def render(self, cluster: str | None) -> tuple[str, ...]:
        """Create, copy, exchange, drop."""
        where = on_cluster(cluster) if cluster is not None else ""
        old = self.table.name if cluster is None else self.table.storage_name
        new = self.rebuilt.name if cluster is None else self.rebuilt.storage_name
        drops = [f"DROP TABLE IF EXISTS {{db}}.{new}{where} SYNC"]
        if cluster is not None and new != self.rebuilt.name:
            drops.append(f"DROP TABLE IF EXISTS {{db}}.{self.rebuilt.name}{where} SYNC")
        return (
            *self.rebuilt.render(cluster),
            f"INSERT INTO {{db}}.{self.rebuilt.name} ({self.columns}) "
            f"SELECT {self.columns} FROM {{db}}.{self.table.name}",
            f"EXCHANGE TABLES {{db}}.{old} AND {{db}}.{new}{where}",
            *drops,
        )
