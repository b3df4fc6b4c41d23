"""A process that reads a SQLite file by ADBC, straight into Arrow, in one read transaction:
storage.recon.one_snapshot starts it (as a script: it imports only polars and the driver)
and sends it the day's queries.

It is a process of its own because the driver carries a SQLite of its own: two SQLite
libraries on one file in one process do not see each other's POSIX locks (closing its
connection deleted the WAL under the other's open transaction). Between processes the locks
work as between any two readers and writers.

Requests come on stdin, one JSON line each: ``{"sql": ..., "args": [...], "to": path}``
(qmark parameters, text and integers). The rows go to the file ``to`` as Arrow IPC, for the
asking process to map (a day's payments are ~150 MB: through a pipe, and copied, they cost
~0.6 s more). Each answer on stdout is a status byte (``+`` rows written, ``-`` an error),
an 8-byte big-endian length, then the error's text (empty for rows). The transaction, begun
by the driver (not in autocommit), takes its snapshot at the first query; it is rolled back
when stdin closes.
"""

from __future__ import annotations

import json
import sys
from typing import BinaryIO

import adbc_driver_sqlite.dbapi as adbc_sqlite
import polars as pl
from adbc_driver_sqlite import StatementOptions

ROWS, ERROR = b"+", b"-"
# Rows per Arrow batch: all of them, so the driver infers each column's type from every row
# (from a first batch alone, a text column whose first rows are NULL would be taken for
# integers and then fail on its text).
_ALL_ROWS = str(2**30)


def _answer(connection: adbc_sqlite.Connection, request: bytes) -> tuple[bytes, bytes]:
    asked = json.loads(request)
    try:
        with connection.cursor() as cursor:
            cursor.adbc_statement.set_options(**{StatementOptions.BATCH_ROWS.value: _ALL_ROWS})
            cursor.execute(asked["sql"], asked["args"])
            frame = pl.DataFrame(cursor.fetch_arrow())  # before the cursor closes: its stream
        frame.write_ipc(asked["to"])
    except Exception as error:  # the asking process raises it
        return ERROR, f"{type(error).__name__}: {error}".encode()
    return ROWS, b""


def serve(path: str, requests: BinaryIO, answers: BinaryIO) -> None:
    connection = adbc_sqlite.connect(path)
    try:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout=10000")  # as storage.db's connections
        for request in requests:
            status, payload = _answer(connection, request)
            answers.write(status + len(payload).to_bytes(8, "big") + payload)
            answers.flush()
    finally:
        connection.rollback()
        connection.close()


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)
