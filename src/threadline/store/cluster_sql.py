"""What the gateway changes in a statement, and adds to its settings, when the store is a ClickHouse cluster.

Queries and inserts run unchanged: they name the canonical tables, which on a cluster are ``Distributed`` tables over
``<name>_local`` replicas (or replicated-everywhere small tables). Only statements that act on stored parts or on the
database itself are rewritten, so no caller needs to know the layout:

* ``CREATE DATABASE`` / ``DROP DATABASE`` get ``ON CLUSTER`` (a drop also ``SYNC``, freeing the Keeper paths at
  once, so a database of the same name can be created again);
* mutations and part operations on a sharded table (``DELETE FROM``, ``ALTER TABLE ... UPDATE|DELETE``,
  ``ALTER TABLE ... APPLY DELETED MASK``, ``TRUNCATE``, ``OPTIMIZE``) move to ``<name>_local ON CLUSTER``: a
  Distributed table has no parts to mutate. On an unsharded table they run as written: it is replicated on every
  node, and Keeper carries the mutation to every replica;
* any other DDL outside migrations is refused (ValueError): run on one node only, it would leave the cluster's nodes
  with different schemas. Schema changes are migrations (:mod:`threadline.store.schema`).

Statements that already say ``ON CLUSTER`` (rendered migrations) pass through.
"""

from __future__ import annotations

import re
from collections.abc import Set

from threadline.store.table_engines import LOCAL_SUFFIX, on_cluster

# Settings of every statement on a cluster (ClickHouse docs, "Settings"):
# * distributed_product_mode = 'global': an IN/JOIN subquery over a Distributed table inside a query over another is
#   run once, on the initiator, and its result shipped to the shards (GLOBAL IN/JOIN). Correct whichever shards the
#   rows sit on; the default ('deny') rejects such queries, and 'local' would be wrong where tables are sharded by
#   different keys (spans by trace, trace_rollups by session).
# * distributed_foreground_insert = 1: an INSERT into a Distributed table returns once every shard has the rows, not
#   when they are queued on the node, so the writer reads back what it just wrote and an error reaches the caller.
# * load_balancing = 'in_order' and prefer_localhost_replica = 0: every node sends reads and inserts to the first
#   healthy replica of each shard in remote_servers order (not to its own replica), so the writer's read-back sees the
#   replica its insert went to whichever node, or load balancer, each statement went through. Replicas then give
#   availability rather than read throughput; a failover may read a lagging replica (docs/clickhouse-cluster.md).
CLUSTER_SETTINGS: dict[str, str | int] = {
    "distributed_product_mode": "global",
    "distributed_foreground_insert": 1,
    "load_balancing": "in_order",
    "prefer_localhost_replica": 0,
}

_DATABASE = re.compile(r"^\s*(CREATE|DROP)\s+DATABASE\b", re.I)
_PART_OPS = re.compile(
    r"^(?P<head>\s*(?:DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?(?:\s+IF\s+EXISTS)?|OPTIMIZE\s+TABLE|ALTER\s+TABLE)\s+)"
    r"\{db\}\.(?P<table>\w+)(?P<tail>.*)$", re.I | re.S)
_MUTATION = re.compile(r"^\s*(UPDATE|DELETE|APPLY\s+DELETED\s+MASK)\b", re.I)
_DDL = re.compile(r"^\s*(CREATE|DROP|ALTER|RENAME|EXCHANGE|TRUNCATE|ATTACH|DETACH)\b", re.I)


def for_cluster(sql: str, cluster: str, sharded: Set[str]) -> str:
    """``sql`` (with the ``{db}`` placeholder) as it must run on ``cluster``; ``sharded`` names the tables stored as
    ``<name>_local``. Raises ValueError for DDL that only a migration may run."""
    if re.search(r"\bON\s+CLUSTER\b", sql, re.I):
        return sql
    if match := _DATABASE.match(sql):
        suffix = " SYNC" if match.group(1).upper() == "DROP" else ""
        return sql.rstrip() + on_cluster(cluster) + suffix
    if match := _PART_OPS.match(sql):
        head, table, tail = match.group("head", "table", "tail")
        is_alter = head.strip().upper().startswith("ALTER")
        if is_alter and not _MUTATION.match(tail):
            raise ValueError(f"schema changes on a cluster go through migrations, not an ad-hoc ALTER of {table}")
        if table not in sharded:
            return sql
        return f"{head}{{db}}.{table}{LOCAL_SUFFIX}{on_cluster(cluster)}{tail}"
    if _DDL.match(sql):
        raise ValueError("DDL on a cluster goes through migrations (threadline migrate --cluster), which render it "
                         "ON CLUSTER for every node")
    return sql
