#!/usr/bin/env python3
"""Fails when modules import each other in a cycle.

For every crate of the workspace (a folder with Cargo.toml and src/lib.rs or src/main.rs) it
builds two kinds of graphs from the source, comments stripped:
  - top-level modules: `a` depends on `b` when a file of `a` names `crate::b` (also inside a
    grouped `use crate::{b, ...}`);
  - the submodules of one folder: `x` depends on its sibling `y` when a file of `x` names
    `super::y` (mod.rs, the parent, is not a node: a parent naming its children is how
    modules are declared).
Every cycle is printed with a file:line that makes each step, and the exit status is 1.

A crate listed in LAYERS below is held to its table as well. Its top-level modules are
layers (folders, lowest first), and the modules inside them are the nodes: `engine::driver`,
`results::scenario`, and a layer's own mod.rs as `results`. A node may name the nodes of its
own layer and what its layer's row allows: a whole layer (`observe`) or one module of it
(`engine::metrics`). Any other edge is printed with its file:line, and so is a cycle among
the nodes.

usage: scripts/module-cycles.py [ROOT]      (default: the repository)
       scripts/module-cycles.py --self-test  (plants a cycle and checks that it is found)
"""
import os
import re
import sys
import tempfile

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"

# Which layers (or single modules of a layer) each layer of a crate may name, lowest first.
# A layer may always name its own modules. The results documents name nothing of the driver,
# the services or the scenarios; the renderers name the documents, not what made them.
LAYERS = {
    "harness": {
        "base": [],
        "engine": ["base"],
        "observe": ["base", "engine::fetch", "engine::metrics"],
        "verdict": ["base", "engine::metrics", "observe"],
        "results": ["base", "engine::load", "engine::metrics", "observe", "verdict"],
        "export": ["base", "engine::metrics", "observe", "verdict", "results"],
        "watch": ["base", "engine::metrics", "observe", "verdict"],
        "run": ["base", "engine", "observe", "verdict", "results", "export", "watch"],
        "ui": ["base", "engine::metrics", "observe", "verdict", "watch"],
        "cli": ["base", "engine", "observe", "verdict", "results", "export", "watch", "run", "ui"],
    },
}


def strip_comments(text):
    """Blanks out comments and string literals, keeping line numbers."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text[i] == '"' or text.startswith('r#"', i) or text.startswith('r"', i):
            if text[i] == "r":
                hashes = len(re.match(r"r(#*)\"", text[i:]).group(1))
                end = '"' + "#" * hashes
                start = i + 2 + hashes
            else:
                end, start = '"', i + 1
            j = start
            while j < n:
                if text[j] == "\\" and end == '"':
                    j += 2
                    continue
                if text.startswith(end, j):
                    break
                j += 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + len(end)
        elif text[i] == "'" and re.match(r"'(\\.|[^\\'])'", text[i:]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def references(text, prefix):
    """(name, line) for every `prefix::name` and `prefix::{name, ...}` in code."""
    found = []
    for m in re.finditer(rf"\b{prefix}::(?:({IDENT})|\{{)", text):
        line = text.count("\n", 0, m.start()) + 1
        if m.group(1):
            found.append((m.group(1), line))
            continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        inner = text[m.end():j - 1]
        # Only the names at the group's first level.
        level, token = 0, ""
        for ch in inner + ",":
            if ch == "{":
                level += 1
            elif ch == "}":
                level -= 1
            if level == 0 and ch == ",":
                name = re.match(rf"\s*({IDENT})", token)
                if name:
                    found.append((name.group(1), line))
                token = ""
            elif level == 0:
                token += ch
    return found


def rust_files(path):
    if os.path.isfile(path):
        return [path]
    out = []
    for dirpath, _, files in os.walk(path):
        out += [os.path.join(dirpath, f) for f in files if f.endswith(".rs")]
    return sorted(out)


def children(folder):
    """Module name -> its file or folder, for the .rs files and folders directly in `folder`."""
    mods = {}
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if entry.endswith(".rs") and entry not in ("mod.rs", "lib.rs", "main.rs", "tests.rs"):
            mods[entry[:-3]] = path
        elif os.path.isdir(path) and os.path.exists(os.path.join(path, "mod.rs")):
            mods[entry] = path
    return mods


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def edges(mods, prefix, root):
    """module -> {module it names: 'file:line'}."""
    graph = {}
    for name, path in mods.items():
        graph[name] = {}
        for f in rust_files(path):
            text = strip_comments(open(f, encoding="utf-8").read())
            for target, line in references(text, prefix):
                if target in mods and target != name and target not in graph[name]:
                    graph[name][target] = f"{os.path.relpath(f, root)}:{line}"
    return graph


def report(crate, scope, graph):
    problems = []
    for comp in cycles(graph):
        steps = []
        for a in comp:
            for b in comp:
                if b in graph[a]:
                    steps.append(f"{a} -> {b} ({graph[a][b]})")
        problems.append(f"{crate}: cycle among {scope}{{{', '.join(comp)}}}:\n    " + "\n    ".join(steps))
    return problems


def nodes_of(src, table):
    """Node name -> its files: `layer` (the layer's own mod.rs, or its file) and `layer::module`."""
    nodes = {}
    for layer, path in children(src).items():
        if not os.path.isdir(path):
            nodes[layer] = [path]
            continue
        nodes[layer] = [os.path.join(path, "mod.rs")]
        for name, sub in children(path).items():
            nodes[f"{layer}::{name}"] = rust_files(sub)
    return nodes


def node_edges(nodes, root):
    """node -> {node it names: 'file:line'}; a parent naming its children is no edge."""
    layers = {n for n in nodes if "::" not in n}
    graph = {}
    for name, files in nodes.items():
        graph[name] = {}
        for f in files:
            text = strip_comments(open(f, encoding="utf-8").read())
            found = []
            for layer in sorted(layers):
                for target, line in references(text, f"crate::{layer}"):
                    found.append((f"{layer}::{target}" if f"{layer}::{target}" in nodes else layer, line))
                for m in re.finditer(rf"\bcrate::{layer}\b(?!::)", text):
                    found.append((layer, text.count("\n", 0, m.start()) + 1))
            for target, line in found:
                if target == name or target.startswith(name + "::") or target in graph[name]:
                    continue
                graph[name][target] = f"{os.path.relpath(f, root)}:{line}"
    return graph


def layer_problems(crate, nodes, graph, table):
    problems = []
    layer = lambda node: node.split("::")[0]
    for node in sorted(nodes):
        if layer(node) not in table:
            problems.append(f"{crate}: {node} is in no layer of the table in scripts/module-cycles.py")
    for a in sorted(graph):
        for b, where in sorted(graph[a].items()):
            la, lb = layer(a), layer(b)
            if la == lb or la not in table:
                continue
            allowed = table[la]
            if lb in allowed or b in allowed:
                continue
            rank = list(table)
            why = "a layer above it" if lb in table and rank.index(lb) > rank.index(la) else "not in its row"
            problems.append(f"{crate}: {a} ({la}) names {b} ({lb}), {why} ({where})")
    return problems


def check(root):
    problems = []
    for entry in sorted(os.listdir(root)):
        src = os.path.join(root, entry, "src")
        if not os.path.exists(os.path.join(root, entry, "Cargo.toml")) or not os.path.isdir(src):
            continue
        top = children(src)
        table = LAYERS.get(entry)
        if table:
            nodes = nodes_of(src, table)
            graph = node_edges(nodes, root)
            problems += report(entry, "", graph)
            problems += layer_problems(entry, nodes, graph, table)
        else:
            problems += report(entry, "", edges(top, "crate", root))
        for name, path in top.items():
            for dirpath, _, _ in os.walk(path) if os.path.isdir(path) else []:
                subs = children(dirpath)
                scope = os.path.relpath(dirpath, src).replace(os.sep, "::") + "::"
                problems += report(entry, scope, edges(subs, "super", root))
    return problems


def self_test():
    with tempfile.TemporaryDirectory() as root:
        src = os.path.join(root, "demo", "src")
        os.makedirs(os.path.join(src, "b"))
        open(os.path.join(root, "demo", "Cargo.toml"), "w").write("[package]\n")
        open(os.path.join(src, "lib.rs"), "w").write("mod a;\nmod b;\nmod c;\n")
        open(os.path.join(src, "a.rs"), "w").write("// crate::c in a comment is no edge\nuse crate::{b::x, c as _};\n")
        open(os.path.join(src, "b", "mod.rs"), "w").write("mod x;\nmod y;\n")
        open(os.path.join(src, "b", "x.rs"), "w").write("use super::y::Y;\n")
        open(os.path.join(src, "b", "y.rs"), "w").write('const S: &str = "super::x";\nuse super::x::X;\nfn f() { crate::a::g() }\n')
        open(os.path.join(src, "c.rs"), "w").write("pub fn c() {}\n")
        found = check(root)
        assert len(found) == 2, found
        assert "cycle among {a, b}" in found[0] and "a -> b (demo/src/a.rs:2)" in found[0], found[0]
        assert "cycle among b::{x, y}" in found[1], found[1]
        open(os.path.join(src, "b", "y.rs"), "w").write("pub struct Y;\n")
        open(os.path.join(src, "a.rs"), "w").write("use crate::c::c;\n")
        assert check(root) == [], check(root)
        # Layers: low (c, and the folder b) at the bottom, high (a) above.
        LAYERS["demo"] = {"low": [], "high": ["low"]}
        for layer in ("low", "high"):
            os.makedirs(os.path.join(src, layer))
        os.rename(os.path.join(src, "c.rs"), os.path.join(src, "low", "c.rs"))
        os.rename(os.path.join(src, "a.rs"), os.path.join(src, "high", "a.rs"))
        os.rename(os.path.join(src, "b"), os.path.join(src, "low", "b"))
        open(os.path.join(src, "lib.rs"), "w").write("mod low;\nmod high;\n")
        open(os.path.join(src, "low", "mod.rs"), "w").write("pub mod b;\npub mod c;\n")
        open(os.path.join(src, "high", "mod.rs"), "w").write("pub mod a;\n")
        open(os.path.join(src, "high", "a.rs"), "w").write("use crate::low::{c::c, b};\n")
        assert check(root) == [], check(root)
        open(os.path.join(src, "low", "c.rs"), "w").write("pub fn c() { crate::high::a::f() }\n")
        found = check(root)
        assert len(found) == 2 and "cycle among {high::a, low::c}" in found[0], found
        assert "low::c (low) names high::a (high), a layer above it (demo/src/low/c.rs:1)" in found[1], found[1]
        # A row that names one module of a layer allows that module and no other.
        LAYERS["demo"] = {"low": [], "high": ["low::c"]}
        open(os.path.join(src, "low", "c.rs"), "w").write("pub fn c() {}\n")
        found = check(root)
        assert found == ["demo: high::a (high) names low::b (low), not in its row (demo/src/high/a.rs:1)"], found
        open(os.path.join(src, "zed.rs"), "w").write("\n")
        assert any("demo: zed is in no layer of the table" in p for p in check(root)), check(root)
        del LAYERS["demo"]
    print("module-cycles: self-test passed (planted cycles, an upward edge and an edge outside its row found, none when removed)")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems = check(root)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print("module-cycles: no import cycle between modules, and every layer names only what its row allows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
