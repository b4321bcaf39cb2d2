"""Storage: where users, blocks, shares, anchors and spaces are kept, on SQLite or PostgreSQL.

This wing owns the storage interface (`interface`: one protocol per subject,
and `Store`, all of them), the SQL written once for both databases and split
by subject (`sql_keys`, `sql_accounts`, `sql_blocks`, `sql_shares`,
`sql_anchors`, `sql_spaces`, `change_log`, composed in `sql_store`), the small
database interface that SQL runs on (`database`), the tables (`schema`) and
each database's own part of them (`sqlite_schema`, `postgres_schema`), the two
databases (`sqlite`, `postgres`), opening a store by its location
(`locations`), the changes a committed write reports to watchers
(`change_events`), and the appearance signatures kept beside the blocks
(`signatures`).
"""
