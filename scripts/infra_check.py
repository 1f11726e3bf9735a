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
  infra_check.py resolve TEMPLATE_JSON SCENARIO OUT  the template as deployed with one set of switches
                                                    (SCENARIOS below): conditions evaluated, Fn::If
                                                    resolved, resources of false conditions dropped
  infra_check.py governance TEMPLATE_JSON...       on resolved templates: permissions boundary on every
                                                    role, KMS on log groups, Object Lock + unlocked
                                                    staging, access logging, reader policies scoped by
                                                    prefix (infra/athena/tables.json "access"), content
                                                    deny in the lake bucket policy, DLP alert permission
  infra_check.py metrics TEMPLATE_JSON...          every ComplianceLake metric an alarm or the dashboard
                                                    reads is one the Rust code emits (or listed pending)
  infra_check.py samconfig SAMCONFIG_TOML          `sam deploy --guided` from the repository root deploys
                                                    infra/template.yaml with what it needs (capabilities,
                                                    artifact bucket) and only parameters the template has

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
    "put_events": "events:PutEvents",
}

# Granted by the templates ahead of the Rust code that uses it (another branch), with the reason. The
# check fails once the code does call it, so the entry gets removed when the branches meet.
PENDING_ACTIONS: dict = {}

# Granted only when a template switch is on; with it off the code never makes the call (the setting
# that enables the call is then empty).
SWITCHED_ACTIONS = {
    "events:PutEvents": "DlpAlertMinSeverity=OFF: no event bus is configured, so no alert is published",
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
            # Managed policies of this template are checked as themselves (AWS::IAM::ManagedPolicy below);
            # any other (AWS-managed or external) cannot be checked and counts as a wildcard.
            own = {k for k, x in template.get("Resources", {}).items() if x.get("Type") == "AWS::IAM::ManagedPolicy"}
            external = [a for a in p.get("ManagedPolicyArns", []) if not (isinstance(a, dict) and a.get("Ref") in own)]
            if external:
                yield lid, "ManagedPolicyArns", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                                                                "_managed": external}]}
        elif t in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield lid, p.get("PolicyName", lid), p.get("PolicyDocument", {})
        elif t in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            yield lid, "resource policy", p.get("PolicyDocument", {})


def as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def resource_strings(v: Any) -> list:
    out = []
    flat = []
    for x in expand_if(v):
        flat.extend(x if isinstance(x, list) else [x])
    for x in flat:
        if isinstance(x, list):
            out.extend(resource_strings(x))
        elif isinstance(x, str):
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
    # the DLP alerts' EventBridge adapter (the worker publishes through it)
    files += glob.glob(os.path.join(ROOT, "shared", "src", "alerts", "**", "*.rs"), recursive=True)
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
                # granted only while its switch is on; the code skips the call when it is off
                if action in SWITCHED_ACTIONS and name.endswith("-off.json"):
                    continue
                missing.append(f"{action} (called in {', '.join(sorted(files))})")
        stale = []
        for action in sorted(granted):
            if action.startswith(("logs:", "kms:")) or action in ("sqs:ReceiveMessage", "sqs:DeleteMessage",
                                                                 "sqs:GetQueueAttributes"):
                continue  # used by Lambda itself (logs, SQS event source) or by AWS on the code's behalf (KMS)
            if action in PENDING_ACTIONS:
                if action in code:
                    stale.append(action)
                continue
            if action not in code:
                extra.append(action)
        why = []
        if stale:
            why.append("the code now calls " + ", ".join(stale) + ": remove it from PENDING_ACTIONS in scripts/infra_check.py")
        if missing:
            why.append("the code calls operations no function is granted and that are not listed as "
                       "operator-only in scripts/infra_check.py: " + "; ".join(missing))
        if extra:
            why.append("granted but never called by the code: " + ", ".join(extra))
        result(not why, f"iam: function permissions match the code's AWS calls ({name})",
               "; ".join(why) if why else f"{len(granted)} actions granted, {len(code)} operations in the code"
               + (f"; pending code: {', '.join(a for a in sorted(granted) if a in PENDING_ACTIONS)}"
                  if any(a in PENDING_ACTIONS for a in granted) else ""))


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
    "COMPLIANCE_LAKE_LEASE_TTL_SECS": "job lease TTL, renewed by a heartbeat; default 60 s (tests shorten it)",
    "COMPLIANCE_LAKE_ALERTS_MAX_PER_MINUTE": "DLP alert events per job per minute before a summary event; default 20",
}


# Set by the templates ahead of the Rust code that reads them (other branches), with the reason; the check
# fails once the code reads one, so the entry gets removed when the branches meet.
ENV_PENDING = {
    "COMPLIANCE_LAKE_STAGING_BUCKET": "Object Lock (issue 10.6): the commit protocol's staging prefix is being written on the engine branch; "
                                      "with Object Lock on, staged parts must go to this unlocked bucket",
}


def code_env_vars() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    files = glob.glob(os.path.join(ROOT, "shared", "src", "**", "*.rs"), recursive=True)
    files += glob.glob(os.path.join(ROOT, "functions", "*", "src", "**", "*.rs"), recursive=True)
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read().split("#[cfg(test)]")[0]
        rel = os.path.relpath(path, ROOT)
        for m in re.finditer(r'"((?:COMPLIANCE|AWS_LAMBDA|RUST|ALERTS)_[A-Z0-9_]+)"', text):
            found.setdefault(m.group(1), set()).add(rel)
        if rel.endswith(os.path.join("aws", "config.rs")):
            # AwsSettings::from_lookup reads COMPLIANCE_LAKE_<NAME> through var("NAME")/required/number
            for m in re.finditer(r'\b(?:var|required|number)\(\s*"([A-Z0-9_]+)"', text):
                found.setdefault(f"COMPLIANCE_LAKE_{m.group(1)}", set()).add(rel)
    return found


def cmd_env(paths: list[str]) -> None:
    code = code_env_vars()
    wanted = {k for k in code if k.startswith(("COMPLIANCE_", "ALERTS_"))} - set(ENV_NOT_SET)
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
                if v not in ENV_PENDING:
                    why.append(f"{lid} sets {v}, which no code reads (typo?)")
            for v in sorted(e for e in env if e in ENV_PENDING and e in code):
                why.append(f"the code now reads {v}: remove it from ENV_PENDING in scripts/infra_check.py")
            lc = fn.get("Properties", {}).get("LoggingConfig", {})
            if lc.get("LogFormat") != "JSON":
                why.append(f"{lid}: LoggingConfig.LogFormat is not JSON")
            if "RUST_LOG" not in env:
                why.append(f"{lid} does not set RUST_LOG")
        result(not why, f"env: functions set what the code reads ({name})",
               "; ".join(why) if why else f"{len(wanted)} variables; left at their defaults: {', '.join(sorted(ENV_NOT_SET))}"
               + f"; set ahead of the code: {', '.join(sorted(ENV_PENDING))}")


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


# ----------------------------------------------------------------------------------------------
# resolve: the template with one set of switches
# ----------------------------------------------------------------------------------------------

EXAMPLE_KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EXAMPLE_BOUNDARY = "arn:aws:iam::123456789012:policy/compliance-lake-boundary"
SCENARIOS = {
    # every governance/alert switch off, no KMS key
    "off": {"LakeAccessLogging": "false", "ObjectLockMode": "NONE", "ReaderRoles": "false",
            "PermissionsBoundaryArn": "", "DlpAlertMinSeverity": "OFF", "DlpAlertEmail": "", "KmsKeyArn": "",
            "AlarmEmail": ""},
    # every switch on, with a KMS key, a boundary, alert e-mail, and the lake at the bucket root
    "on": {"LakeAccessLogging": "true", "ObjectLockMode": "COMPLIANCE", "ObjectLockRetentionDays": "2555",
           "ReaderRoles": "true", "PermissionsBoundaryArn": EXAMPLE_BOUNDARY, "DlpAlertMinSeverity": "HIGH",
           "DlpAlertEmail": "secops@example.com", "KmsKeyArn": EXAMPLE_KMS, "LakePrefix": "",
           "AlarmEmail": "ops@example.com"},
    # mixed: governance-mode lock and readers, alerts without e-mail, no access logs
    "mixed": {"LakeAccessLogging": "false", "ObjectLockMode": "GOVERNANCE", "ReaderRoles": "true",
              "PermissionsBoundaryArn": "", "DlpAlertMinSeverity": "CRITICAL", "DlpAlertEmail": "",
              "KmsKeyArn": "", "SyncProjects": "false"},
}

NO_VALUE = object()


class Resolver:
    """The template as deployed with the scenario's parameter values (others at their defaults): conditions
    evaluated, Fn::If resolved, resources of false conditions dropped, and the scenario's parameters
    replaced by their values (so the linter sees e.g. the actual Object Lock mode)."""

    def __init__(self, template: dict, values: dict):
        self.t = template
        params = template.get("Parameters", {})
        self.values = {k: str(p.get("Default", "")) for k, p in params.items()}
        self.values.update(values)
        self.literal = {k: (int(v) if params.get(k, {}).get("Type") == "Number" else v)
                        for k, v in values.items() if k in params}
        self.cache: dict[str, bool] = {}

    def value(self, v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"Ref"} and v["Ref"] in self.values:
            return self.values[v["Ref"]]
        if isinstance(v, dict) and set(v) == {"Condition"}:
            return self.cond(v["Condition"])
        return v

    def expr(self, e: Any) -> bool:
        if isinstance(e, dict) and len(e) == 1:
            (k, a), = e.items()
            if k == "Fn::Equals":
                x, y = (self.value(a[0]), self.value(a[1]))
                return str(x) == str(y)
            if k == "Fn::Not":
                return not self.expr(a[0])
            if k == "Fn::And":
                return all(self.expr(x) for x in a)
            if k == "Fn::Or":
                return any(self.expr(x) for x in a)
            if k == "Condition":
                return self.cond(a)
        raise ValueError(f"cannot evaluate condition {json.dumps(e)[:120]}")

    def cond(self, name: str) -> bool:
        if name not in self.cache:
            self.cache[name] = self.expr(self.t["Conditions"][name])
        return self.cache[name]

    def walk(self, v: Any) -> Any:
        if isinstance(v, dict):
            if set(v) == {"Fn::If"}:
                name, a, b = v["Fn::If"]
                return self.walk(a if self.cond(name) else b)
            if v == {"Ref": "AWS::NoValue"}:
                return NO_VALUE
            if set(v) == {"Ref"} and v["Ref"] in self.literal:
                return self.literal[v["Ref"]]
            if set(v) == {"Fn::Sub"} and isinstance(v["Fn::Sub"], str):
                text = v["Fn::Sub"]
                for k, x in self.literal.items():
                    text = text.replace("${%s}" % k, str(x))
                return {"Fn::Sub": text} if "${" in text else text
            out = {}
            for k, x in v.items():
                y = self.walk(x)
                if y is not NO_VALUE:
                    out[k] = y
            return out
        if isinstance(v, list):
            return [y for y in (self.walk(x) for x in v) if y is not NO_VALUE]
        return v

    def template(self) -> dict:
        t = copy.deepcopy(self.t)
        for section in ("Resources", "Outputs"):
            kept = {}
            for lid, r in t.get(section, {}).items():
                if "Condition" in r:
                    if not self.cond(r["Condition"]):
                        continue
                    r = dict(r)
                    r.pop("Condition")
                kept[lid] = self.walk(r)
            t[section] = kept
        for r in t["Resources"].values():
            if "DependsOn" in r:
                deps = [d for d in as_list(r["DependsOn"]) if d in t["Resources"]]
                if deps:
                    r["DependsOn"] = deps
                else:
                    r.pop("DependsOn")
        # Rules: each must hold for the scenario (else it is not a deployable one); then they are constants.
        # (Rules on other parameters, e.g. the CDK's bootstrap version check, stay as they are.)
        kept_rules = {}
        for rname, rule in t.pop("Rules", {}).items():
            if not any(f'"Ref": "{k}"' in json.dumps(rule) for k in self.literal):
                kept_rules[rname] = rule
                continue
            for a in rule.get("Assertions", []):
                if not self.expr(a["Assert"]):
                    raise SystemExit(f"scenario violates rule {rname}: {a.get('AssertDescription')}")
        if kept_rules:
            t["Rules"] = kept_rules
        t.pop("Conditions", None)
        # The console's parameter groups name parameters the resolved stack no longer has.
        t.get("Metadata", {}).pop("AWS::CloudFormation::Interface", None)
        text = json.dumps({k: v for k, v in t.items() if k != "Parameters"})
        t["Parameters"] = {k: p for k, p in t.get("Parameters", {}).items()
                           if f'"Ref": "{k}"' in text or "${%s}" % k in text}
        t.setdefault("Metadata", {})["compliance-lake:scenario"] = dict(sorted(self.values.items()))
        return t


def cmd_resolve(src: str, scenario: str, out: str) -> None:
    if scenario not in SCENARIOS:
        raise SystemExit(f"scenario must be one of {sorted(SCENARIOS)}")
    t = Resolver(load(src), SCENARIOS[scenario]).template()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(t, f, indent=1, sort_keys=True)
    result(True, f"resolve: {os.path.relpath(src, ROOT)} with switches '{scenario}'",
           f"{len(t['Resources'])} resources -> {os.path.relpath(out, ROOT)}")


# ----------------------------------------------------------------------------------------------
# governance (on resolved templates)
# ----------------------------------------------------------------------------------------------

READ_ONLY_LAKE_ACTIONS = {"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"}


def athena_access() -> dict[str, tuple[set[str], set[str]]]:
    """access class -> (lake prefixes, Glue table/view names), from infra/athena/tables.json."""
    with open(os.path.join(ROOT, "infra", "athena", "tables.json"), encoding="utf-8") as f:
        spec = json.load(f)
    out: dict[str, tuple[set[str], set[str]]] = {}
    for t in spec["tables"]:
        pre, names = out.setdefault(t["access"], (set(), set()))
        pre.add(t.get("location", t["name"]))
        names.add(t["name"])
        if t.get("raw", True):
            names.add(t["name"] + "_raw")
    for v in spec.get("views", []):
        out.setdefault(v["access"], (set(), set()))[1].add(v["name"])
    return out


def sub_text(v: Any) -> str:
    if isinstance(v, dict) and "Fn::Sub" in v:
        return v["Fn::Sub"] if isinstance(v["Fn::Sub"], str) else v["Fn::Sub"][0]
    if isinstance(v, dict) and "Fn::GetAtt" in v:
        ga = v["Fn::GetAtt"]
        return "${%s}" % (".".join(ga) if isinstance(ga, list) else ga)
    if isinstance(v, dict) and "Ref" in v:
        return "${%s}" % v["Ref"]
    return v if isinstance(v, str) else json.dumps(v)


def cmd_governance(paths: list[str]) -> None:
    access = athena_access()
    for path in paths:
        t = load(path)
        name = os.path.relpath(path, ROOT)
        sc = t.get("Metadata", {}).get("compliance-lake:scenario")
        if sc is None:
            result(False, f"governance ({name})", "not a resolved template (run infra_check.py resolve first)")
            continue
        res = t["Resources"]
        why: list[str] = []
        on = lambda k, v: sc.get(k) == v  # noqa: E731
        kms, boundary = sc.get("KmsKeyArn", ""), sc.get("PermissionsBoundaryArn", "")
        # Permissions boundary on every role
        roles = {lid: r for lid, r in res.items() if r["Type"] == "AWS::IAM::Role"}
        for lid, r in roles.items():
            pb = r["Properties"].get("PermissionsBoundary")
            if boundary and pb != boundary:
                why.append(f"{lid}: no PermissionsBoundary although PermissionsBoundaryArn is set")
            if not boundary and pb is not None:
                why.append(f"{lid}: PermissionsBoundary without PermissionsBoundaryArn")
        # KMS on log groups
        for lid, r in res.items():
            if r["Type"] == "AWS::Logs::LogGroup":
                k = r["Properties"].get("KmsKeyId")
                if kms and k != kms:
                    why.append(f"{lid}: not encrypted with KmsKeyArn")
                if not kms and k is not None:
                    why.append(f"{lid}: KmsKeyId without KmsKeyArn")
        lake = res["LakeBucket"]["Properties"]
        env_sets = [fn["Properties"].get("Environment", {}).get("Variables", {}) for fn in res.values()
                    if fn["Type"] == "AWS::Lambda::Function"]
        fn_roles = [res[fn["Properties"]["Role"]["Fn::GetAtt"][0]] for fn in res.values()
                    if fn["Type"] == "AWS::Lambda::Function"]
        # Object Lock, compatible with the commit protocol (staging outside the locked bucket)
        lock = sc.get("ObjectLockMode", "NONE")
        if lock != "NONE":
            rule = lake.get("ObjectLockConfiguration", {}).get("Rule", {}).get("DefaultRetention", {})
            days = int(sc.get("ObjectLockRetentionDays", t["Parameters"].get("ObjectLockRetentionDays", {}).get("Default", 0)))
            got_days = rule.get("Days")
            if isinstance(got_days, dict) and got_days == {"Ref": "ObjectLockRetentionDays"}:
                got_days = days
            if not (lake.get("ObjectLockEnabled") in (True, "true") and rule.get("Mode") == lock
                    and int(got_days or -1) == days):
                why.append("ObjectLockMode set but the lake bucket has no Object Lock default retention from it")
            stg = res.get("StagingBucket")
            if not stg:
                why.append("Object Lock without a StagingBucket: the commit protocol could not delete staged parts")
            else:
                sp = stg["Properties"]
                if "ObjectLockEnabled" in sp or "ObjectLockConfiguration" in sp or "VersioningConfiguration" in sp:
                    why.append("StagingBucket must be unlocked and unversioned (staged parts are deleted)")
                if not any(x.get("Expiration") or x.get("ExpirationInDays") for x in
                           sp.get("LifecycleConfiguration", {}).get("Rules", [])):
                    why.append("StagingBucket has no expiration for abandoned parts")
            for e in env_sets:
                if e.get("COMPLIANCE_LAKE_STAGING_BUCKET") != {"Ref": "StagingBucket"}:
                    why.append("a function is not told the staging bucket (COMPLIANCE_LAKE_STAGING_BUCKET)")
            for r in fn_roles:
                acts = {a for _, _, d in policy_docs({"Resources": {"x": r}}) for st in statements(d)
                        for a in as_list(st.get("Action", [])) if "StagingBucket" in json.dumps(st.get("Resource"))}
                if not {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"} <= acts:
                    why.append("a function role lacks Get/Put/Delete/List on the staging bucket")
        else:
            if "ObjectLockConfiguration" in lake or "StagingBucket" in res:
                why.append("Object Lock resources present with ObjectLockMode NONE")
            for e in env_sets:
                if e.get("COMPLIANCE_LAKE_STAGING_BUCKET") not in ("", None):
                    why.append("COMPLIANCE_LAKE_STAGING_BUCKET set without Object Lock")
        # Access logging
        if on("LakeAccessLogging", "true"):
            lc = lake.get("LoggingConfiguration", {})
            if lc.get("DestinationBucketName") != {"Ref": "AccessLogsBucket"}:
                why.append("LakeAccessLogging on but the lake does not log to AccessLogsBucket")
            alb = res.get("AccessLogsBucket", {}).get("Properties", {})
            if "ObjectLockEnabled" in alb:
                why.append("AccessLogsBucket must not be Object-Locked (log delivery refuses it)")
            sse = alb.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [{}])[0]
            if sse.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") != "AES256":
                why.append("AccessLogsBucket must use SSE-S3 (log delivery cannot use KMS)")
            pol = json.dumps(res.get("AccessLogsBucketPolicy", {}))
            if "logging.s3.amazonaws.com" not in pol or "aws:SourceArn" not in pol:
                why.append("AccessLogsBucketPolicy must let only logging.s3.amazonaws.com deliver, for this lake (aws:SourceArn)")
        elif "LoggingConfiguration" in lake or "AccessLogsBucket" in res:
            why.append("access logging resources present with LakeAccessLogging false")
        # Readers scoped by prefix; content denied to everyone else
        readers = {"audit": "AuditReaderPolicy", "content": "ContentReaderPolicy"}
        if on("ReaderRoles", "true"):
            for cls, lid in readers.items():
                pol = res.get(lid)
                if not pol:
                    why.append(f"ReaderRoles on but no {lid}")
                    continue
                mine, tables = access[cls]
                others = set().union(*(access[c][0] for c in access if c != cls))
                for st in statements(pol["Properties"]["PolicyDocument"]):
                    acts = set(as_list(st.get("Action", [])))
                    for rs in as_list(st.get("Resource", [])):
                        txt = sub_text(rs)
                        if "${LakeBucket.Arn}" in txt:
                            if acts - READ_ONLY_LAKE_ACTIONS:
                                why.append(f"{lid}/{st.get('Sid')}: {sorted(acts - READ_ONLY_LAKE_ACTIONS)} on the lake (read only)")
                            if txt != "${LakeBucket.Arn}":
                                m = re.match(r"^\$\{LakeBucket\.Arn\}/(?:\$\{LakePrefix\}/)?([^/]+)/\*$", txt)
                                if not m or m.group(1) not in mine:
                                    why.append(f"{lid}/{st.get('Sid')}: lake resource {txt} is outside its prefixes {sorted(mine)}")
                        m = re.match(r".*:table/\$\{GlueDatabase\}/(.+)$", txt)
                        if m and m.group(1) not in tables:
                            why.append(f"{lid}: Glue table {m.group(1)} is not {cls} data")
                    if acts & {"s3:ListBucket"} and "${LakeBucket.Arn}" == sub_text(st.get("Resource")):
                        pre = [sub_text(x) for x in as_list(st.get("Condition", {}).get("StringLike", {}).get("s3:prefix", []))]
                        bad = [x for x in pre if re.sub(r"^\$\{LakePrefix\}/", "", x).split("/")[0] not in mine]
                        if not pre or bad:
                            why.append(f"{lid}: ListBucket on the lake must be limited to its prefixes (s3:prefix), got {pre}")
                if any(st.get("Resource") for st in statements(pol["Properties"]["PolicyDocument"])
                       if any(p in json.dumps(st.get("Resource")) for p in [f"/{o}/" for o in others])):
                    why.append(f"{lid} reaches another class's prefix")
            deny = [st for _, _, d in policy_docs({"Resources": {"LakeBucketPolicy": res["LakeBucketPolicy"]}})
                    for st in statements(d) if st.get("Sid") == "DenyContentReadsToOthers"]
            if not deny:
                why.append("ReaderRoles on but the lake bucket policy does not deny content reads to other principals")
            else:
                covered = {re.sub(r"^\$\{LakeBucket\.Arn\}/(?:\$\{LakePrefix\}/)?", "", sub_text(x)).split("/")[0]
                           for x in as_list(deny[0]["Resource"])}
                missing = (access["content"][0] | {"_staging"}) - covered
                if missing or deny[0].get("Effect") != "Deny":
                    why.append(f"content deny does not cover {sorted(missing)}")
                allowed_p = {sub_text(x) for x in as_list(deny[0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])}
                if allowed_p != {"${WorkerRole.Arn}", "${SchedulerRole.Arn}", "${ContentReaderRole.Arn}"}:
                    why.append(f"content deny exempts {sorted(allowed_p)} (only the functions and the content reader)")
            ar, cr = res.get("AuditReaderRole", {}), res.get("ContentReaderRole", {})
            if [sub_text(x) for x in ar.get("Properties", {}).get("ManagedPolicyArns", [])] != ["${AuditReaderPolicy}"]:
                why.append("AuditReaderRole must have exactly the audit policy")
            if "${ContentReaderPolicy}" not in [sub_text(x) for x in cr.get("Properties", {}).get("ManagedPolicyArns", [])]:
                why.append("ContentReaderRole lacks the content policy")
        elif any(x in res for x in ("AuditReaderPolicy", "ContentReaderPolicy", "AuditReaderRole", "ContentReaderRole")):
            why.append("reader resources present with ReaderRoles false")
        # DLP alerts: only the worker may publish, only to the configured bus
        put = {lid for lid, _, d in policy_docs(t) for st in statements(d)
               if st.get("Effect") == "Allow" and any(str(a).startswith("events:") for a in as_list(st.get("Action", [])))}
        if on("DlpAlertMinSeverity", "OFF"):
            if put or "DlpAlertRule" in res:
                why.append(f"DLP alerts off but {sorted(put) or 'DlpAlertRule'} present")
        else:
            if put != {"WorkerRole"}:
                why.append(f"events:PutEvents must be granted to the worker only, got {sorted(put)}")
            for _, _, d in policy_docs({"Resources": {"WorkerRole": res["WorkerRole"]}}):
                for st in statements(d):
                    if "events:PutEvents" in as_list(st.get("Action", [])) and \
                            not sub_text(st.get("Resource")).endswith(":event-bus/${DlpAlertEventBus}"):
                        why.append("events:PutEvents must be limited to the DlpAlertEventBus bus")
            if "DlpAlertRule" not in res:
                why.append("DLP alerts on but no DlpAlertRule")
            if bool(sc.get("DlpAlertEmail")) != ("DlpAlertEmailSubscription" in res):
                why.append("DlpAlertEmail and the e-mail subscription disagree")
        # Deadline continuations are Lambda -> SQS -> the same Lambda: recursion detection must not cut
        # them (it drops the event after ~16 hops unless RecursiveLoop is Allow)
        worker_fn = res.get("WorkerFunction", {})
        if worker_fn.get("Properties", {}).get("RecursiveLoop") != "Allow":
            why.append("WorkerFunction: RecursiveLoop must be Allow (its deadline continuations are a Lambda -> SQS -> "
                       "same-Lambda chain that recursive-loop detection cuts after ~16 hops)")
        # The overlap floor the functions enforce is the template's too
        ov = t.get("Parameters", {}).get("OverlapMinutes", {})
        if ov and int(ov.get("MinValue", 0)) < 2:
            why.append("OverlapMinutes: MinValue must be at least 2")
        detail = (f"scenario {', '.join(f'{k}={v}' for k, v in sorted(sc.items()) if k in SCENARIO_KEYS)}; "
                  f"{len(roles)} roles, {len(res)} resources")
        result(not why, f"governance ({name})", "; ".join(why) if why else detail)


SCENARIO_KEYS = {"LakeAccessLogging", "ObjectLockMode", "ReaderRoles", "PermissionsBoundaryArn", "DlpAlertMinSeverity",
                 "DlpAlertEmail", "KmsKeyArn", "LakePrefix"}


# ----------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------

# (metric, dimension) pairs the alarms/dashboard read before the Rust code emits them (other branches),
# with the reason; the check fails once the code does emit one, so the entry gets removed.
PENDING_METRICS = {
    ("DlpFindings", "Severity"): "issue 13.3: findings per severity, emitted with the DLP-alerts branch",
}


def code_metrics() -> set[tuple[str, str]]:
    """(metric, dimension) pairs the Rust code emits through observability::put / emf."""
    out: set[tuple[str, str]] = set()
    files = glob.glob(os.path.join(ROOT, "shared", "src", "**", "*.rs"), recursive=True)
    files += glob.glob(os.path.join(ROOT, "functions", "*", "src", "**", "*.rs"), recursive=True)
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read().split("#[cfg(test)]")[0]
        for m in re.finditer(r"\b(?:put|emf)\(\s*&\[(.*?)\]\s*,\s*&\[(.*?)\]\s*,?\s*\)", text, re.S):
            dims = re.findall(r'\(\s*"([A-Z][A-Za-z0-9]*)"\s*,', m.group(1))
            for metric in re.findall(r'\(\s*"([A-Z][A-Za-z0-9]*)"\s*,\s*"[A-Za-z/]+"\s*,', m.group(2)):
                for d in dims:
                    out.add((metric, d))
    return out


def template_metrics(t: dict) -> set[tuple[str, str]]:
    """(metric, dimension) pairs of namespace ComplianceLake that alarms and dashboards read."""
    out: set[tuple[str, str]] = set()
    for r in t.get("Resources", {}).values():
        p = r.get("Properties", {})
        if r.get("Type") == "AWS::CloudWatch::Alarm" and p.get("Namespace") == "ComplianceLake":
            for d in p.get("Dimensions", []):
                out.add((p["MetricName"], d["Name"]))
        if r.get("Type") == "AWS::CloudWatch::Dashboard":
            body = sub_text(p.get("DashboardBody"))
            body = re.sub(r"\$\{[A-Za-z0-9:.]+\}", "0", body)  # placeholders -> a JSON value
            doc = json.loads(body)
            for w in doc.get("widgets", []):
                for line in w.get("properties", {}).get("metrics", []):
                    if line and line[0] == "ComplianceLake":
                        out.add((line[1], line[2]))
                    for x in line:
                        if isinstance(x, dict) and "expression" in x:
                            for dim, metric in re.findall(r"\{ComplianceLake,([A-Za-z]+)\}\s*MetricName=\"([A-Za-z0-9]+)\"",
                                                          x["expression"]):
                                out.add((metric, dim))
    return out


def cmd_metrics(paths: list[str]) -> None:
    code = code_metrics()
    for path in paths:
        name = os.path.relpath(path, ROOT)
        used = template_metrics(load(path))
        missing = sorted(u for u in used if u not in code and u not in PENDING_METRICS)
        stale = sorted(u for u in PENDING_METRICS if u in code)
        why = []
        if missing:
            why.append("read by alarms/dashboard but never emitted by the code: " + ", ".join(f"{m}[{d}]" for m, d in missing))
        if stale:
            why.append("now emitted by the code, remove from PENDING_METRICS: " + ", ".join(f"{m}[{d}]" for m, d in stale))
        pend = sorted(u for u in used if u in PENDING_METRICS and u not in code)
        result(not why, f"metrics: alarms and dashboard read metrics the code emits ({name})",
               "; ".join(why) if why else f"{len(used)} (metric, dimension) pairs; {len(code)} emitted by the code; "
               f"pending other branches: {', '.join(f'{m}[{d}]' for m, d in pend) or 'none'}")


def cmd_samconfig(path: str) -> None:
    import tomllib

    with open(path, "rb") as f:
        conf = tomllib.load(f)
    why = []
    d = conf.get("default", {})
    deploy = d.get("deploy", {}).get("parameters", {})
    glob_p = d.get("global", {}).get("parameters", {})
    tf = deploy.get("template_file")
    if tf != "infra/template.yaml" or not os.path.exists(os.path.join(ROOT, tf or "-")):
        why.append(f"deploy.template_file is {tf!r}, want 'infra/template.yaml' (there is no `sam build` step)")
    template = load(os.path.join(ROOT, "infra", "template.yaml"))
    caps = set(str(deploy.get("capabilities", "")).split())
    named = any("RoleName" in r.get("Properties", {}) or "ManagedPolicyName" in r.get("Properties", {})
                for r in template["Resources"].values())
    need = {"CAPABILITY_NAMED_IAM"} if named else {"CAPABILITY_IAM"}
    if not need <= caps:
        why.append(f"capabilities {sorted(caps)} lack {sorted(need)}")
    if deploy.get("resolve_s3") is not True and not deploy.get("s3_bucket"):
        why.append("neither resolve_s3 = true nor s3_bucket: sam deploy has nowhere to upload the functions")
    if not (deploy.get("stack_name") or glob_p.get("stack_name")):
        why.append("no stack_name")
    overrides = re.findall(r"([A-Za-z0-9]+)=", str(deploy.get("parameter_overrides", "")))
    unknown = [k for k in overrides if k not in template.get("Parameters", {})]
    if unknown:
        why.append(f"parameter_overrides name parameters the template does not have: {unknown}")
    for fn in ("SchedulerFunction", "WorkerFunction"):
        uri = template["Resources"][fn]["Properties"].get("CodeUri", "")
        if not str(uri).startswith("../target/lambda/"):
            why.append(f"{fn}.CodeUri {uri!r} is not the `make` output ../target/lambda/<fn>/")
    result(not why, f"samconfig: sam deploy --guided from the repository root ({os.path.relpath(path, ROOT)})",
           "; ".join(why) if why else f"stack {deploy.get('stack_name') or glob_p.get('stack_name')}, "
           f"capabilities {' '.join(sorted(caps))}, artifacts {'auto bucket' if deploy.get('resolve_s3') else 's3_bucket'}")


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
    elif cmd == "resolve" and len(rest) == 3:
        cmd_resolve(*rest)
    elif cmd == "governance" and rest:
        cmd_governance(rest)
    elif cmd == "metrics" and rest:
        cmd_metrics(rest)
    elif cmd == "samconfig" and len(rest) == 1:
        cmd_samconfig(rest[0])
    else:
        print(__doc__)
        return 2
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
