#!/usr/bin/env python3
"""Extracts every JSON test vector of the spec checklist (section 15) into `<ID>.json` files.

Usage: python3 extract.py [PATH_TO_CHECKLIST]
Default checklist path: <repo>/../shared/spec/ssf-caep-risc-checklist.md.

A vector is a line `**TV-XXX-NN** — title` followed by the first ```json fenced block. The block is
written byte for byte (plus a final newline) and checked to be valid JSON; nothing is retyped.
"""
import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT = HERE.parents[3] / ".." / "shared" / "spec" / "ssf-caep-risc-checklist.md"
HEADING = re.compile(r"^\*\*(TV-[A-Z]+-\d+)\*\*")


def extract(text):
    vectors = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = HEADING.match(lines[i])
        i += 1
        if not m:
            continue
        vid = m.group(1)
        while i < len(lines) and lines[i].strip() != "```json":
            if HEADING.match(lines[i]):
                raise SystemExit(f"{vid}: no json block before the next vector")
            i += 1
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        i += 1
        if vid in vectors:
            raise SystemExit(f"{vid}: defined twice")
        src = "\n".join(body) + "\n"
        json.loads(src)  # must be valid JSON as written
        vectors[vid] = src
    return vectors


def main():
    path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    vectors = extract(path.read_text(encoding="utf-8"))
    for old in HERE.glob("TV-*.json"):
        old.unlink()
    for vid, src in vectors.items():
        (HERE / f"{vid}.json").write_text(src, encoding="utf-8")
    print(f"{len(vectors)} vectors written to {HERE}")


if __name__ == "__main__":
    main()
