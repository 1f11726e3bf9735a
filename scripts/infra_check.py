#!/usr/bin/env python3
"""Static checks of the deployment templates of compliance-lake (offline; run from infra/.venv).

  infra_check.py translate SAM_TEMPLATE OUT_JSON   SAM -> CloudFormation with the SAM translator,
                                                    offline (CodeUri replaced by a dummy S3 URI)
  infra_check.py iam TEMPLATE_JSON...              least privilege: no '*' action or resource in an
                                                    Allow statement unless allow-listed (with a reason)
                                                    in infra/iam-allowlist.json; and every AWS SDK
                                                    operation the Rust code calls is either granted to
                                                    a function or listed as operator/CLI-only below
  infra_check.py env TEMPLATE_JSON...              the functions' environment vs the variables the
                                                    Rust code reads
  infra_check.py parity SAM_JSON CDK_JSON          the SAM stack (translated) and the CDK stack are the
                                                    same: parameters, mappings, conditions, rules,
                                                    resources (logical id, type, properties, policies),
                                                    outputs; only the Lambda code location may differ

Each check prints "PASS <check>" or "FAIL <check>: why"; exit status 1 if any failed.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import re
import sys
from typing import Any, Iterator

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ALLOWLIST = os.path.join(ROOT, "infra", "iam-allowlist.json")
FAILURES: list[str] = []


def result(ok: bool, check: str, detail: str = "") -> bool:
    if ok:
        print(f"PASS {check}" + (f" ({detail})" if detail else ""))
    else:
        print(f"FAIL {check}: {detail}")
        FAILURES.append(check)
    sys.stdout.flush()
    return ok


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        return json.loads(text)
    from samcli.yamlhelper import yaml_parse  # handles !Ref/!Sub/... short forms

    return yaml_parse(text)


# ----------------------------------------------------------------------------------------------
# translate
# ----------------------------------------------------------------------------------------------


def cmd_translate(src: str, out: str) -> None:
    import boto3
    from samtranslator.parser import parser
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.translator.translator import Translator

    template = load(src)
    for r in template.get("Resources", {}).values():
        if isinstance(r, dict) and r.get("Type") == "AWS::Serverless::Function":
            r.setdefault("Properties", {})["CodeUri"] = "s3://code-bucket/code.zip"
    session = boto3.session.Session(region_name="us-east-1")  # no call is made: no managed policies used
    translator = Translator(managed_policy_map=None, sam_parser=parser.Parser(), plugins=[], boto_session=session)
    try:
        cfn = translator.translate(sam_template=template, parameter_values={}, get_managed_policy_map=lambda: {})
    except InvalidDocumentException as e:
        result(False, "sam: translate to CloudFormation", " ".join(str(c) for c in e.causes))
        return
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(cfn, f, indent=1, sort_keys=True)
    result(True, "sam: translate to CloudFormation", f"{len(cfn.get('Resources', {}))} resources -> "
           f"{os.path.relpath(out, ROOT)}")


# ----------------------------------------------------------------------------------------------
# iam
# ----------------------------------------------------------------------------------------------

# AWS SDK operations (snake_case, as called in Rust) -> the IAM action that authorizes them.
SDK_ACTIONS = {
    "get_item": "dynamodb:GetItem", "put_item": "dynamodb:PutItem", "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem", "query": "dynamodb:Query", "scan": "dynamodb:Scan",
    "batch_get_item": "dynamodb:BatchGetItem", "batch_write_item": "dynamodb:BatchWriteItem",
    "transact_write_items": "dynamodb:TransactWriteItems", "transact_get_items": "dynamodb:TransactGetItems",
    "create_table": "dynamodb:CreateTable", "describe_table": "dynamodb:DescribeTable",
    "update_time_to_live": "dynamodb:UpdateTimeToLive", "describe_time_to_live": "dynamodb:DescribeTimeToLive",
    "put_object": "s3:PutObject", "get_object": "s3:GetObject", "head_object": "s3:GetObject",
    "delete_object": "s3:DeleteObject", "delete_objects": "s3:DeleteObject", "list_objects_v2": "s3:ListBucket",
    "copy_object": "s3:PutObject", "create_multipart_upload": "s3:PutObject", "upload_part": "s3:PutObject",
    "complete_multipart_upload": "s3:PutObject", "abort_multipart_upload": "s3:AbortMultipartUpload",
    "head_bucket": "s3:ListBucket", "create_bucket": "s3:CreateBucket",
    "put_public_access_block": "s3:PutBucketPublicAccessBlock", "put_bucket_encryption": "s3:PutEncryptionConfiguration",
    "put_bucket_versioning": "s3:PutBucketVersioning",
    "put_bucket_lifecycle_configuration": "s3:PutLifecycleConfiguration",
    "send_message": "sqs:SendMessage", "send_message_batch": "sqs:SendMessage",
    "receive_message": "sqs:ReceiveMessage", "delete_message": "sqs:DeleteMessage",
    "delete_message_batch": "sqs:DeleteMessage", "change_message_visibility": "sqs:ChangeMessageVisibility",
    "get_queue_attributes": "sqs:GetQueueAttributes", "get_queue_url": "sqs:GetQueueUrl",
    "create_queue": "sqs:CreateQueue", "set_queue_attributes": "sqs:SetQueueAttributes",
    "get_secret_value": "secretsmanager:GetSecretValue", "put_secret_value": "secretsmanager:PutSecretValue",
    "describe_secret": "secretsmanager:DescribeSecret", "create_secret": "secretsmanager:CreateSecret",
    "delete_secret": "secretsmanager:DeleteSecret", "restore_secret": "secretsmanager:RestoreSecret",
    "put_metric_data": "cloudwatch:PutMetricData",
}

# Operations in the Rust code that the functions do NOT need, with the reason. Anything the code
# calls that is neither granted to a function nor listed here fails the check.
NOT_FOR_FUNCTIONS = {
    "dynamodb:Scan": "StateStore::keys (listing state keys): used by operator commands, not by the handlers",
    "dynamodb:CreateTable": "aws init (operator, creates resources outside CloudFormation)",
    "dynamodb:DescribeTable": "aws init",
    "dynamodb:UpdateTimeToLive": "aws init",
    "dynamodb:DescribeTimeToLive": "aws init",
    "s3:CreateBucket": "aws init",
    "s3:PutBucketPublicAccessBlock": "aws init",
    "s3:PutEncryptionConfiguration": "aws init",
    "s3:PutBucketVersioning": "aws init",
    "s3:PutLifecycleConfiguration": "aws init",
    "sqs:CreateQueue": "aws init",
    "sqs:SetQueueAttributes": "aws init",
    "sqs:GetQueueUrl": "aws init",
    "sqs:ChangeMessageVisibility": "WorkQueue::release, used by the CLI driver; in Lambda the SQS event source handles redelivery",
    "secretsmanager:PutSecretValue": "key register (operator)",
    "secretsmanager:DescribeSecret": "key register (operator)",
    "secretsmanager:CreateSecret": "key register (operator)",
    "secretsmanager:DeleteSecret": "key revoke (operator)",
    "secretsmanager:RestoreSecret": "key register after a revoke (operator)",
}


def expand_if(v: Any) -> list:
    """All values an Fn::If tree can take (AWS::NoValue dropped)."""
    if isinstance(v, dict) and set(v) == {"Fn::If"}:
        return expand_if(v["Fn::If"][1]) + expand_if(v["Fn::If"][2])
    if v == {"Ref": "AWS::NoValue"}:
        return []
    return [v]


def statements(doc: Any) -> Iterator[dict]:
    for d in expand_if(doc):
        sts = d.get("Statement", []) if isinstance(d, dict) else []
        for s in expand_if(sts) if isinstance(sts, dict) else sts:
            for x in expand_if(s):
                if isinstance(x, dict):
                    yield x


def policy_docs(template: dict) -> Iterator[tuple[str, str, Any]]:
    """(resource logical id, policy name, document) of every identity and resource policy."""
    for lid, r in template.get("Resources", {}).items():
        t, p = r.get("Type"), r.get("Properties", {})
        if t == "AWS::IAM::Role":
            for pol in p.get("Policies", []):
                for x in expand_if(pol):
                    yield lid, x.get("PolicyName", "?"), x.get("PolicyDocument", {})
            if p.get("ManagedPolicyArns"):
                yield lid, "ManagedPolicyArns", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                                                                "_managed": p["ManagedPolicyArns"]}]}
        elif t in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield lid, p.get("PolicyName", lid), p.get("PolicyDocument", {})
        elif t in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            yield lid, "resource policy", p.get("PolicyDocument", {})


def as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def resource_strings(v: Any) -> list:
    out = []
    for x in expand_if(v):
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, dict) and "Fn::Sub" in x:
            s = x["Fn::Sub"]
            out.append(s if isinstance(s, str) else s[0])
        elif isinstance(x, dict) and "Fn::Join" in x:
            out.append("".join(p if isinstance(p, str) else "${x}" for p in x["Fn::Join"][1]))
        # Ref / GetAtt: a specific resource
    return out


WILDCARD_RESOURCE = re.compile(r"^(\*|arn:[^:]*:[^:]*:[^:]*:[^:]*:\*|arn:[^:]*:s3:::\*)$")


def load_allowlist() -> list[dict]:
    if not os.path.exists(ALLOWLIST):
        return []
    with open(ALLOWLIST, encoding="utf-8") as f:
        return json.load(f).get("allow", [])


def allowed(allow: list[dict], lid: str, sid: str | None, kind: str, value: str) -> bool:
    return any(a.get("resource") == lid and a.get("sid") == sid and a.get(kind) == value and a.get("why")
               for a in allow)


def function_actions(template: dict) -> set[str]:
    roles = {fn.get("Properties", {}).get("Role", {}).get("Fn::GetAtt", [None])[0]
             for fn in template.get("Resources", {}).values() if fn.get("Type") == "AWS::Lambda::Function"}
    acts = set()
    for lid, _, doc in policy_docs(template):
        if lid in roles:
            for s in statements(doc):
                if s.get("Effect") == "Allow":
                    acts.update(a for a in as_list(s.get("Action", [])) if isinstance(a, str))
    return acts


def code_operations() -> dict[str, set[str]]:
    """IAM action -> Rust files calling an SDK operation it authorizes (shared/src/aws, functions)."""
    ops: dict[str, set[str]] = {}
    files = glob.glob(os.path.join(ROOT, "shared", "src", "aws", "**", "*.rs"), recursive=True)
    files += glob.glob(os.path.join(ROOT, "functions", "*", "src", "**", "*.rs"), recursive=True)
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        text = text.split("#[cfg(test)]")[0]
        for m in re.finditer(r"\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)", text):
            action = SDK_ACTIONS.get(m.group(1))
            if action:
                ops.setdefault(action, set()).add(os.path.relpath(path, ROOT))
    return ops


def cmd_iam(paths: list[str]) -> None:
    allow = load_allowlist()
    for path in paths:
        template = load(path)
        name = os.path.relpath(path, ROOT)
        problems, exceptions, n = [], 0, 0
        for lid, pname, doc in policy_docs(template):
            for s in statements(doc):
                n += 1
                sid = s.get("Sid")
                where = f"{lid}/{pname}/{sid or '?'}"
                if s.get("Effect") != "Allow":
                    continue  # a Deny's wildcards only widen what is refused
                if "_managed" in s:
                    problems.append(f"{where}: managed policies {s['_managed']} (grant what the function uses instead)")
                    continue
                for k in ("NotAction", "NotResource"):
                    if k in s:
                        problems.append(f"{where}: Allow with {k}")
                if "Principal" in s and "*" in json.dumps(s["Principal"]):
                    problems.append(f"{where}: Allow to any principal")
                for a in as_list(s.get("Action", [])):
                    if isinstance(a, str) and "*" in a:
                        if allowed(allow, lid, sid, "action", a):
                            exceptions += 1
                        else:
                            problems.append(f"{where}: wildcard action {a!r}")
                if "Principal" in s:
                    continue  # resource policy: its resource is the resource it is attached to
                for rs in resource_strings(s.get("Resource", [])):
                    if WILDCARD_RESOURCE.match(rs):
                        if allowed(allow, lid, sid, "resource_pattern", rs):
                            exceptions += 1
                        else:
                            problems.append(f"{where}: wildcard resource {rs!r}")
        result(not problems, f"iam: no wildcard action or resource ({name})",
               "; ".join(problems) if problems else f"{n} statements, {exceptions} allow-listed exception(s)")
        granted = function_actions(template)
        missing, extra = [], []
        code = code_operations()
        for action, files in sorted(code.items()):
            if action not in granted and action not in NOT_FOR_FUNCTIONS:
                missing.append(f"{action} (called in {', '.join(sorted(files))})")
        for action in sorted(granted):
            if action.startswith(("logs:", "kms:")) or action in ("sqs:ReceiveMessage", "sqs:DeleteMessage",
                                                                 "sqs:GetQueueAttributes"):
                continue  # used by Lambda itself (logs, SQS event source) or by AWS on the code's behalf (KMS)
            if action not in code:
                extra.append(action)
        why = []
        if missing:
            why.append("the code calls operations no function is granted and that are not listed as "
                       "operator-only in scripts/infra_check.py: " + "; ".join(missing))
        if extra:
            why.append("granted but never called by the code: " + ", ".join(extra))
        result(not why, f"iam: function permissions match the code's AWS calls ({name})",
               "; ".join(why) if why else f"{len(granted)} actions granted, {len(code)} operations in the code")


# ----------------------------------------------------------------------------------------------
# env
# ----------------------------------------------------------------------------------------------

# Variables the code can read that the template deliberately leaves unset, with the reason.
ENV_NOT_SET = {
    "COMPLIANCE_LAKE_TENANT": "budget item key; default 'default' (one deployment per table)",
    "COMPLIANCE_LAKE_BUDGET_SUB_WINDOW_MS": "budget pacing granularity; default 1000 ms",
    "COMPLIANCE_LAKE_KEY_CACHE_SECONDS": "how long a worker caches the access key; default 300 s",
    "COMPLIANCE_LAKE_FAILPOINTS": "fault injection for tests only",
    "COMPLIANCE_LAKE_DLP_KEY": "DLP fingerprint key of a local store (CLI); never put a key in Lambda configuration",
    "COMPLIANCE_LAKE_DLP_KEY_FILE": "where a local store's DLP fingerprint key file is (CLI); Lambda uses COMPLIANCE_LAKE_DLP_KEY_SECRET_ID",
    "COMPLIANCE_LAKE_STORE": "local store directory (CLI)",
}


def code_env_vars() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    files = glob.glob(os.path.join(ROOT, "shared", "src", "**", "*.rs"), recursive=True)
    files += glob.glob(os.path.join(ROOT, "functions", "*", "src", "**", "*.rs"), recursive=True)
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read().split("#[cfg(test)]")[0]
        rel = os.path.relpath(path, ROOT)
        for m in re.finditer(r'"((?:COMPLIANCE|AWS_LAMBDA|RUST)_[A-Z0-9_]+)"', text):
            found.setdefault(m.group(1), set()).add(rel)
        if rel.endswith(os.path.join("aws", "config.rs")):
            # AwsSettings::from_lookup reads COMPLIANCE_LAKE_<NAME> through var("NAME")/required/number
            for m in re.finditer(r'\b(?:var|required|number)\(\s*"([A-Z0-9_]+)"', text):
                found.setdefault(f"COMPLIANCE_LAKE_{m.group(1)}", set()).add(rel)
    return found


def cmd_env(paths: list[str]) -> None:
    code = code_env_vars()
    wanted = {k for k in code if k.startswith("COMPLIANCE_")} - set(ENV_NOT_SET)
    for path in paths:
        template = load(path)
        name = os.path.relpath(path, ROOT)
        fns = {lid: r for lid, r in template.get("Resources", {}).items() if r.get("Type") == "AWS::Lambda::Function"}
        if len(fns) != 2:
            result(False, f"env: functions set what the code reads ({name})", f"expected 2 functions, found {sorted(fns)}")
            continue
        why = []
        for lid, fn in sorted(fns.items()):
            env = set(fn.get("Properties", {}).get("Environment", {}).get("Variables", {}))
            for v in sorted(wanted - env):
                why.append(f"{lid} does not set {v} (read in {', '.join(sorted(code[v]))})")
            for v in sorted(e for e in env if e.startswith("COMPLIANCE_") and e not in code):
                why.append(f"{lid} sets {v}, which no code reads (typo?)")
            lc = fn.get("Properties", {}).get("LoggingConfig", {})
            if lc.get("LogFormat") != "JSON":
                why.append(f"{lid}: LoggingConfig.LogFormat is not JSON")
            if "RUST_LOG" not in env:
                why.append(f"{lid} does not set RUST_LOG")
        result(not why, f"env: functions set what the code reads ({name})",
               "; ".join(why) if why else f"{len(wanted)} variables; left at their defaults: {', '.join(sorted(ENV_NOT_SET))}")


# ----------------------------------------------------------------------------------------------
# parity
# ----------------------------------------------------------------------------------------------

CDK_ONLY_PARAMETERS = {"BootstrapVersion"}
CDK_ONLY_RULES = {"CheckBootstrapVersion"}


def norm(v: Any) -> Any:
    """Scalars as strings (CloudFormation coerces), GetAtt as a list, metadata dropped."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        if set(v) == {"Fn::GetAtt"} and isinstance(v["Fn::GetAtt"], str):
            return {"Fn::GetAtt": v["Fn::GetAtt"].split(".", 1)}
        return {k: norm(x) for k, x in v.items()}
    return v


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a:
                out.append(f"{path}.{k}: only in CDK")
            elif k not in b:
                out.append(f"{path}.{k}: only in SAM")
            else:
                out.extend(diff(a[k], b[k], f"{path}.{k}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{path}[{i}]")]
    if a != b:
        return [f"{path}: SAM {json.dumps(a)[:120]} != CDK {json.dumps(b)[:120]}"]
    return []


def strip_resource(lid: str, r: dict) -> dict:
    r = copy.deepcopy(r)
    r.pop("Metadata", None)
    r.pop("DependsOn", None)
    if r.get("Type") == "AWS::Lambda::Function":
        p = r.get("Properties", {})
        p.pop("Code", None)  # SAM: CodeUri -> S3 at package time; CDK: an asset
        p["Tags"] = [t for t in p.get("Tags", []) if t.get("Key") != "lambda:createdBy"] or None
        if p["Tags"] is None:
            p.pop("Tags")
    return r


def cmd_parity(sam_path: str, cdk_path: str) -> None:
    sam, cdk = norm(load(sam_path)), norm(load(cdk_path))
    why: list[str] = []
    for section, cdk_only in (("Parameters", CDK_ONLY_PARAMETERS), ("Rules", CDK_ONLY_RULES), ("Mappings", set()),
                              ("Conditions", set()), ("Outputs", set())):
        a = sam.get(section, {})
        b = {k: v for k, v in cdk.get(section, {}).items() if k not in cdk_only}
        if section == "Outputs":
            a = {k: v.get("Value") for k, v in a.items()}
            b = {k: v.get("Value") for k, v in b.items()}
        if section == "Parameters":
            # The SAM console metadata groups are not part of the parameters themselves
            pass
        why.extend(f"{section}{d}" for d in diff(a, b))
    ra, rb = sam.get("Resources", {}), cdk.get("Resources", {})
    for lid in sorted(set(ra) | set(rb)):
        if lid not in rb:
            why.append(f"Resources.{lid}: only in SAM")
        elif lid not in ra:
            why.append(f"Resources.{lid}: only in CDK")
        else:
            why.extend(f"Resources.{lid}{d}" for d in diff(strip_resource(lid, ra[lid]), strip_resource(lid, rb[lid])))
    result(not why, "parity: SAM and CDK synthesize the same stack",
           "; ".join(why[:12]) + (f" (+{len(why) - 12} more)" if len(why) > 12 else "") if why
           else f"{len(ra)} resources, {len(sam.get('Parameters', {}))} parameters, "
                f"{len(sam.get('Outputs', {}))} outputs identical (Lambda code location aside)")


def main() -> int:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    cmd, rest = args[0], args[1:]
    if cmd == "translate" and len(rest) == 2:
        cmd_translate(*rest)
    elif cmd == "iam" and rest:
        cmd_iam(rest)
    elif cmd == "env" and rest:
        cmd_env(rest)
    elif cmd == "parity" and len(rest) == 2:
        cmd_parity(*rest)
    else:
        print(__doc__)
        return 2
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
