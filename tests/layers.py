#!/usr/bin/python3
"""Checks the direction of every #include in exporter/ (README, "Layout").

Reads the #include "..." lines of every .c and .h under exporter/ and
resolves each as the compiler does (the including file's folder first,
then exporter/, the one include directory).  Fails when:

  - a file includes a header of a higher layer, or of a sibling folder:
    base/ < db/, data/, s3/ < the engine's modules at the top of exporter/;
  - the modules' include graph has a circle (a module is a .h with its .c
    and private _i.h; a .c without a .h of its own, such as s3/s3_url.c,
    counts as part of the module whose _i.h it includes when that module
    has a .c, as s3/s3.c; gw_i.h, a record of data with no .c, is a
    module of its own);
  - a library's header appears outside its home: sqlite3.h only in db/
    and data/source.c, curl/curl.h only in s3/http.c, fuse*.h never.

Prints what fs/ includes from exporter/, for the record: fs/ is checked
only for including headers that exist.

Usage: tests/layers.py [REPO]   (exit status 0 when clean, 1 otherwise)
"""
import os
import re
import sys

RANK = {"base": 0, "db": 1, "data": 1, "s3": 1, ".": 2}
LIBS = {
    "sqlite3.h": lambda f: f.startswith("db/") or f == "data/source.c",
    "curl/curl.h": lambda f: f == "s3/http.c",
}
INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^">]+)[">]', re.M)


def folder(rel):
    d = os.path.dirname(rel)
    return d if d else "."


def module(rel, local_includes):
    """The module a file belongs to: its stem, or the owner of its _i.h."""
    stem = os.path.splitext(rel)[0]
    if stem.endswith("_i"):
        return stem[:-2]
    if rel.endswith(".c") and not os.path.exists(os.path.join(EXPORTER, stem + ".h")):
        for inc in local_includes:
            owner = inc[:-4]
            if inc.endswith("_i.h") and os.path.exists(os.path.join(EXPORTER, owner + ".c")):
                return owner
    return stem


def resolve(rel, name):
    """exporter-relative path of an #include "name" in file rel, or None."""
    for cand in (os.path.join(folder(rel), name), name):
        cand = os.path.normpath(cand)
        if os.path.exists(os.path.join(EXPORTER, cand)):
            return cand
    return None


def main():
    global EXPORTER
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    EXPORTER = os.path.join(repo, "exporter")
    errors = []
    files = {}
    for d, _, names in os.walk(EXPORTER):
        for n in sorted(names):
            if n.endswith((".c", ".h")):
                rel = os.path.relpath(os.path.join(d, n), EXPORTER)
                files[rel] = INCLUDE.findall(open(os.path.join(d, n)).read())

    edges = {}
    for rel, incs in sorted(files.items()):
        local = []
        for kind, name in incs:
            if kind == "<":
                if name.startswith("fuse"):
                    errors.append(f"{rel}: includes <{name}>: FUSE stays in fs/")
                ok = LIBS.get(name)
                if ok and not ok(rel):
                    errors.append(f"{rel}: includes <{name}> outside its home")
                continue
            target = resolve(rel, name)
            if target is None:
                errors.append(f'{rel}: #include "{name}" names no file in exporter/')
                continue
            local.append(target)
            a, b = folder(rel), folder(target)
            if a != b and RANK[b] >= RANK[a]:
                errors.append(f'{rel}: #include "{name}": {a}/ may not include {b}/')
        mod = module(rel, local)
        for t in local:
            tm = module(t, [])
            if tm != mod:
                edges.setdefault(mod, set()).add(tm)

    # A circle is a back edge of a depth-first walk.
    state, stack = {}, []

    def walk(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                errors.append("include circle: " + " -> ".join(stack[stack.index(n):] + [n]))
            elif not state.get(n):
                walk(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if not state.get(m):
            walk(m)

    fsdir = os.path.join(repo, "fs")
    used = set()
    for d, _, names in os.walk(fsdir):
        for n in names:
            if n.endswith((".c", ".h")):
                for kind, name in INCLUDE.findall(open(os.path.join(d, n)).read()):
                    if kind == '"' and os.path.exists(os.path.join(EXPORTER, name)):
                        used.add(name)
    nmods = len({module(f, []) for f in files})
    print(f"{len(files)} files, {nmods} modules, "
          f"{sum(len(v) for v in edges.values())} module edges in exporter/")
    print("fs/ includes from exporter/: " + ", ".join(sorted(used)))
    for e in errors:
        print("error: " + e)
    print("layers: " + ("clean" if not errors else f"{len(errors)} error(s)"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
