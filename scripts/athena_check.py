#!/usr/bin/env python3
"""Athena definitions of compliance-lake: generate, check against the code's output, run offline.

Source of truth: infra/athena/tables.json (tables, columns, types, deliberate exclusions) and
infra/athena/queries/*.sql (named queries, Athena/Trino SQL; an optional <name>.duckdb.sql next to a
query replaces the automatic sqlglot translation for the offline run).

  athena_check.py gen [--check]     write (or with --check: verify) the generated Glue/Athena section
                                    of infra/template.yaml
  athena_check.py schema STORE      check every table against what the Rust code wrote into STORE
                                    (a `compliance-lake demo --store STORE` directory)
  athena_check.py queries STORE     run every named query over STORE in DuckDB (Athena stand-in) and
                                    compare its result with the same answer computed in Python
  athena_check.py all STORE         the three above

Each check prints one "PASS <check>" or "FAIL <check>: why" line; the exit status is 1 if any failed.
`gen` and `schema` need only the Python standard library; `queries` needs duckdb, sqlglot and pytz
(scripts/validate-infra.sh installs them into infra/.venv).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt_mod
import fnmatch
import glob
import gzip
import json
import os
import re
import sys
from typing import Any, Callable

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ATHENA_DIR = os.path.join(ROOT, "infra", "athena")
TABLES_JSON = os.path.join(ATHENA_DIR, "tables.json")
QUERIES_DIR = os.path.join(ATHENA_DIR, "queries")
TEMPLATE = os.path.join(ROOT, "infra", "template.yaml")
BEGIN = "  # BEGIN GENERATED athena"
END = "  # END GENERATED athena"

FAILURES: list[str] = []


def result(ok: bool, check: str, detail: str = "") -> bool:
    if ok:
        print(f"PASS {check}" + (f" ({detail})" if detail else ""))
    else:
        print(f"FAIL {check}: {detail}")
        FAILURES.append(check)
    sys.stdout.flush()
    return ok


# ----------------------------------------------------------------------------------------------
# Source of truth
# ----------------------------------------------------------------------------------------------


def load_spec() -> dict:
    with open(TABLES_JSON, encoding="utf-8") as f:
        return json.load(f)


def all_columns(spec: dict, table: dict) -> list[dict]:
    """The table's columns, the provenance column last."""
    return list(table["columns"]) + [spec["ingest_column"]]


def json_key(col: dict) -> str:
    return col.get("json_key", col["name"])


class Query:
    def __init__(self, name: str, description: str, sql: str, duckdb_sql: str | None):
        self.name, self.description, self.sql, self.duckdb_sql = name, description, sql, duckdb_sql


def load_queries() -> list[Query]:
    out = []
    for path in sorted(glob.glob(os.path.join(QUERIES_DIR, "*.sql"))):
        if path.endswith(".duckdb.sql"):
            continue
        name = os.path.basename(path)[: -len(".sql")]
        with open(path, encoding="utf-8") as f:
            sql = f.read().strip() + "\n"
        m = re.search(r"^--\s*description:\s*(.+)$", sql, re.M)
        if not m:
            raise SystemExit(f"{path}: first comment line must be '-- description: ...'")
        override = path[: -len(".sql")] + ".duckdb.sql"
        duck = open(override, encoding="utf-8").read() if os.path.exists(override) else None
        out.append(Query(name, m.group(1).strip(), sql, duck))
    return out


def camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)


# ----------------------------------------------------------------------------------------------
# Hive types
# ----------------------------------------------------------------------------------------------


def parse_type(s: str) -> tuple:
    """Hive DDL type -> ('string',) | ('int',) | ('bigint',) | ('double',) | ('boolean',) |
    ('array', T) | ('struct', [(name, T), ...]) | ('map', K, V)."""
    pos = 0

    def ident() -> str:
        nonlocal pos
        m = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(s, pos)
        if not m:
            raise ValueError(f"bad type {s!r} at {pos}")
        pos = m.end()
        return m.group(0)

    def expect(ch: str) -> None:
        nonlocal pos
        if s[pos : pos + 1] != ch:
            raise ValueError(f"bad type {s!r}: expected {ch!r} at {pos}")
        pos += 1

    def typ() -> tuple:
        nonlocal pos
        name = ident().lower()
        if name == "array":
            expect("<")
            t = typ()
            expect(">")
            return ("array", t)
        if name == "map":
            expect("<")
            k = typ()
            expect(",")
            v = typ()
            expect(">")
            return ("map", k, v)
        if name == "struct":
            expect("<")
            fields = []
            while True:
                fname = ident()
                expect(":")
                fields.append((fname, typ()))
                if s[pos : pos + 1] == ",":
                    pos += 1
                    continue
                expect(">")
                return ("struct", fields)
        if name in ("string", "int", "bigint", "double", "boolean", "smallint", "tinyint", "float"):
            return (name,)
        raise ValueError(f"unsupported type {name!r} in {s!r}")

    t = typ()
    if pos != len(s):
        raise ValueError(f"trailing text in type {s!r}")
    return t


INT_RANGES = {"tinyint": 2**7, "smallint": 2**15, "int": 2**31, "bigint": 2**63}


def fits(value: Any, t: tuple, path: str, problems: list, extra: set) -> None:
    """Appends (path, why) for values the type cannot hold; collects undeclared nested fields."""
    if value is None:
        return
    kind = t[0]
    if kind == "string":
        if not isinstance(value, str):
            problems.append((path, f"{type(value).__name__} value {json.dumps(value)[:60]} in a string column"))
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append((path, f"{json.dumps(value)[:60]} is not a boolean"))
    elif kind in INT_RANGES:
        lim = INT_RANGES[kind]
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append((path, f"{json.dumps(value)[:60]} is not an integer ({kind})"))
        elif not -lim <= value < lim:
            problems.append((path, f"{value} does not fit {kind}"))
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append((path, f"{json.dumps(value)[:60]} is not a number ({kind})"))
    elif kind == "array":
        if not isinstance(value, list):
            problems.append((path, f"{type(value).__name__} value {json.dumps(value)[:60]} in an array column"))
        else:
            for v in value:
                fits(v, t[1], path + "[]", problems, extra)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append((path, f"{type(value).__name__} value in a map column"))
        else:
            for v in value.values():
                fits(v, t[2], path + "{}", problems, extra)
    elif kind == "struct":
        if not isinstance(value, dict):
            problems.append((path, f"{type(value).__name__} value {json.dumps(value)[:60]} in a struct column"))
        else:
            declared = {n.lower(): ft for n, ft in t[1]}
            for k, v in value.items():
                if k.lower() in declared:
                    fits(v, declared[k.lower()], f"{path}.{k}", problems, extra)
                else:
                    extra.add(f"{path}.{k}")


def infer_type(values: list) -> str:
    """A Hive type that holds every value (for the 'add this column' hint)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "string"
    if all(isinstance(v, bool) for v in vals):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return "bigint"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return "double"
    if all(isinstance(v, str) for v in vals):
        return "string"
    if all(isinstance(v, list) for v in vals):
        return f"array<{infer_type([x for v in vals for x in v])}>"
    if all(isinstance(v, dict) for v in vals):
        keys: dict[str, list] = {}
        for v in vals:
            for k, x in v.items():
                keys.setdefault(k, []).append(x)
        return "struct<" + ",".join(f"{k}:{infer_type(x)}" for k, x in keys.items()) + ">"
    return "string  (mixed JSON types: leave it to the _raw table)"


# ----------------------------------------------------------------------------------------------
# gen: the Glue/Athena resources of infra/template.yaml
# ----------------------------------------------------------------------------------------------


def lake_location(table: str, suffix: str = "") -> dict:
    return {
        "Fn::If": [
            "HasLakePrefix",
            {"Fn::Sub": f"s3://${{LakeBucket}}/${{LakePrefix}}/{table}/{suffix}"},
            {"Fn::Sub": f"s3://${{LakeBucket}}/{table}/{suffix}"},
        ]
    }


def table_parameters(spec: dict, table: str, classification: str) -> dict:
    p = spec["partition_key"]["name"]
    params = {
        "classification": classification,
        "compressionType": "gzip",
        "typeOfData": "file",
        "projection.enabled": "true",
        f"projection.{p}.type": "date",
        f"projection.{p}.format": "yyyy-MM-dd",
        f"projection.{p}.range": {"Fn::Sub": "${PartitionProjectionStart},NOW"},
        f"projection.{p}.interval": "1",
        f"projection.{p}.interval.unit": "DAYS",
        # ${!dt} is Fn::Sub's escape for a literal ${dt}: Athena fills it in per projected partition.
        "storage.location.template": lake_location(table, f"{p}=${{!{p}}}/"),
    }
    return params


def glue_table(spec: dict, name: str, description: str, columns: list[dict], serde: dict, classification: str,
               location_table: str) -> dict:
    pk = spec["partition_key"]
    cols = []
    for c in columns:
        col = {"Name": c["name"], "Type": c["type"]}
        if c.get("comment"):
            col["Comment"] = c["comment"]
        cols.append(col)
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": {"Ref": "AWS::AccountId"},
            "DatabaseName": {"Ref": "GlueDatabase"},
            "TableInput": {
                "Name": name,
                "Description": description,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": table_parameters(spec, location_table, classification),
                "PartitionKeys": [{"Name": pk["name"], "Type": pk["type"], "Comment": pk["comment"]}],
                "StorageDescriptor": {
                    "Columns": cols,
                    "Location": lake_location(location_table),
                    "InputFormat": spec["input_format"],
                    "OutputFormat": spec["output_format"],
                    "SerdeInfo": {"SerializationLibrary": serde["library"], "Parameters": serde["parameters"]},
                },
            },
        },
    }


def serde_for(spec: dict, table: dict) -> dict:
    params = dict(spec["json_serde"]["parameters"])
    for c in all_columns(spec, table):
        if json_key(c) != c["name"]:
            params[f"mapping.{c['name']}"] = json_key(c)
    return {"library": spec["json_serde"]["library"], "parameters": params}


def athena_resources(spec: dict, queries: list[Query]) -> dict:
    """Logical id -> resource; CloudFormation long-form intrinsics only. The CDK app builds the same."""
    res: dict[str, dict] = {}
    raw = spec["raw_serde"]
    for t in spec["tables"]:
        name = t["name"]
        res[f"GlueTable{camel(name)}"] = glue_table(
            spec, name, t["description"], all_columns(spec, t), serde_for(spec, t), "json", name)
        res[f"GlueTable{camel(name)}Raw"] = glue_table(
            spec, f"{name}_raw",
            f"{name}, one row per JSON line (column `line`): for fields that are not columns of {name}.",
            [raw["column"]], {"library": raw["library"], "parameters": raw["parameters"]}, "json", name)
    for q in queries:
        res[f"NamedQuery{camel(q.name)}"] = {
            "Type": "AWS::Athena::NamedQuery",
            "Properties": {
                "Name": q.name,
                "Description": q.description,
                "Database": {"Ref": "GlueDatabase"},
                "WorkGroup": {"Ref": "AthenaWorkGroup"},
                "QueryString": q.sql,
            },
        }
    return res


PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]*$")


def y_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v)  # a JSON string is a valid YAML double-quoted scalar


def y_key(k: str) -> str:
    return k if PLAIN_KEY.match(k) else json.dumps(k)


def emit(v: Any, ind: int) -> list[str]:
    """Block-style YAML for dicts/lists of scalars (no anchors, no tags)."""
    pad = " " * ind
    lines: list[str] = []
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(x, (dict, list)) and x:
                lines.append(f"{pad}{y_key(k)}:")
                lines.extend(emit(x, ind + 2))
            elif isinstance(x, str) and "\n" in x:
                lines.append(f"{pad}{y_key(k)}: |")
                lines.extend((" " * (ind + 2) + ln).rstrip() for ln in x.rstrip("\n").split("\n"))
            else:
                lines.append(f"{pad}{y_key(k)}: {y_scalar(x) if not isinstance(x, (dict, list)) else ('{}' if isinstance(x, dict) else '[]')}")
    elif isinstance(v, list):
        for x in v:
            if isinstance(x, (dict, list)) and x:
                sub = emit(x, ind + 2)
                sub[0] = f"{pad}- " + sub[0][ind + 2:]
                lines.extend(sub)
            else:
                lines.append(f"{pad}- {y_scalar(x)}")
    return lines


def render_region(spec: dict, queries: list[Query]) -> str:
    body = [BEGIN + " (python3 scripts/athena_check.py gen; source: infra/athena/)"]
    body.append("  # Generated from infra/athena/tables.json and infra/athena/queries/*.sql - do not edit by hand.")
    for lid, r in athena_resources(spec, queries).items():
        body.extend(emit({lid: r}, 2))
    body.append(END)
    return "\n".join(body) + "\n"


def splice(template: str, region: str) -> str:
    start = template.find(BEGIN)
    end = template.find(END)
    if start < 0 or end < 0 or end < start:
        raise SystemExit(f"{TEMPLATE}: markers {BEGIN.strip()!r} / {END.strip()!r} not found")
    end = template.index("\n", end) + 1
    return template[:start] + region + template[end:]


def cmd_gen(check: bool) -> None:
    spec, queries = load_spec(), load_queries()
    validate_spec(spec)
    with open(TEMPLATE, encoding="utf-8") as f:
        current = f.read()
    wanted = splice(current, render_region(spec, queries))
    if check:
        result(current == wanted, "athena: template.yaml generated section is up to date",
               "" if current == wanted else "run: python3 scripts/athena_check.py gen")
    else:
        if current != wanted:
            with open(TEMPLATE, "w", encoding="utf-8") as f:
                f.write(wanted)
            print(f"updated {os.path.relpath(TEMPLATE, ROOT)}")
        else:
            print(f"{os.path.relpath(TEMPLATE, ROOT)} already up to date")


def validate_spec(spec: dict) -> None:
    """Structural rules Glue/Athena impose on the definitions."""
    problems = []
    names = set()
    for t in spec["tables"]:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", t["name"]):
            problems.append(f"table name {t['name']!r}")
        if t["name"] in names:
            problems.append(f"duplicate table {t['name']}")
        names.add(t["name"])
        seen = set()
        for c in all_columns(spec, t):
            n = c["name"]
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", n):
                problems.append(f"{t['name']}.{n}: column names must be lowercase identifiers")
            if n in seen or n == spec["partition_key"]["name"]:
                problems.append(f"{t['name']}.{n}: duplicate column")
            seen.add(n)
            try:
                parse_type(c["type"])
            except ValueError as e:
                problems.append(f"{t['name']}.{n}: {e}")
            if len(c.get("comment", "")) > 255:
                problems.append(f"{t['name']}.{n}: comment longer than 255")
            for pat in t.get("excluded", {}):
                if fnmatch.fnmatchcase(json_key(c), pat):
                    problems.append(f"{t['name']}.{n}: both a column and excluded by {pat!r}")
    if problems:
        raise SystemExit("infra/athena/tables.json: " + "; ".join(problems))


# ----------------------------------------------------------------------------------------------
# Reading a store (the lake layout: <table>/dt=YYYY-MM-DD/<name>.ndjson.gz)
# ----------------------------------------------------------------------------------------------

OBJECT_RE = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})/[^/]+\.ndjson\.gz$")


def read_store(store: str, spec: dict) -> tuple[dict[str, list[dict]], list[str]]:
    """table -> records (each with '__dt'), plus layout problems."""
    data: dict[str, list[dict]] = {}
    problems = []
    for t in spec["tables"]:
        data[t["name"]] = []
    for entry in sorted(os.listdir(store)):
        full = os.path.join(store, entry)
        if entry.startswith("_") or entry.startswith(".") or not os.path.isdir(full):
            continue
        if entry not in data:
            problems.append(f"directory {entry}/ holds data but tables.json has no table {entry!r}")
            continue
        for dirpath, _, files in os.walk(full):
            for fn in files:
                rel = os.path.relpath(os.path.join(dirpath, fn), full)
                m = OBJECT_RE.match(rel.replace(os.sep, "/"))
                if not m:
                    problems.append(f"{entry}/{rel} does not match <table>/dt=YYYY-MM-DD/<name>.ndjson.gz "
                                    "(Athena would read it as data)")
                    continue
                with gzip.open(os.path.join(dirpath, fn), "rt", encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        if not line.strip():
                            problems.append(f"{entry}/{rel}:{n}: empty line")
                            continue
                        try:
                            rec = json.loads(line)
                        except ValueError as e:
                            problems.append(f"{entry}/{rel}:{n}: not JSON ({e})")
                            continue
                        if not isinstance(rec, dict):
                            problems.append(f"{entry}/{rel}:{n}: not a JSON object")
                            continue
                        rec["__dt"] = m.group(1)
                        rec["__line"] = line.rstrip("\n")
                        data[entry].append(rec)
    return data, problems


# ----------------------------------------------------------------------------------------------
# schema: columns vs what the code writes
# ----------------------------------------------------------------------------------------------


def cmd_schema(store: str) -> None:
    spec = load_spec()
    validate_spec(spec)
    data, layout = read_store(store, spec)
    result(not layout, "athena: lake layout matches the table locations",
           "; ".join(layout[:5]) + (f" (+{len(layout) - 5} more)" if len(layout) > 5 else ""))
    for t in spec["tables"]:
        name = t["name"]
        recs = data.get(name, [])
        check = f"athena: schema of {name} covers the demo output"
        if not recs:
            result(False, check, f"no records for {name} in {store} (the demo should write every table)")
            continue
        cols = {json_key(c): c for c in all_columns(spec, t)}
        types = {k: parse_type(c["type"]) for k, c in cols.items()}
        excluded = t.get("excluded", {})
        unknown: dict[str, list] = collections.defaultdict(list)
        problems: list = []
        extra: set = set()
        for r in recs:
            for k, v in r.items():
                if k.startswith("__"):
                    continue
                if k in types:
                    fits(v, types[k], k, problems, extra)
                elif k.lower() in types:
                    problems.append((k, "upper-case JSON key: add a mapping (case-insensitive SerDe)"))
                elif not any(fnmatch.fnmatchcase(k, p) for p in excluded):
                    unknown[k].append(v)
        why = []
        for k, vals in sorted(unknown.items()):
            why.append(f"field {k!r} ({len(vals)} records) is neither a column nor excluded; "
                       f"add e.g. {{\"name\": \"{k}\", \"type\": \"{infer_type(vals)}\"}}")
        seen_problems = collections.OrderedDict()
        for path, msg in problems:
            seen_problems.setdefault(path, msg)
        for path, msg in seen_problems.items():
            why.append(f"{path}: {msg}")
        never = [k for k in cols if all(r.get(k) is None for r in recs)]
        detail = f"{len(recs)} records, {len(cols)} columns"
        if never:
            detail += f", {len(never)} never set in the demo"
        ok = result(not why, check, "; ".join(why) if why else detail)
        if ok and extra:
            print(f"  note: nested fields not declared in {name} (reachable through {name}_raw): "
                  + ", ".join(sorted(extra)))


# ----------------------------------------------------------------------------------------------
# queries: DuckDB as the Athena stand-in, answers checked against Python
# ----------------------------------------------------------------------------------------------

DUCK_SCALARS = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE",
                "boolean": "BOOLEAN", "smallint": "SMALLINT", "tinyint": "TINYINT", "float": "FLOAT"}


def duck_structure(t: tuple) -> Any:
    """json_transform structure for a Hive type (the shape the OpenX SerDe gives Athena)."""
    if t[0] == "array":
        return [duck_structure(t[1])]
    if t[0] == "struct":
        return {n: duck_structure(ft) for n, ft in t[1]}
    if t[0] == "map":
        return "MAP(VARCHAR, %s)" % duck_sql_type(t[2])
    return DUCK_SCALARS[t[0]]


def duck_sql_type(t: tuple) -> str:
    if t[0] == "array":
        return duck_sql_type(t[1]) + "[]"
    if t[0] == "struct":
        return "STRUCT(" + ", ".join(f'"{n}" {duck_sql_type(ft)}' for n, ft in t[1]) + ")"
    if t[0] == "map":
        return f"MAP(VARCHAR, {duck_sql_type(t[2])})"
    return DUCK_SCALARS[t[0]]


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def create_views(con, spec: dict, store: str) -> None:
    """One view per Glue table with exactly its columns and types, plus dt (string) like Athena."""
    pk = spec["partition_key"]["name"]
    for t in spec["tables"]:
        name = t["name"]
        pattern = os.path.join(store, name, "*", "*.ndjson.gz")
        if glob.glob(pattern):
            src = (f"read_json_objects({sql_str(pattern)}, format='newline_delimited', compression='gzip', "
                   f"filename=true)")
        else:
            src = "(SELECT NULL::JSON AS json, NULL::VARCHAR AS filename WHERE false)"
        dt_expr = f"regexp_extract(filename, '/{pk}=([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})/', 1) AS {pk}"
        cols = []
        for c in all_columns(spec, t):
            key = json_key(c).replace('"', '\\"')
            structure = json.dumps(duck_structure(parse_type(c["type"])))
            cols.append(f"json_transform(json->'$.\"{key}\"', {sql_str(structure)}) AS \"{c['name']}\"")
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT {", ".join(cols)}, {dt_expr} FROM {src}')
        raw_col = spec["raw_serde"]["column"]["name"]
        con.execute(f'CREATE OR REPLACE VIEW "{name}_raw" AS SELECT CAST(json AS VARCHAR) AS "{raw_col}", '
                    f'{dt_expr} FROM {src}')


def translate(q: Query) -> str:
    if q.duckdb_sql:
        return q.duckdb_sql
    import sqlglot

    return sqlglot.transpile(q.sql, read="athena", write="duckdb", pretty=True)[0]


def iso(s: str | None) -> dt_mod.datetime | None:
    if s is None:
        return None
    d = dt_mod.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return d.astimezone(dt_mod.timezone.utc)


def utc_day(s: str) -> str:
    return iso(s).date().isoformat()


def to_second(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = iso(v)
    return v.astimezone(dt_mod.timezone.utc).replace(microsecond=0).isoformat()


def g(rec: dict, *path: str) -> Any:
    for p in path:
        if not isinstance(rec, dict):
            return None
        rec = rec.get(p)
    return rec


def distinct_by(recs: list[dict], key: Callable[[dict], Any]) -> list[dict]:
    seen, out = set(), []
    for r in recs:
        k = key(r)
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


class Mismatch(Exception):
    pass


def same(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        if isinstance(expected, dict) and isinstance(actual, dict):
            missing = [k for k in expected if k not in actual][:3]
            unexpected = [k for k in actual if k not in expected][:3]
            differ = [(k, actual[k], expected[k]) for k in expected if k in actual and actual[k] != expected[k]][:3]
            raise Mismatch(f"{what}: missing {missing}, unexpected {unexpected}, differing (got, want) {differ}")
        raise Mismatch(f"{what}: got {actual!r}, want {expected!r}")


def keyed(rows: list[dict], key: Callable[[dict], Any], value: Callable[[dict], Any]) -> dict:
    """Rows as a dict; a key twice is itself a wrong answer (e.g. a join that split a group)."""
    out: dict = {}
    for r in rows:
        k = key(r)
        if k in out:
            raise Mismatch(f"two rows for {k!r}")
        out[k] = value(r)
    return out


def join_distinct(values) -> str:
    return ", ".join(sorted({v for v in values if v is not None}))


# Each expectation recomputes the query's answer from the raw records, in Python, and compares.
# rows: list of dicts (column -> value) as DuckDB returned them.


def expect_activity_by_type_per_day(rows: list[dict], data: dict) -> str:
    acts = distinct_by(data["activities"], lambda r: r["id"])
    want: dict = collections.defaultdict(lambda: [0, set()])
    for r in acts:
        k = (utc_day(r["created_at"]), r["type"])
        want[k][0] += 1
        a = r.get("actor") or {}
        want[k][1].add(a.get("user_id") or a.get("api_key_id") or a.get("admin_api_key_id")
                        or a.get("email_address") or a.get("type"))
    got = keyed(rows, lambda r: (str(r["day"]), r["type"]), lambda r: (r["activities"], r["actors"]))
    same(got, {k: (v[0], len(v[1])) for k, v in want.items()}, "counts per (day, type)")
    same(sum(r["activities"] for r in rows), len(acts), "total = distinct activities")
    return f"{len(rows)} (day, type) rows, {len(acts)} activities"


def expect_sign_ins_by_ip_and_user_agent(rows: list[dict], data: dict) -> str:
    acts = distinct_by(data["activities"], lambda r: r["id"])
    ok_re, fail_re = re.compile(r"_login_succeeded$"), re.compile(r"_login_failed$")
    want: dict = {}
    n_ok = 0
    for r in acts:
        s, f = bool(ok_re.search(r["type"])), bool(fail_re.search(r["type"]))
        if not (s or f):
            continue
        n_ok += s
        a = r.get("actor") or {}
        k = (a.get("ip_address"), a.get("user_agent"))
        w = want.setdefault(k, {"sign_ins": 0, "failed": 0, "users": set(), "times": []})
        w["sign_ins"] += s
        w["failed"] += f
        w["users"].add(a.get("email_address") or a.get("unauthenticated_email_address"))
        w["times"].append(iso(r["created_at"]))
    exp = {k: (w["sign_ins"], w["failed"], len(w["users"] - {None}), join_distinct(w["users"]),
               to_second(min(w["times"])), to_second(max(w["times"]))) for k, w in want.items()}
    got = keyed(rows, lambda r: (r["ip_address"], r["user_agent"]),
                lambda r: (r["sign_ins"], r["failed_sign_ins"], r["users"], r["user_emails"],
                           to_second(r["first_seen"]), to_second(r["last_seen"])))
    same(got, exp, "sign-ins per (ip, user agent)")
    if n_ok == 0:
        raise Mismatch("the demo output has no *_login_succeeded activity: nothing to check")
    same(sum(r["sign_ins"] for r in rows), n_ok, "sign-ins grouped by IP sum to the sign-in activities")
    return f"{len(rows)} (ip, user agent) rows, {n_ok} sign-ins"


def expect_chats_and_messages_per_user(rows: list[dict], data: dict) -> str:
    per: dict = collections.defaultdict(lambda: {"email": None, "chats": set(), "deleted": set(), "msgs": set(),
                                                 "sent": set(), "last": None})
    for c in data["chats"]:
        u = c.get("user") or {}
        p = per[u.get("id")]
        p["email"] = max(filter(None, [p["email"], u.get("email_address")]), default=None)
        p["chats"].add(c["id"])
        if c.get("deleted_at") is not None:
            p["deleted"].add(c["id"])
    memail: dict = {}
    for m in data["chat_messages"]:
        u = m.get("chat_user") or {}
        p = per[u.get("id")]
        memail[u.get("id")] = max(filter(None, [memail.get(u.get("id")), u.get("email_address")]), default=None)
        p["msgs"].add(m["id"])
        if m.get("role") == "user":
            p["sent"].add(m["id"])
        t = iso(m["created_at"])
        p["last"] = t if p["last"] is None or t > p["last"] else p["last"]
    exp = {uid: (p["email"] or memail.get(uid), len(p["chats"]), len(p["deleted"]), len(p["msgs"]), len(p["sent"]),
                 to_second(p["last"])) for uid, p in per.items()}
    got = keyed(rows, lambda r: r["user_id"],
                lambda r: (r["email"], r["chats"], r["deleted_chats"], r["messages"], r["messages_sent"],
                           to_second(r["last_message_at"])))
    same(got, exp, "per user (email, chats, deleted, messages, sent, last)")
    chats = len({c["id"] for c in data["chats"]})
    msgs = len({m["id"] for m in data["chat_messages"]})
    same((sum(r["chats"] for r in rows), sum(r["messages"] for r in rows)), (chats, msgs),
         "totals = distinct chats and messages")
    return f"{len(rows)} users, {chats} chats, {msgs} messages"


def expect_dlp_findings_by_severity_user_day(rows: list[dict], data: dict) -> str:
    fs = distinct_by(data["dlp_findings"], lambda r: r["id"])
    want: dict = collections.defaultdict(lambda: {"ids": set(), "src": set(), "det": set(), "kind": set()})
    for f in fs:
        k = (utc_day(f.get("source_created_at") or f["detected_at"]), f["severity"], f.get("user_email"))
        w = want[k]
        w["ids"].add(f["id"])
        w["src"].add(f["source_id"])
        w["det"].add(f["detector"])
        w["kind"].add(f["source_kind"])
    exp = {k: (len(w["ids"]), len(w["src"]), join_distinct(w["det"]), join_distinct(w["kind"]))
           for k, w in want.items()}
    got = keyed(rows, lambda r: (str(r["day"]), r["severity"], r["user_email"]),
                lambda r: (r["findings"], r["sources"], r["detectors"], r["source_kinds"]))
    same(got, exp, "findings per (day, severity, user)")
    by_sev_rows: dict = collections.Counter()
    for r in rows:
        by_sev_rows[r["severity"]] += r["findings"]
    by_sev = collections.Counter(f["severity"] for f in fs)
    same(dict(by_sev_rows), dict(by_sev), "findings by severity = the dlp_findings table")
    return "by severity " + ", ".join(f"{k} {v}" for k, v in sorted(by_sev.items()))


def expect_latest_users_with_roles(rows: list[dict], data: dict) -> str:
    since = (dt_mod.datetime.now(dt_mod.timezone.utc).date() - dt_mod.timedelta(days=7)).isoformat()
    recent = [u for u in data["users"] if u["__dt"] >= since]
    latest: dict = {}
    for u in recent:
        org, t = u["organization_uuid"], iso(u["_ingest"]["fetched_at"])
        if org not in latest or t > latest[org][0]:
            latest[org] = (t, u["_ingest"]["run_id"])
    names: dict = {}
    for o in data["organizations"]:
        if o["__dt"] >= since:
            t = iso(o["_ingest"]["fetched_at"])
            if o["uuid"] not in names or t > names[o["uuid"]][0]:
                names[o["uuid"]] = (t, o["name"])
    exp = sorted((u["organization_uuid"], (names.get(u["organization_uuid"]) or (None, None))[1], u["id"], u["email"],
                  u["organization_role"]) for u in recent
                 if u["_ingest"]["run_id"] == latest[u["organization_uuid"]][1])
    got = sorted((r["organization_uuid"], r["organization_name"], r["user_id"], r["email"], r["organization_role"])
                 for r in rows)
    same(got, exp, "latest snapshot rows")
    if not rows:
        raise Mismatch(f"no users partition since {since}: the store is older than the query's 7-day window")
    if any(r["organization_role"] is None for r in rows):
        raise Mismatch("a user without organization_role")
    ids = [(r["organization_uuid"], r["user_id"]) for r in rows]
    same(len(ids), len(set(ids)), "one row per (organization, user)")
    return f"{len(rows)} users in {len(latest)} organizations"


def expect_activity_types_from_raw(rows: list[dict], data: dict) -> str:
    want = collections.Counter(r["type"] for r in data["activities"])
    got = keyed(rows, lambda r: r["type"], lambda r: r["activities"])
    same(got, dict(want), "count per type (raw lines)")
    for r in rows:
        ex = json.loads(r["example"])
        if ex.get("type") != r["type"]:
            raise Mismatch(f"example line of {r['type']} has type {ex.get('type')}")
    return f"{len(rows)} types"


EXPECT: dict[str, Callable[[list[dict], dict], str]] = {
    "activity_by_type_per_day": expect_activity_by_type_per_day,
    "sign_ins_by_ip_and_user_agent": expect_sign_ins_by_ip_and_user_agent,
    "chats_and_messages_per_user": expect_chats_and_messages_per_user,
    "dlp_findings_by_severity_user_day": expect_dlp_findings_by_severity_user_day,
    "latest_users_with_roles": expect_latest_users_with_roles,
    "activity_types_from_raw": expect_activity_types_from_raw,
}


def cmd_queries(store: str, show: bool) -> None:
    try:
        import duckdb  # noqa: F401
        import sqlglot  # noqa: F401
    except ImportError as e:
        result(False, "athena: named queries", f"{e}; run scripts/validate-infra.sh (it installs duckdb + sqlglot)")
        return
    import duckdb

    spec = load_spec()
    data, _ = read_store(store, spec)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # Athena's session time zone
    create_views(con, spec, store)
    queries = load_queries()
    names = {q.name for q in queries}
    for missing in sorted(set(EXPECT) - names):
        result(False, f"athena: query {missing}", "has an expectation but no infra/athena/queries file")
    for q in queries:
        check = f"athena: query {q.name}"
        if q.name not in EXPECT:
            result(False, check, "no expectation in scripts/athena_check.py (every named query is checked)")
            continue
        try:
            sql = translate(q)
            cur = con.execute(sql)
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, r)) for r in cur.fetchall()]
        except Exception as e:  # noqa: BLE001 - report any engine or translation error
            result(False, check, f"{type(e).__name__}: {str(e).splitlines()[0]}")
            continue
        if show:
            print(f"--- {q.name} (DuckDB):\n{sql}\n--- {len(rows)} rows; first 3:")
            for r in rows[:3]:
                print("   ", r)
        if not rows:
            result(False, check, "no rows")
            continue
        try:
            detail = EXPECT[q.name](rows, data)
        except Mismatch as e:
            result(False, check, str(e))
            continue
        result(True, check, detail)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("gen")
    p.add_argument("--check", action="store_true")
    for name in ("schema", "queries", "all"):
        p = sub.add_parser(name)
        p.add_argument("store")
        if name in ("queries", "all"):
            p.add_argument("--show", action="store_true", help="print each translated query and its first rows")
    a = ap.parse_args()
    if a.cmd == "gen":
        cmd_gen(a.check)
    else:
        if not os.path.isdir(a.store):
            raise SystemExit(f"{a.store}: not a directory")
        if a.cmd == "all":
            cmd_gen(True)
        if a.cmd in ("schema", "all"):
            cmd_schema(a.store)
        if a.cmd in ("queries", "all"):
            cmd_queries(a.store, a.show)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
