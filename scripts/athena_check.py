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
VIEWS_DIR = os.path.join(ATHENA_DIR, "views")
TEMPLATE = os.path.join(ROOT, "infra", "template.yaml")
DASHBOARD_JSON = os.path.join(ROOT, "infra", "cloudwatch", "dashboard.json")
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
    """The table's columns, the provenance column last (tables written by the engine itself have none)."""
    return list(table["columns"]) + ([spec["ingest_column"]] if table.get("ingest", True) else [])


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


def load_view_sql(name: str) -> str:
    """The view's SQL as Athena stores it: the file without its leading comment lines."""
    with open(os.path.join(VIEWS_DIR, f"{name}.sql"), encoding="utf-8") as f:
        lines = f.read().strip().split("\n")
    while lines and lines[0].startswith("--"):
        lines.pop(0)
    return "\n".join(lines).strip() + "\n"


def view_duckdb_override(name: str) -> str | None:
    path = os.path.join(VIEWS_DIR, f"{name}.duckdb.sql")
    return open(path, encoding="utf-8").read() if os.path.exists(path) else None


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
    if kind == "json":
        return  # any JSON value, read as its JSON text
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


def partition_keys(spec: dict, table: dict) -> list[dict]:
    """Extra partition keys of the table (each with a projection), then dt."""
    return list(table.get("partition_keys", [])) + [spec["partition_key"]]


def location_prefix(table: dict) -> str:
    return table.get("location", table["name"])


def table_parameters(spec: dict, table: dict, classification: str) -> dict:
    p = spec["partition_key"]["name"]
    params = {
        "classification": classification,
        "compressionType": "gzip" if table.get("compressed", True) else "none",
        "typeOfData": "file",
        "projection.enabled": "true",
    }
    path = ""
    for k in table.get("partition_keys", []):
        proj = k["projection"]
        params[f"projection.{k['name']}.type"] = proj["type"]
        params[f"projection.{k['name']}.values"] = proj["values"]
        path += f"${{!{k['name']}}}/"
    params.update({
        f"projection.{p}.type": "date",
        f"projection.{p}.format": "yyyy-MM-dd",
        f"projection.{p}.range": {"Fn::Sub": "${PartitionProjectionStart},NOW"},
        f"projection.{p}.interval": "1",
        f"projection.{p}.interval.unit": "DAYS",
        # ${!dt} is Fn::Sub's escape for a literal ${dt}: Athena fills it in per projected partition.
        "storage.location.template": lake_location(location_prefix(table), f"{path}{p}=${{!{p}}}/"),
    })
    return params


def glue_table(spec: dict, table: dict, name: str, description: str, columns: list[dict], serde: dict,
               classification: str) -> dict:
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
                "Parameters": table_parameters(spec, table, classification),
                "PartitionKeys": [{"Name": k["name"], "Type": k["type"], "Comment": k["comment"]}
                                  for k in partition_keys(spec, table)],
                "StorageDescriptor": {
                    "Columns": cols,
                    "Location": lake_location(location_prefix(table)),
                    "InputFormat": spec["input_format"],
                    "OutputFormat": spec["output_format"],
                    "SerdeInfo": {"SerializationLibrary": serde["library"], "Parameters": serde["parameters"]},
                },
            },
        },
    }


# Hive (Glue column) type -> the Trino type Athena records in a view definition.
TRINO_TYPES = {"string": "varchar", "bigint": "bigint", "int": "integer", "boolean": "boolean", "double": "double",
               "timestamp": "timestamp(3)", "date": "date"}


def view_definition_json(view: dict, sql: str) -> str:
    """The JSON Athena keeps (base64) in a view's ViewOriginalText; ${GlueDatabase} is filled by Fn::Sub.
    The CDK app builds the same string (JSON.stringify of the same object, ASCII only)."""
    return json.dumps({
        "originalSql": sql,
        "catalog": "awsdatacatalog",
        "schema": "${GlueDatabase}",
        "columns": [{"name": c["name"], "type": TRINO_TYPES[c["type"]]} for c in view["columns"]],
    }, separators=(",", ":"))


def glue_view(view: dict) -> dict:
    """An Athena view as a Glue VIRTUAL_VIEW table (the "Presto View" encoding Athena itself writes)."""
    sql = load_view_sql(view["name"])
    cols = []
    for c in view["columns"]:
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
                "Name": view["name"],
                "Description": view["description"],
                "TableType": "VIRTUAL_VIEW",
                "Parameters": {"presto_view": "true", "comment": "Presto View"},
                "ViewOriginalText": {"Fn::Join": ["", ["/* Presto View: ",
                                                       {"Fn::Base64": {"Fn::Sub": view_definition_json(view, sql)}},
                                                       " */"]]},
                "ViewExpandedText": "/* Presto View */",
                "StorageDescriptor": {"Columns": cols},
            },
        },
    }


def serde_for(spec: dict, table: dict) -> dict:
    params = dict(spec["json_serde"]["parameters"])
    for c in all_columns(spec, table):
        if json_key(c) != c["name"]:
            params[f"mapping.{c['name']}"] = json_key(c)
    return {"library": spec["json_serde"]["library"], "parameters": params}


def by_access(spec: dict, access: str) -> tuple[list[str], list[str]]:
    """(lake key prefixes, Glue table and view names) of one reader class."""
    prefixes, names = [], []
    for t in spec["tables"]:
        if t["access"] == access:
            prefixes.append(location_prefix(t))
            names.append(t["name"])
            if t.get("raw", True):
                names.append(t["name"] + "_raw")
    names += [v["name"] for v in spec.get("views", []) if v["access"] == access]
    return prefixes, names


def lake_objects(prefixes: list[str]) -> dict:
    return {"Fn::If": ["HasLakePrefix",
                       [{"Fn::Sub": f"${{LakeBucket.Arn}}/${{LakePrefix}}/{p}/*"} for p in prefixes],
                       [{"Fn::Sub": f"${{LakeBucket.Arn}}/{p}/*"} for p in prefixes]]}


def arn(service: str, resource: str) -> dict:
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


# The reader classes: policy logical id, Athena workgroup logical id, results prefix.
READERS = {"audit": ("AuditReaderPolicy", "AthenaAuditWorkGroup"),
           "content": ("ContentReaderPolicy", "AthenaContentWorkGroup")}


def reader_policy(spec: dict, access: str) -> dict:
    prefixes, names = by_access(spec, access)
    _, workgroup = READERS[access]
    what = {"audit": "audit data (directory, activities, commit log)",
            "content": "content (chats, messages, projects, files, DLP findings)"}[access]
    return {
        "Type": "AWS::IAM::ManagedPolicy",
        "Condition": "ReaderRolesOn",
        "Properties": {
            "Description": f"compliance-lake: query the {what} with Athena - only the lake prefixes "
                           + ", ".join(prefixes) + f" and the {access} workgroup",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "ReadLakeObjects", "Effect": "Allow", "Action": "s3:GetObject",
                     "Resource": lake_objects(prefixes)},
                    {"Sid": "ListLakePrefixes", "Effect": "Allow", "Action": "s3:ListBucket",
                     "Resource": {"Fn::GetAtt": ["LakeBucket", "Arn"]},
                     "Condition": {"StringLike": {"s3:prefix": {"Fn::If": [
                         "HasLakePrefix",
                         [{"Fn::Sub": f"${{LakePrefix}}/{p}/*"} for p in prefixes],
                         [f"{p}/*" for p in prefixes]]}}}},
                    {"Sid": "BucketLocations", "Effect": "Allow", "Action": "s3:GetBucketLocation",
                     "Resource": [{"Fn::GetAtt": ["LakeBucket", "Arn"]}, {"Fn::GetAtt": ["AthenaResultsBucket", "Arn"]}]},
                    {"Sid": "Catalog", "Effect": "Allow",
                     "Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition",
                                "glue:GetPartitions"],
                     "Resource": [arn("glue", "catalog"), arn("glue", "database/${GlueDatabase}")]
                     + [arn("glue", f"table/${{GlueDatabase}}/{n}") for n in names]},
                    {"Sid": "Query", "Effect": "Allow",
                     "Action": ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
                                "athena:StopQueryExecution", "athena:GetWorkGroup"],
                     "Resource": arn("athena", f"workgroup/${{{workgroup}}}")},
                    {"Sid": "SavedQueries", "Effect": "Allow",
                     "Action": ["athena:ListNamedQueries", "athena:GetNamedQuery", "athena:BatchGetNamedQuery"],
                     "Resource": arn("athena", "workgroup/${AthenaWorkGroup}")},
                    {"Sid": "OwnResults", "Effect": "Allow",
                     "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                     "Resource": {"Fn::Sub": f"${{AthenaResultsBucket.Arn}}/{access}/*"}},
                    {"Sid": "ListOwnResults", "Effect": "Allow", "Action": "s3:ListBucket",
                     "Resource": {"Fn::GetAtt": ["AthenaResultsBucket", "Arn"]},
                     "Condition": {"StringLike": {"s3:prefix": f"{access}/*"}}},
                    {"Fn::If": ["HasKmsKey",
                                {"Sid": "CustomerManagedKey", "Effect": "Allow",
                                 "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": {"Ref": "KmsKeyArn"}},
                                {"Ref": "AWS::NoValue"}]},
                ],
            },
        },
    }


def lake_bucket_policy(spec: dict) -> dict:
    """TLS only; with the reader roles, content (and staged segments) readable only by the functions and
    the content reader role, whatever other IAM policies in the account allow."""
    content, _ = by_access(spec, "content")
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": "LakeBucket"},
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    # A Deny: wildcards here only widen what is refused (any request without TLS).
                    {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                     "Resource": [{"Fn::GetAtt": ["LakeBucket", "Arn"]}, {"Fn::Sub": "${LakeBucket.Arn}/*"}],
                     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                    {"Fn::If": ["ReaderRolesOn",
                                {"Sid": "DenyContentReadsToOthers", "Effect": "Deny", "Principal": "*",
                                 "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                                 "Resource": lake_objects(content + ["_staging"]),
                                 "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [
                                     {"Fn::GetAtt": ["WorkerRole", "Arn"]},
                                     {"Fn::GetAtt": ["SchedulerRole", "Arn"]},
                                     {"Fn::GetAtt": ["ContentReaderRole", "Arn"]}]}}},
                                {"Ref": "AWS::NoValue"}]},
                ],
            },
        },
    }


def dashboard_body() -> str:
    """infra/cloudwatch/dashboard.json as the Fn::Sub string of DashboardBody (the CDK app builds the same)."""
    with open(DASHBOARD_JSON, encoding="utf-8") as f:
        body = json.load(f)
    body.pop("$comment", None)
    text = json.dumps(body, separators=(",", ":"))
    if not text.isascii():
        raise SystemExit("infra/cloudwatch/dashboard.json: ASCII only (the CDK app must produce the same string)")
    return re.sub(r'"\$\{Number:([A-Za-z0-9]+)\}"', r"${\1}", text)


def dashboard_resource() -> dict:
    return {"Type": "AWS::CloudWatch::Dashboard",
            "Properties": {"DashboardName": {"Fn::Sub": "${AWS::StackName}-operations"},
                           "DashboardBody": {"Fn::Sub": dashboard_body()}}}


def athena_resources(spec: dict, queries: list[Query]) -> dict:
    """Logical id -> resource; CloudFormation long-form intrinsics only. The CDK app builds the same."""
    res: dict[str, dict] = {}
    raw = spec["raw_serde"]
    for t in spec["tables"]:
        name = t["name"]
        res[f"GlueTable{camel(name)}"] = glue_table(
            spec, t, name, t["description"], all_columns(spec, t), serde_for(spec, t), "json")
        if t.get("raw", True):
            res[f"GlueTable{camel(name)}Raw"] = glue_table(
                spec, t, f"{name}_raw",
                f"{name}, one row per JSON line (column `line`): for fields that are not columns of {name}.",
                [raw["column"]], {"library": raw["library"], "parameters": raw["parameters"]}, "json")
    for v in spec.get("views", []):
        res[f"GlueView{camel(v['name'])}"] = glue_view(v)
    for access, (policy, _) in READERS.items():
        res[policy] = reader_policy(spec, access)
    res["LakeBucketPolicy"] = lake_bucket_policy(spec)
    res["OperationsDashboard"] = dashboard_resource()
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
    body.append("  # Generated from infra/athena/ (tables.json, queries/, views/) and infra/cloudwatch/dashboard.json - do not edit by hand.")
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
        if t.get("access") not in READERS:
            problems.append(f"table {t['name']}: access must be one of {sorted(READERS)}")
        seen = set()
        keys = {k["name"] for k in partition_keys(spec, t)}
        for k in t.get("partition_keys", []):
            if k.get("projection", {}).get("type") != "enum" or not k["projection"].get("values"):
                problems.append(f"{t['name']}: partition key {k['name']} needs an enum projection with values")
        for c in all_columns(spec, t):
            n = c["name"]
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", n):
                problems.append(f"{t['name']}.{n}: column names must be lowercase identifiers")
            if n in seen or n in keys:
                problems.append(f"{t['name']}.{n}: duplicate column")
            seen.add(n)
            try:
                parse_type(c["type"])
            except ValueError as e:
                problems.append(f"{t['name']}.{n}: {e}")
            if c.get("json_text") and c["type"] != "string":
                problems.append(f"{t['name']}.{n}: json_text columns are strings")
            if len(c.get("comment", "")) > 255:
                problems.append(f"{t['name']}.{n}: comment longer than 255")
            for pat in t.get("excluded", {}):
                if fnmatch.fnmatchcase(json_key(c), pat):
                    problems.append(f"{t['name']}.{n}: both a column and excluded by {pat!r}")
    for v in spec.get("views", []):
        n = v["name"]
        if not re.fullmatch(r"[a-z][a-z0-9_]*", n) or n in names:
            problems.append(f"view name {n!r} (lowercase, distinct from every table and view)")
        names.add(n)
        path = os.path.join(VIEWS_DIR, f"{n}.sql")
        if not os.path.exists(path):
            problems.append(f"view {n}: {os.path.relpath(path, ROOT)} missing")
            continue
        sql = load_view_sql(n)
        if not sql.isascii() or "${" in sql:
            problems.append(f"view {n}: SQL must be ASCII and free of '${{' (it is embedded in Fn::Sub)")
        cols = [c["name"] for c in v["columns"]]
        if len(cols) != len(set(cols)):
            problems.append(f"view {n}: duplicate column")
        if v.get("access") not in READERS:
            problems.append(f"view {n}: access must be one of {sorted(READERS)}")
        for c in v["columns"]:
            if c["type"] not in TRINO_TYPES:
                problems.append(f"view {n}.{c['name']}: type {c['type']!r} (views use {sorted(TRINO_TYPES)})")
            if len(c.get("comment", "")) > 255:
                problems.append(f"view {n}.{c['name']}: comment longer than 255")
    if os.path.isdir(VIEWS_DIR):
        declared = {v["name"] for v in spec.get("views", [])}
        for f in sorted(os.listdir(VIEWS_DIR)):
            base = f.split(".")[0]
            if f.endswith(".sql") and base not in declared:
                problems.append(f"infra/athena/views/{f} is not declared in tables.json 'views'")
    if problems:
        raise SystemExit("infra/athena/tables.json: " + "; ".join(problems))


# ----------------------------------------------------------------------------------------------
# Reading a store (the lake layout: <table>/dt=YYYY-MM-DD/<name>.ndjson.gz)
# ----------------------------------------------------------------------------------------------

def object_re(spec: dict, table: dict) -> re.Pattern:
    """Key of a data object below the table's location: [<extra key value>/...]dt=YYYY-MM-DD/<name>.<ext>."""
    ext = r"\.ndjson\.gz" if table.get("compressed", True) else r"\.json"
    extra = "".join(r"([a-z0-9_-]+)/" for _ in table.get("partition_keys", []))
    return re.compile(rf"^{extra}{spec['partition_key']['name']}=(\d{{4}}-\d{{2}}-\d{{2}})/[^/]+{ext}$")


def table_files(store: str, spec: dict, table: dict) -> list[tuple[str, dict]]:
    """(path, partition values) of every data object of the table in STORE, sorted."""
    root = os.path.join(store, location_prefix(table))
    rx = object_re(spec, table)
    keys = [k["name"] for k in partition_keys(spec, table)]
    out = []
    for dirpath, _, files in os.walk(root, followlinks=True):
        for fn in files:
            rel = os.path.relpath(os.path.join(dirpath, fn), root).replace(os.sep, "/")
            m = rx.match(rel)
            if m:
                out.append((os.path.join(dirpath, fn), dict(zip(keys, m.groups()))))
    return sorted(out)


def read_store(store: str, spec: dict) -> tuple[dict[str, list[dict]], list[str]]:
    """table -> records (each with '__dt', '__<partition key>', '__line', '__file'), plus layout problems."""
    data: dict[str, list[dict]] = {t["name"]: [] for t in spec["tables"]}
    problems = []
    by_loc = {location_prefix(t): t for t in spec["tables"]}
    for entry in sorted(os.listdir(store)):
        full = os.path.join(store, entry)
        if not os.path.isdir(full) or entry.startswith("."):
            continue
        if entry not in by_loc:
            if not entry.startswith("_"):  # _staging/ and other engine prefixes are not tables
                problems.append(f"directory {entry}/ holds data but tables.json has no table {entry!r}")
            continue
        t = by_loc[entry]
        rx = object_re(spec, t)
        for dirpath, _, files in os.walk(full, followlinks=True):
            for fn in files:
                rel = os.path.relpath(os.path.join(dirpath, fn), full).replace(os.sep, "/")
                if not rx.match(rel):
                    problems.append(f"{entry}/{rel} does not match {rx.pattern} (Athena would read it as data)")
        for path, parts in table_files(store, spec, t):
            rel = os.path.relpath(path, store)
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        problems.append(f"{rel}:{n}: empty line")
                        continue
                    try:
                        rec = json.loads(line)
                    except ValueError as e:
                        problems.append(f"{rel}:{n}: not one JSON object per line ({e})")
                        continue
                    if not isinstance(rec, dict):
                        problems.append(f"{rel}:{n}: not a JSON object")
                        continue
                    for k, v in parts.items():
                        rec[f"__{k}"] = v
                    rec["__line"] = line.rstrip("\n")
                    rec["__file"] = rel
                    data[t["name"]].append(rec)
    return data, problems


# ----------------------------------------------------------------------------------------------
# schema: columns vs what the code writes
# ----------------------------------------------------------------------------------------------


def cmd_schema(store: str) -> None:
    import tempfile

    spec = load_spec()
    validate_spec(spec)
    data, layout = read_store(store, spec)
    work = tempfile.mkdtemp(prefix="athena-schema-")
    _, note = with_manifests(store, spec, data, work)
    result(not layout, "athena: lake layout matches the table locations",
           "; ".join(layout[:5]) + (f" (+{len(layout) - 5} more)" if len(layout) > 5 else ""))
    for t in spec["tables"]:
        name = t["name"]
        recs = data.get(name, [])
        check = f"athena: schema of {name} covers the demo output"
        if name == "manifests" and note:
            check = f"athena: schema of {name} covers the fixture manifests ({note})"
        if not recs:
            result(False, check, f"no records for {name} in {store} (the demo should write every table)")
            continue
        cols = {json_key(c): c for c in all_columns(spec, t)}
        types = {k: ("json",) if c.get("json_text") else parse_type(c["type"]) for k, c in cols.items()}
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


def create_tables(con, spec: dict, roots: dict[str, str]) -> None:
    """One DuckDB view per Glue table with exactly its columns and types, plus its partition keys (strings)
    like Athena. roots: table -> store directory to read it from (a fixture may stand in for one table)."""
    for t in spec["tables"]:
        name = t["name"]
        files = [f for f, _ in table_files(roots[name], spec, t)]
        if files:
            comp = "'gzip'" if t.get("compressed", True) else "'uncompressed'"
            src = (f"read_json_objects([{', '.join(sql_str(f) for f in files)}], format='newline_delimited', "
                   f"compression={comp}, filename=true)")
        else:
            src = "(SELECT NULL::JSON AS json, NULL::VARCHAR AS filename WHERE false)"
        parts = []
        prefix = re.escape("/" + location_prefix(t) + "/")
        extra = ""
        for i, k in enumerate(t.get("partition_keys", []), 1):
            parts.append(f"regexp_extract(filename, {sql_str(prefix + extra + '([a-z0-9_-]+)/')}, {i}) AS {k['name']}")
            extra += "[a-z0-9_-]+/"
        pk = spec["partition_key"]["name"]
        parts.append(f"regexp_extract(filename, '/{pk}=([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})/', 1) AS {pk}")
        cols = []
        for c in all_columns(spec, t):
            key = json_key(c).replace('"', '\\"')
            if c.get("json_text"):
                cols.append(f"CAST(json->'$.\"{key}\"' AS VARCHAR) AS \"{c['name']}\"")
                continue
            structure = json.dumps(duck_structure(parse_type(c["type"])))
            cols.append(f"json_transform(json->'$.\"{key}\"', {sql_str(structure)}) AS \"{c['name']}\"")
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT {", ".join(cols + parts)} FROM {src}')
        if t.get("raw", True):
            raw_col = spec["raw_serde"]["column"]["name"]
            con.execute(f'CREATE OR REPLACE VIEW "{name}_raw" AS SELECT CAST(json AS VARCHAR) AS "{raw_col}", '
                        f'{", ".join(parts)} FROM {src}')


# A view column's Hive type -> the DuckDB type the translated view must return (Trino's, in DuckDB terms).
DUCK_VIEW_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "boolean": "BOOLEAN",
                   "double": "DOUBLE", "timestamp": "TIMESTAMP_MS", "date": "DATE"}


def translate_sql(sql: str, override: str | None = None) -> str:
    if override:
        return override
    import sqlglot

    return sqlglot.transpile(sql, read="athena", write="duckdb", pretty=True)[0]


def translate(q: Query) -> str:
    return translate_sql(q.sql, q.duckdb_sql)


def create_athena_views(con, spec: dict) -> dict[str, str]:
    """Creates every Athena view in DuckDB (after the tables); view -> error for those that failed."""
    errors = {}
    pending = list(spec.get("views", []))
    # Views may read other views: create in dependency order (retry until no progress).
    while pending:
        progress, left = False, []
        for v in pending:
            try:
                sql = translate_sql(load_view_sql(v["name"]), view_duckdb_override(v["name"]))
                con.execute(f'CREATE OR REPLACE VIEW "{v["name"]}" AS {sql}')
                progress = True
            except Exception as e:  # noqa: BLE001 - reported per view
                errors[v["name"]] = f"{type(e).__name__}: {str(e).splitlines()[0]}"
                left.append(v)
        if not progress:
            break
        for v in pending:
            if v not in left:
                errors.pop(v["name"], None)
        pending = left
    return errors


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


# ----------------------------------------------------------------------------------------------
# Test data: manifests (until the engine writes _manifests/) and a lagged copy of the store
# ----------------------------------------------------------------------------------------------

TODAY = dt_mod.datetime.now(dt_mod.timezone.utc).date()


def since(days: int) -> str:
    """The first day of a query's 'last N days' window (current_date - INTERVAL 'N' DAY), yyyy-MM-dd."""
    return (TODAY - dt_mod.timedelta(days=days)).isoformat()


def in_window(s: str | None, days: int) -> bool:
    return s is not None and utc_day(s) >= since(days)


RUN_DATE_RE = re.compile(r"^(?:run|sched)-(\d{4})(\d{2})(\d{2})T")


def run_date(run_id: str) -> str:
    m = RUN_DATE_RE.match(run_id)
    if not m:
        raise Mismatch(f"run id {run_id!r} does not start with run-/sched-YYYYMMDDT")
    return "-".join(m.groups())


def batch_of(path: str) -> str:
    """The batch part of an object name <table>-<batch>-<part>.ndjson.gz (objects of one commit share it)."""
    base = os.path.basename(path)
    return re.sub(r"-\d+\.ndjson\.gz$", "", re.sub(r"^[a-z_]+?-(?=[^_])", "", base, count=1))


def synth_manifests(spec: dict, data: dict) -> list[dict]:
    """A commit log made from the store's own records, for stores the engine wrote before _manifests/
    existed: one segment per (stream, run, job, batch), objects = its files, requests = the requests the
    records came from (provenance), seq per job in commit order, hash-chained like the engine's."""
    import hashlib

    segs: dict = collections.OrderedDict()
    for t in spec["tables"]:
        if not t.get("ingest", True):
            continue
        for r in data.get(t["name"], []):
            ing = r.get("_ingest") or {}
            key = (ing.get("stream"), ing.get("run_id"), ing.get("job"), batch_of(r["__file"]))
            seg = segs.setdefault(key, {"files": collections.OrderedDict(), "requests": collections.OrderedDict(),
                                        "times": []})
            f = seg["files"].setdefault(r["__file"], {"table": t["name"], "records": 0})
            f["records"] += 1
            if ing.get("request_id"):
                seg["requests"].setdefault(ing["request_id"], {"endpoint": ing.get("endpoint"), "query": None,
                                                               "request_id": ing["request_id"],
                                                               "at": ing.get("fetched_at")})
            seg["times"].append(ing.get("fetched_at"))
    out, prev, seqs = [], {}, collections.Counter()
    for (stream, run, job, _), seg in sorted(segs.items(), key=lambda kv: (min(filter(None, kv[1]["times"])), kv[0])):
        seqs[job] += 1
        committed = max(filter(None, seg["times"]))
        m = {"manifest_version": 1, "stream": stream, "job": job, "run_id": run, "seq": seqs[job],
             "committed_at": committed,
             "checkpoint_before": {"segment": seqs[job] - 1}, "checkpoint_after": {"segment": seqs[job]},
             "records_time_range": {"min": min(filter(None, seg["times"])), "max": committed},
             "requests": list(seg["requests"].values()),
             "objects": [{"key": k, "table": f["table"], "bytes": 0, "records": f["records"],
                          "sha256": hashlib.sha256(k.encode()).hexdigest()} for k, f in seg["files"].items()],
             "prev_sha256": prev.get(job)}
        line = json.dumps(m, separators=(",", ":"))
        prev[job] = hashlib.sha256(line.encode()).hexdigest()
        out.append(m)
    return out


def write_manifests(spec: dict, out_dir: str, manifests: list[dict], dt_of: Callable[[dict], str]) -> None:
    t = next(t for t in spec["tables"] if t["name"] == "manifests")
    for m in manifests:
        d = os.path.join(out_dir, location_prefix(t), m["stream"], f"dt={dt_of(m)}")
        os.makedirs(d, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{m['run_id']}-{m['job']}-{m['seq']:06d}") + ".json"
        with open(os.path.join(d, name), "a", encoding="utf-8") as f:
            f.write(json.dumps(m, separators=(",", ":")) + "\n")


def with_manifests(store: str, spec: dict, data: dict, work: str) -> tuple[dict[str, str], str]:
    """Roots to read each table from: STORE, except manifests from a fixture made of STORE's records when
    the engine wrote none. Returns (roots, note)."""
    roots = {t["name"]: store for t in spec["tables"]}
    if data.get("manifests"):
        return roots, ""
    write_manifests(spec, work, synth_manifests(spec, data), lambda m: utc_day(m["committed_at"]))
    roots["manifests"] = work
    data["manifests"] = read_store(work, spec)[0]["manifests"]
    return roots, f"the store has no _manifests/ yet: {len(data['manifests'])} manifests made from its records"


# The event time each table's dt bound is safe against (dt, the ingest date, is never before it).
EVENT_TIME: dict[str, Callable[[dict], str | None]] = {
    "activities": lambda r: r.get("created_at"),
    "chats": lambda r: r.get("updated_at"),
    "chat_messages": lambda r: r.get("created_at"),
    "projects": lambda r: r.get("updated_at"),
    "project_documents": lambda r: r.get("created_at"),
    "dlp_findings": lambda r: r.get("source_created_at") or r.get("detected_at"),
}


def lag_days(key: str) -> int:
    import hashlib

    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 4


def build_lagged_store(spec: dict, data: dict, out: str) -> dict:
    """A copy of the data whose ingest dates differ from the event dates the way production's do: each
    record of an event table lands in dt = its event day + 0..3 days (never after today), with its
    ingest-time fields (fetch time; a finding's detected_at) moved to that day. Snapshots keep their dt.
    Returns figures for the report."""
    stats = collections.Counter()
    for t in spec["tables"]:
        if t["name"] == "manifests":
            continue
        groups: dict[str, list[str]] = collections.defaultdict(list)
        for r in data.get(t["name"], []):
            rec = {k: v for k, v in r.items() if not k.startswith("__")}
            ev = EVENT_TIME.get(t["name"], lambda _: None)(rec)
            dt = r["__dt"]
            if ev:
                day = iso(ev).date()
                new = min(day + dt_mod.timedelta(days=lag_days(t["name"] + (rec.get("id") or r["__line"]))),
                          max(TODAY, day))
                dt = new.isoformat()
                end = f"{dt}T23:59:59Z"
                ing = dict(rec.get("_ingest") or {})
                if ing.get("fetched_at") and iso(ing["fetched_at"]) > iso(end):
                    ing["fetched_at"] = end
                    rec["_ingest"] = ing
                if t["name"] == "dlp_findings" and rec.get("detected_at") and iso(rec["detected_at"]) > iso(end):
                    rec["detected_at"] = end
                stats["records"] += 1
                stats["dt_after_event_day"] += dt > day.isoformat()
                stats["event_before_30d_window_dt_inside"] += day.isoformat() < since(30) <= dt
            groups[dt].append(json.dumps(rec, separators=(",", ":")))
        for dt, lines in groups.items():
            d = os.path.join(out, location_prefix(t), f"{spec['partition_key']['name']}={dt}")
            os.makedirs(d, exist_ok=True)
            with gzip.open(os.path.join(d, f"{t['name']}-lagged-00000.ndjson.gz"), "wt", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
    # Manifests: a segment is committed on the day its run started or up to 2 days later.
    def manifest_dt(m: dict) -> str:
        start = dt_mod.date.fromisoformat(run_date(m["run_id"]))
        return max(start, min(start + dt_mod.timedelta(days=lag_days(m["job"] + str(m["seq"])) % 3), TODAY)).isoformat()

    write_manifests(spec, out, data.get("manifests", []), manifest_dt)
    return stats


# ----------------------------------------------------------------------------------------------
# dt bounds of the named queries
# ----------------------------------------------------------------------------------------------

BOUND_RE = re.compile(r"\b((?:[A-Za-z_][A-Za-z0-9_]*\.)?dt\s*>=\s*)(.+?)(\s*--\s*dt bound\b.*)$")


def bound_lines(sql: str) -> list[str]:
    return [ln for ln in sql.split("\n") if re.search(r"--\s*dt bound\b", ln)]


def unbounded(sql: str, tighter: bool = False) -> str:
    """The query without its dt bounds (each `dt >= X -- dt bound` becomes TRUE, keeping its ? parameters),
    or with tighter=True each bound one notch tighter (dt > X): a negative control."""
    out = []
    for ln in sql.split("\n"):
        m = BOUND_RE.search(ln)
        if m and tighter:
            ln = ln[: m.start()] + m.group(1).replace(">=", ">") + m.group(2) + m.group(3)
        elif m:
            n = m.group(2).count("?")
            repl = "(" + " AND ".join(["CAST(? AS VARCHAR) IS NOT NULL"] * n) + ")" if n else "TRUE"
            ln = ln[: m.start()] + repl + m.group(3)
        elif re.search(r"--\s*dt bound\b", ln):
            raise Mismatch(f"a '-- dt bound' line that is not 'dt >= <expr> -- dt bound': {ln.strip()!r}")
        out.append(ln)
    return "\n".join(out)


def lake_references(sql: str, spec: dict) -> list[str]:
    """Tables and dt-carrying views a query reads (each needs a dt bound)."""
    names = {t["name"] for t in spec["tables"]} | {t["name"] + "_raw" for t in spec["tables"] if t.get("raw", True)}
    names |= {v["name"] for v in spec.get("views", []) if any(c["name"] == "dt" for c in v["columns"])}
    unbounded_views = {v["name"] for v in spec.get("views", [])} - names
    refs = []
    code = re.sub(r"--[^\n]*", "", sql)  # comments name tables too ("... from activities_raw")
    for m in re.finditer(r"\b(?:FROM|JOIN)\s+\"?([a-z_][a-z0-9_]*)\"?", code, re.I):
        if m.group(1) in names or m.group(1) in unbounded_views:
            refs.append(m.group(1))
    return refs


# ----------------------------------------------------------------------------------------------
# Expectations: each recomputes a query's or view's answer from the raw records, in Python
# rows: list of dicts (column -> value) as DuckDB returned them; params: the query's parameters.
# ----------------------------------------------------------------------------------------------


def expect_activity_by_type_per_day(rows: list[dict], data: dict, params: dict) -> str:
    acts = [r for r in distinct_by(data["activities"], lambda r: r["id"]) if in_window(r["created_at"], 30)]
    want: dict = collections.defaultdict(lambda: [0, set()])
    for r in acts:
        k = (utc_day(r["created_at"]), r["type"])
        want[k][0] += 1
        a = r.get("actor") or {}
        want[k][1].add(a.get("user_id") or a.get("api_key_id") or a.get("admin_api_key_id")
                        or a.get("email_address") or a.get("type"))
    got = keyed(rows, lambda r: (str(r["day"]), r["type"]), lambda r: (r["activities"], r["actors"]))
    same(got, {k: (v[0], len(v[1])) for k, v in want.items()}, "counts per (day, type)")
    same(sum(r["activities"] for r in rows), len(acts), "total = distinct activities of the window")
    return f"{len(rows)} (day, type) rows, {len(acts)} activities"


def expect_sign_ins_by_ip_and_user_agent(rows: list[dict], data: dict, params: dict) -> str:
    acts = [r for r in distinct_by(data["activities"], lambda r: r["id"]) if in_window(r["created_at"], 30)]
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
        raise Mismatch("no *_login_succeeded activity in the window: nothing to check")
    same(sum(r["sign_ins"] for r in rows), n_ok, "sign-ins grouped by IP sum to the sign-in activities")
    return f"{len(rows)} (ip, user agent) rows, {n_ok} sign-ins"


def expect_chats_and_messages_per_user(rows: list[dict], data: dict, params: dict) -> str:
    per: dict = collections.defaultdict(lambda: {"email": None, "chats": set(), "deleted": set(), "msgs": set(),
                                                 "sent": set(), "last": None, "has_chats": False})
    chats = [c for c in data["chats"] if in_window(c.get("updated_at"), 30)]
    msgs = [m for m in data["chat_messages"] if in_window(m.get("created_at"), 30)]
    for c in chats:
        u = c.get("user") or {}
        p = per[u.get("id")]
        p["has_chats"] = True
        p["email"] = max(filter(None, [p["email"], u.get("email_address")]), default=None)
        p["chats"].add(c["id"])
        if c.get("deleted_at") is not None:
            p["deleted"].add(c["id"])
    memail: dict = {}
    for m in msgs:
        u = m.get("chat_user") or {}
        p = per[u.get("id")]
        memail[u.get("id")] = max(filter(None, [memail.get(u.get("id")), u.get("email_address")]), default=None)
        p["msgs"].add(m["id"])
        if m.get("role") == "user":
            p["sent"].add(m["id"])
        t = iso(m["created_at"])
        p["last"] = t if p["last"] is None or t > p["last"] else p["last"]
    exp = {uid: ((p["email"] if p["has_chats"] else None) or memail.get(uid), len(p["chats"]), len(p["deleted"]),
                 len(p["msgs"]), len(p["sent"]), to_second(p["last"])) for uid, p in per.items()}
    got = keyed(rows, lambda r: r["user_id"],
                lambda r: (r["email"], r["chats"], r["deleted_chats"], r["messages"], r["messages_sent"],
                           to_second(r["last_message_at"])))
    same(got, exp, "per user (email, chats, deleted, messages, sent, last)")
    n_chats, n_msgs = len({c["id"] for c in chats}), len({m["id"] for m in msgs})
    same((sum(r["chats"] for r in rows), sum(r["messages"] for r in rows)), (n_chats, n_msgs),
         "totals = distinct chats and messages of the window")
    return f"{len(rows)} users, {n_chats} chats, {n_msgs} messages"


def expect_dlp_findings_by_severity_user_day(rows: list[dict], data: dict, params: dict) -> str:
    fs = [f for f in distinct_by(data["dlp_findings"], lambda r: r["id"])
          if in_window(f.get("source_created_at") or f["detected_at"], 30)]
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


def expect_latest_users_with_roles(rows: list[dict], data: dict, params: dict) -> str:
    recent = [u for u in data["users"] if in_window(u["_ingest"]["fetched_at"], 7)]
    latest: dict = {}
    for u in recent:
        org, t = u["organization_uuid"], iso(u["_ingest"]["fetched_at"])
        if org not in latest or t > latest[org][0]:
            latest[org] = (t, u["_ingest"]["run_id"])
    names: dict = {}
    for o in data["organizations"]:
        if in_window(o["_ingest"]["fetched_at"], 7):
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
        raise Mismatch(f"no users snapshot fetched since {since(7)}: the store is older than the query's window")
    if any(r["organization_role"] is None for r in rows):
        raise Mismatch("a user without organization_role")
    ids = [(r["organization_uuid"], r["user_id"]) for r in rows]
    same(len(ids), len(set(ids)), "one row per (organization, user)")
    return f"{len(rows)} users in {len(latest)} organizations"


def expect_compliance_keys_latest(rows: list[dict], data: dict, params: dict) -> str:
    recent = [s for s in data["org_settings"] if in_window(s["_ingest"]["fetched_at"], 7)]
    latest: dict = {}
    for s in recent:
        org, t = s["organization_uuid"], iso(s["_ingest"]["fetched_at"])
        if org not in latest or t > latest[org][0]:
            latest[org] = (t, s["_ingest"]["run_id"])
    exp = sorted((s["organization_uuid"], k["id"], k["name"], k["is_active"], ",".join(k["scopes"]))
                 for s in recent if s["_ingest"]["run_id"] == latest[s["organization_uuid"]][1]
                 for k in s.get("api_keys") or [])
    got = sorted((r["organization_uuid"], r["api_key_id"], r["api_key_name"], r["is_active"], r["scopes"]) for r in rows)
    same(got, exp, "keys of the latest snapshot per organization")
    if not rows:
        raise Mismatch(f"no org_settings snapshot fetched since {since(7)}: the store is older than the query's window")
    ids = [(r["organization_uuid"], r["api_key_id"]) for r in rows]
    same(len(ids), len(set(ids)), "one row per (organization, key)")
    return f"{len(rows)} keys in {len(latest)} organizations, {sum(1 for r in rows if not r['is_active'])} inactive"


def expect_activity_types_from_raw(rows: list[dict], data: dict, params: dict) -> str:
    want = collections.Counter(r["type"] for r in data["activities"] if in_window(r["created_at"], 30))
    got = keyed(rows, lambda r: r["type"], lambda r: r["activities"])
    same(got, dict(want), "count per type (raw lines of the window)")
    for r in rows:
        ex = json.loads(r["example"])
        if ex.get("type") != r["type"]:
            raise Mismatch(f"example line of {r['type']} has type {ex.get('type')}")
    return f"{len(rows)} types"


def expect_run_writes(rows: list[dict], data: dict, params: dict) -> str:
    ms = [m for m in data["manifests"] if m["run_id"] == params["run_id"]]
    exp = sorted((m["stream"], m["job"], m["seq"], o["key"], o["table"], o["records"], o["bytes"], o["sha256"],
                  ", ".join(r["request_id"] for r in m["requests"]),
                  ", ".join(sorted({r["endpoint"] for r in m["requests"]})))
                 for m in ms for o in m["objects"])
    got = sorted((r["stream"], r["job"], r["seq"], r["object_key"], r["table_name"], r["records"], r["bytes"],
                  r["sha256"], r["request_ids"], r["endpoints"]) for r in rows)
    same(got, exp, f"objects of run {params['run_id']}")
    others = {m["run_id"] for m in data["manifests"]} - {params["run_id"]}
    reqs = {r["request_id"] for m in ms for r in m["requests"]}
    return (f"run {params['run_id']}: {len(rows)} objects from {len(reqs)} requests in {len(ms)} segments; "
            f"{len(others)} other run(s) excluded")


EXPECT: dict[str, Callable[[list[dict], dict, dict], str]] = {
    "activity_by_type_per_day": expect_activity_by_type_per_day,
    "sign_ins_by_ip_and_user_agent": expect_sign_ins_by_ip_and_user_agent,
    "chats_and_messages_per_user": expect_chats_and_messages_per_user,
    "dlp_findings_by_severity_user_day": expect_dlp_findings_by_severity_user_day,
    "latest_users_with_roles": expect_latest_users_with_roles,
    "compliance_keys_latest": expect_compliance_keys_latest,
    "activity_types_from_raw": expect_activity_types_from_raw,
    "run_writes": expect_run_writes,
}


def query_params(q: Query, data: dict) -> dict:
    """Values for a query's ? parameters (header '-- parameters: a, b'), chosen from the data."""
    m = re.search(r"^--\s*parameters:\s*(.+)$", q.sql, re.M)
    names = [n.strip() for n in m.group(1).split(",")] if m else []
    out: dict = {}
    for n in names:
        if n == "run_id":
            runs = collections.Counter()
            for mf in data.get("manifests", []):
                runs[mf["run_id"]] += len(mf["objects"])
            if not runs:
                raise Mismatch("no manifests: no run to ask about")
            out[n] = runs.most_common(1)[0][0]
        elif n == "run_date":
            out[n] = run_date(out["run_id"])
        else:
            raise Mismatch(f"no test value for parameter {n!r} (add one in scripts/athena_check.py query_params)")
    if q.sql.count("?") != len(names):
        raise Mismatch(f"{q.sql.count('?')} '?' placeholders but {len(names)} parameters declared")
    return out


# Views: latest-version logic and flattening recomputed from the records.


def newest(recs: list[dict], key: Callable[[dict], Any], order: Callable[[dict], Any]) -> dict:
    out: dict = {}
    for r in recs:
        k = key(r)
        if k not in out or order(r) > order(out[k]):
            out[k] = r
    return out


def fetched(r: dict) -> dt_mod.datetime:
    return iso(r["_ingest"]["fetched_at"])


def ts_second(v: Any) -> str | None:
    """A view's naive UTC timestamp (or an RFC 3339 string) to the second, for comparison."""
    if v is None:
        return None
    if isinstance(v, str):
        return to_second(v)
    return v.replace(tzinfo=dt_mod.timezone.utc, microsecond=0).isoformat()


def expect_view_organizations_latest(rows: list[dict], data: dict) -> str:
    orgs = data["organizations"]
    latest_run = max(orgs, key=lambda r: (fetched(r), r["_ingest"]["run_id"]))["_ingest"]["run_id"]
    want = newest(orgs, lambda r: r["uuid"], lambda r: (fetched(r), r["_ingest"]["run_id"]))
    got = keyed(rows, lambda r: r["uuid"], lambda r: (r["name"], ts_second(r["created_at"]), r["in_latest_snapshot"]))
    same(got, {k: (r["name"], ts_second(r.get("created_at")), r["_ingest"]["run_id"] == latest_run)
               for k, r in want.items()}, "newest row per organization")
    return f"{len(rows)} organizations from {len(orgs)} snapshot rows"


def expect_view_users_latest(rows: list[dict], data: dict) -> str:
    users = data["users"]
    latest_run = {}
    for r in users:
        o = r["organization_uuid"]
        if o not in latest_run or (fetched(r), r["_ingest"]["run_id"]) > latest_run[o][0]:
            latest_run[o] = ((fetched(r), r["_ingest"]["run_id"]), r["_ingest"]["run_id"])
    want = newest(users, lambda r: (r["organization_uuid"], r["id"]), lambda r: (fetched(r), r["_ingest"]["run_id"]))
    got = keyed(rows, lambda r: (r["organization_uuid"], r["id"]),
                lambda r: (r["email"], r["organization_role"], ts_second(r["last_seen_at"]), r["in_latest_snapshot"]))
    same(got, {k: (r["email"], r["organization_role"], ts_second(r["_ingest"]["fetched_at"]),
                   r["_ingest"]["run_id"] == latest_run[r["organization_uuid"]][1]) for k, r in want.items()},
         "newest row per (organization, user)")
    gone = sum(1 for r in rows if not r["in_latest_snapshot"])
    return f"{len(rows)} users from {len(users)} snapshot rows ({gone} no longer listed)"


def versioned_view(rows: list[dict], recs: list[dict], extra: Callable[[dict], tuple], what: str) -> str:
    want = newest(recs, lambda r: r["id"], lambda r: (iso(r["updated_at"]), fetched(r)))
    got = keyed(rows, lambda r: r["id"], lambda r: (r["name"], ts_second(r["updated_at"]), r["is_deleted"]) + extra(r))
    same(got, {k: (r["name"], ts_second(r["updated_at"]), r.get("deleted_at") is not None)
               + ((r.get("user") or {}).get("id"),) for k, r in want.items()}, f"newest version per {what}")
    return f"{len(rows)} {what}s from {len(recs)} versions"


def expect_view_chats_latest(rows: list[dict], data: dict) -> str:
    return versioned_view(rows, data["chats"], lambda r: (r["user_id"],), "chat")


def expect_view_projects_latest(rows: list[dict], data: dict) -> str:
    return versioned_view(rows, data["projects"], lambda r: (r["user_id"],), "project")


def expect_view_chat_message_text(rows: list[dict], data: dict) -> str:
    want = []
    for m in data["chat_messages"]:
        for i, b in enumerate(m.get("content") or [], 1):
            if b.get("type") == "text":
                want.append((m["id"], i, b.get("text"), to_second(m["created_at"]), m.get("chat_id"),
                             (m.get("chat_user") or {}).get("email_address"), m["__dt"]))
    got = [(r["message_id"], r["block_index"], r["text"], ts_second(r["created_at"]), r["chat_id"], r["user_email"],
            r["dt"]) for r in rows]
    same(sorted(got, key=repr), sorted(want, key=repr), "one row per text block")
    return f"{len(rows)} text blocks of {len(data['chat_messages'])} messages"


def expect_view_dlp_findings_enriched(rows: list[dict], data: dict) -> str:
    users = newest(data["users"], lambda r: (r["organization_uuid"], r["id"]), lambda r: (fetched(r), r["_ingest"]["run_id"]))
    chats = newest(data["chats"], lambda r: r["id"], lambda r: (iso(r["updated_at"]), fetched(r)))
    projects = newest(data["projects"], lambda r: r["id"], lambda r: (iso(r["updated_at"]), fetched(r)))
    want = []
    for f in data["dlp_findings"]:
        u = users.get((f.get("organization_uuid"), f.get("user_id")))
        c = chats.get(f.get("chat_id"))
        pid = f.get("project_id") or (c or {}).get("project_id")
        p = projects.get(pid)
        want.append((f["id"], f["severity"], (u or {}).get("email") or f.get("user_email"), (c or {}).get("name"),
                     pid, (p or {}).get("name"), ts_second(f["detected_at"])))
    got = [(r["id"], r["severity"], r["user_email"], r["chat_name"], r["project_id"], r["project_name"],
            ts_second(r["detected_at"])) for r in rows]
    same(sorted(got, key=repr), sorted(want, key=repr), "findings with user / chat / project context")
    named = sum(1 for r in rows if r["chat_name"] or r["project_name"])
    return f"{len(rows)} findings, {named} with a chat or project name"


VIEW_EXPECT: dict[str, Callable[[list[dict], dict], str]] = {
    "organizations_latest": expect_view_organizations_latest,
    "users_latest": expect_view_users_latest,
    "chats_latest": expect_view_chats_latest,
    "projects_latest": expect_view_projects_latest,
    "chat_message_text": expect_view_chat_message_text,
    "dlp_findings_enriched": expect_view_dlp_findings_enriched,
}


def run_sql(con, sql: str, params: dict) -> list[dict]:
    cur = con.execute(sql, list(params.values())) if params else con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def connect(spec: dict, roots: dict[str, str]):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # Athena's session time zone
    create_tables(con, spec, roots)
    return con


def check_views(con, spec: dict, data: dict, where: str) -> None:
    errors = create_athena_views(con, spec)
    for v in spec.get("views", []):
        check = f"athena: view {v['name']} ({where})"
        if v["name"] in errors:
            result(False, check, errors[v["name"]])
            continue
        if v["name"] not in VIEW_EXPECT:
            result(False, check, "no expectation in scripts/athena_check.py (every view is checked)")
            continue
        try:
            cur = con.execute(f'SELECT * FROM "{v["name"]}"')
            got_cols = [(d[0], str(d[1])) for d in cur.description]
            want_cols = [(c["name"], DUCK_VIEW_TYPES[c["type"]]) for c in v["columns"]]
            if got_cols != want_cols:
                raise Mismatch(f"columns (name, type) {got_cols} != declared {want_cols} (tables.json 'views')")
            rows = [dict(zip([c for c, _ in got_cols], r)) for r in cur.fetchall()]
            if not rows:
                raise Mismatch("no rows")
            detail = VIEW_EXPECT[v["name"]](rows, data)
        except Mismatch as e:
            result(False, check, str(e))
            continue
        except Exception as e:  # noqa: BLE001 - report any engine error
            result(False, check, f"{type(e).__name__}: {str(e).splitlines()[0]}")
            continue
        result(True, check, detail)


def cmd_queries(store: str, show: bool) -> None:
    try:
        import duckdb  # noqa: F401
        import sqlglot  # noqa: F401
    except ImportError as e:
        result(False, "athena: named queries", f"{e}; run scripts/validate-infra.sh (it installs duckdb + sqlglot)")
        return
    import tempfile

    spec = load_spec()
    data, _ = read_store(store, spec)
    queries = load_queries()
    names = {q.name for q in queries}
    for missing in sorted(set(EXPECT) - names):
        result(False, f"athena: query {missing}", "has an expectation but no infra/athena/queries file")
    with tempfile.TemporaryDirectory(prefix="athena-check-") as work:
        roots, note = with_manifests(store, spec, data, os.path.join(work, "manifests"))
        if note:
            print(f"  note: {note}")
        con = connect(spec, roots)
        check_views(con, spec, data, "demo output")

        # The same data with ingest dates that differ from event dates (dt = event day + 0..3 days).
        lagged = os.path.join(work, "lagged")
        stats = build_lagged_store(spec, data, lagged)
        ldata, _ = read_store(lagged, spec)
        lcon = connect(spec, {t["name"]: lagged for t in spec["tables"]})
        create_athena_views(lcon, spec)
        print(f"  note: lagged copy: {stats['records']} event records, {stats['dt_after_event_day']} with dt after "
              f"their event day, {stats['event_before_30d_window_dt_inside']} whose event is before a 30-day "
              f"window's first day but whose dt is inside it")

        for q in queries:
            check = f"athena: query {q.name}"
            if q.name not in EXPECT:
                result(False, check, "no expectation in scripts/athena_check.py (every named query is checked)")
                continue
            try:
                params = query_params(q, data)
                sql = translate(q)
                rows = run_sql(con, sql, params)
            except Mismatch as e:
                result(False, check, str(e))
                continue
            except Exception as e:  # noqa: BLE001 - report any engine or translation error
                result(False, check, f"{type(e).__name__}: {str(e).splitlines()[0]}")
                continue
            if show:
                print(f"--- {q.name} (DuckDB):\n{sql}\n--- {len(rows)} rows; first 3:")
                for r in rows[:3]:
                    print("   ", r)
            if not rows:
                result(False, check, "no rows")
            else:
                try:
                    result(True, check, EXPECT[q.name](rows, data, params))
                except Mismatch as e:
                    result(False, check, str(e))

            check = f"athena: query {q.name} is dt-bounded and returns the same rows without the bound (lagged data)"
            try:
                refs = lake_references(q.sql, spec)
                bounds = bound_lines(q.sql)
                if not refs:
                    raise Mismatch("reads no lake table")
                if len(bounds) < len(refs):
                    raise Mismatch(f"reads {refs} but has {len(bounds)} '-- dt bound' line(s): bound every read")
                if q.duckdb_sql:
                    raise Mismatch("has a .duckdb.sql override: the bound cannot be removed from it automatically")
                lparams = query_params(q, ldata)
                with_b = run_sql(lcon, translate_sql(q.sql), lparams)
                without = run_sql(lcon, translate_sql(unbounded(q.sql)), lparams)
                tight = run_sql(lcon, translate_sql(unbounded(q.sql, tighter=True)), lparams)
                as_set = lambda rs: sorted(repr(sorted(r.items())) for r in rs)  # noqa: E731
                if not with_b:
                    raise Mismatch("no rows on the lagged data")
                if as_set(with_b) != as_set(without):
                    raise Mismatch(f"{len(with_b)} rows with the bound, {len(without)} without: the bound is "
                                   "tighter than the event-time filter")
                EXPECT[q.name](with_b, ldata, lparams)
                control = ("a one-day-tighter bound changes the answer (caught)" if as_set(tight) != as_set(with_b)
                           else "a one-day-tighter bound gives the same answer on this data")
            except Mismatch as e:
                result(False, check, str(e))
                continue
            except Exception as e:  # noqa: BLE001
                result(False, check, f"{type(e).__name__}: {str(e).splitlines()[0]}")
                continue
            result(True, check, f"{len(with_b)} rows, {len(bounds)} bound(s); {control}")


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
