r"""Names put into InfluxQL (1.x) and Flux (2.x) text, and the names InfluxDB refuses.

The one place that quotes a user-given name (database, retention policy, bucket, org,
measurement, field, source) for InfluxDB's query languages. Pure, no I/O.

InfluxQL (influxdata/influxql, the parser InfluxDB 1.x embeds): an identifier is bare when
it is a letter or `_` then letters, digits or `_`, and not a keyword (`Lookup` in token.go,
case-insensitive, with AND, OR, TRUE and FALSE); otherwise it goes between double quotes.
A string literal goes between single quotes. Inside both, `ScanString` (scanner.go) reads
only the escapes `\\`, `\"`, `\'` and `\n`, and a raw newline ends the text as an error:
`QuoteIdent` and `QuoteString` (parser.go) write exactly these escapes, as we do, so a
continuous query reads back as we rendered it.

Flux (docs.influxdata.com/flux/v0/spec/lexical-elements/#string-literals): a string
literal is between double quotes; `\\` and `\"` are escapes, an unescaped `${` starts an
interpolation, and `\x` with two hex digits is a byte. The spec's `\${` escape is not
enough: InfluxDB 2.7's scanner takes the character after any `$` as text, so in `$\"` the
quote ends the string. Every `$` is written `\x24` instead, which reads back as `$` whatever
follows (tests/test_influx_names.py sweeps this on the real server). Newlines may stand
raw. pusher writes no Flux regex literal from a user-given name (the one InfluxQL regex,
on tag keys, is built from a constant).
"""

from __future__ import annotations

import re

# InfluxQL keywords (influxql token.go, keywordBeg..keywordEnd, plus AND OR TRUE FALSE):
# an identifier spelled like one, in any case, must be quoted.
_KEYWORD_TEXT = """ALL ALTER ANALYZE AND ANY AS ASC BEGIN BY CARDINALITY CREATE CONTINUOUS
DATABASE DATABASES DEFAULT DELETE DESC DESTINATIONS DIAGNOSTICS DISTINCT DROP DURATION END
EVERY EXACT EXPLAIN FALSE FIELD FOR FROM FUTURE GRANT GRANTS GROUP GROUPS IN INF INSERT INTO
KEY KEYS KILL LIMIT MEASUREMENT MEASUREMENTS NAME OFFSET ON OR ORDER PASSWORD PAST POLICIES
POLICY PRIVILEGES QUERIES QUERY READ REPLICATION RESAMPLE RETENTION REVOKE SELECT SERIES SET
SHARD SHARDS SHOW SLIMIT SOFFSET STATS SUBSCRIPTION SUBSCRIPTIONS TAG TO TRUE USER USERS
VALUES VERBOSE WHERE WITH WRITE"""
INFLUXQL_KEYWORDS = frozenset(_KEYWORD_TEXT.split())
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INFLUXQL_IDENT = str.maketrans({"\n": "\\n", "\\": "\\\\", '"': '\\"'})
_INFLUXQL_STRING = str.maketrans({"\n": "\\n", "\\": "\\\\", "'": "\\'"})
_FLUX_STRING = str.maketrans({"\\": "\\\\", '"': '\\"', "$": "\\x24"})


def influxql_ident(name: str) -> str:
    """An InfluxQL identifier, quoted only when needed, as InfluxDB 1.x prints it back:
    `pusher` -> `pusher`, `select` -> `"select"`, `a"b` -> `"a\\"b"`."""
    if _BARE.fullmatch(name) and name.upper() not in INFLUXQL_KEYWORDS:
        return name
    return '"' + name.translate(_INFLUXQL_IDENT) + '"'


def influxql_string(text: str) -> str:
    """An InfluxQL string literal: `it's` -> `'it\\'s'`."""
    return "'" + text.translate(_INFLUXQL_STRING) + "'"


def flux_string(text: str) -> str:
    """A Flux string literal that is `text` exactly: `a"${b}` -> `"a\\"\\x24{b}"`."""
    return '"' + text.translate(_FLUX_STRING) + '"'


def v1_name_problem(name: str) -> str | None:
    """Why InfluxDB 1.x refuses `name` as a database or retention policy, or None.

    Its rule (services/meta/data.go `ValidName`): not empty, not `.` or `..`, no `/` or
    `\\`, every character printable (Go's unicode.IsPrint: the space is the one blank).
    """
    if name in ("", ".", ".."):
        return "must be a name (not empty, . or ..)"
    if "/" in name or "\\" in name:
        return "must not contain / or \\ (InfluxDB 1.x refuses such a name)"
    if not name.isprintable():
        return ("must not contain a control character, a newline or a blank other than "
                "the space (InfluxDB 1.x refuses such a name)")
    return None


def v2_bucket_problem(name: str) -> str | None:
    """Why InfluxDB 2.x refuses `name` as a bucket, or None (its answers to
    POST /api/v2/buckets: "Bucket names may not include quotation marks", "Buckets may not
    start with underscore", the latter kept for its system buckets such as _monitoring)."""
    if not name.strip():
        return "must not be empty"
    if '"' in name:
        return 'must not contain " (InfluxDB 2.x refuses a bucket name with quotation marks)'
    if name.startswith("_"):
        return "must not start with _ (InfluxDB 2.x keeps those names for its own buckets)"
    return None
