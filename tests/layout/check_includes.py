#!/usr/bin/env python3
"""Checks the layering of the source tree from its #include "..." lines (run by `make test`).

Layers, from the top: cli → http → queue → kinds → store → common, and kinds → engine →
kernels. A folder may include itself and the folders its rule lists, nothing else; in
particular kernels/ includes nothing from daemon/. Also refused: any include cycle between
files, and any cycle between folders (engine's subfolders included). Prints every violation
and exits 1 when there is one; prints a one-line summary and exits 0 otherwise.
"""
import collections
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE_EXT = (".c", ".h", ".cu", ".cuh")

# folder -> folders it may include (besides itself). "engine" stands for every engine/ folder.
ALLOWED = {
    "kernels": set(),
    "common": set(),
    "engine": {"common", "kernels"},
    "store": {"common"},
    "kinds": {"store", "engine", "common", "kernels"},
    "queue": {"kinds", "store", "engine", "common", "kernels"},
    "http": {"queue", "kinds", "store", "engine", "common", "kernels"},
    "cli": {"http", "queue", "kinds", "store", "engine", "common", "kernels"},
    # daemon/main.c sits above cli/: it dispatches to the subcommands and prints --version
    # (backends' capabilities, model families)
    "daemon": {"cli", "http", "queue", "kinds", "store", "engine", "common", "kernels"},
}


def folder_of(path):
    """'kernels', 'daemon' (main.c), a daemon/ folder, or 'engine/<sub>' for engine files."""
    parts = path.split("/")
    if parts[0] == "kernels":
        return "kernels"
    if len(parts) == 2:
        return "daemon"
    if parts[1] == "engine":
        return "engine/" + parts[2] if len(parts) > 3 else "engine"
    return parts[1]


def layer_of(folder):
    return "engine" if folder.startswith("engine") else folder


def source_files():
    for top in ("daemon", "kernels"):
        for root, _, names in os.walk(os.path.join(REPO, top)):
            for name in names:
                if name.endswith(SOURCE_EXT):
                    yield os.path.relpath(os.path.join(root, name), REPO)


def resolve(including, name, known):
    """The repo path an #include "name" in `including` refers to (the compiler's order:
    the including file's folder, then -Idaemon, then -Ikernels), or None for other files."""
    for cand in (os.path.join(os.path.dirname(including), name), "daemon/" + name,
                 "kernels/" + name):
        cand = os.path.normpath(cand)
        if cand in known:
            return cand
    return None


def find_cycle(graph):
    """One cycle of the directed graph as a list of nodes, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = collections.defaultdict(int)
    stack = []

    def visit(node):
        color[node] = GREY
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if color[nxt] == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if color[nxt] == WHITE:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        color[node] = BLACK
        return None

    for node in sorted(graph):
        if color[node] == WHITE:
            found = visit(node)
            if found:
                return found
    return None


def main():
    files = sorted(source_files())
    known = set(files)
    file_graph = collections.defaultdict(set)
    folder_graph = collections.defaultdict(set)
    problems = []
    include_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
    for path in files:
        with open(os.path.join(REPO, path), encoding="utf-8") as fh:
            text = fh.read()
        for name in include_re.findall(text):
            target = resolve(path, name, known)
            if target is None:
                continue  # generated or system header
            file_graph[path].add(target)
            src, dst = folder_of(path), folder_of(target)
            if src == dst:
                continue
            folder_graph[src].add(dst)
            if layer_of(dst) != layer_of(src) and layer_of(dst) not in ALLOWED[layer_of(src)]:
                problems.append("%s includes %s: %s/ may not include %s/" % (path, target, src, dst))
    cycle = find_cycle(file_graph)
    if cycle:
        problems.append("include cycle between files: " + " -> ".join(cycle))
    cycle = find_cycle(folder_graph)
    if cycle:
        problems.append("include cycle between folders: " + " -> ".join(cycle))
    for p in problems:
        print("layout: " + p)
    if problems:
        print("layout: %d problem(s) in %d files" % (len(problems), len(files)))
        return 1
    print("layout: %d files, %d folders, layering and acyclicity hold" % (len(files), len(folder_graph)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
