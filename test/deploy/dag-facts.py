"""Prints, as JSON, what test/deploy/airflow.test.ts checks in an Airflow DAG file, read with ast
(Airflow is not installed here): the imports inside try/except ImportError, the classes with what
each method catches, raises and assigns, every operator call with its keywords evaluated against
the module's constants where they are plain values, and every string the file spells.

usage: python3 dag-facts.py DAG_FILE
"""

import ast
import json
import sys
from datetime import datetime, timedelta

tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())


def imported(stmts):
    """(module, [names]) of each import statement in stmts."""
    out = []
    for s in stmts:
        if isinstance(s, ast.ImportFrom):
            out.append({"module": s.module, "names": [a.name for a in s.names]})
        elif isinstance(s, ast.Import):
            out.extend({"module": a.name, "names": []} for a in s.names)
    return out


# What an expression may use besides the module's constants; Secret(...) is recorded by its arguments.
SAFE = {"range": range, "datetime": datetime, "timedelta": timedelta, "Secret": lambda *a: {"Secret": list(a)}}
constants = {}


def evaluate(node):
    """The value of node given the module's constants (globals, so comprehensions see them too)."""
    return eval(compile(ast.Expression(node), "dag", "eval"), {"__builtins__": SAFE, **constants})


for s in tree.body:
    if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name):
        try:
            constants[s.targets[0].id] = evaluate(s.value)
        except Exception:
            pass


def value(node):
    """The keyword's value where it is plain data given the module's constants, else its source."""
    try:
        return evaluate(node)
    except Exception:
        return {"expr": ast.unparse(node)}


def names(node):
    if node is None:
        return []
    if isinstance(node, ast.Tuple):
        return [ast.unparse(e) for e in node.elts]
    return [ast.unparse(node)]


def method_facts(fn):
    facts = {"catches": [], "raises": [], "assigns": [], "super_keywords": {}}
    for n in ast.walk(fn):
        if isinstance(n, ast.ExceptHandler):
            facts["catches"] += names(n.type)
        elif isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call):
            facts["raises"].append(ast.unparse(n.exc.func))
        elif isinstance(n, ast.Assign):
            facts["assigns"] += [ast.unparse(t) for t in n.targets]
        elif isinstance(n, ast.Call) and ast.unparse(n.func).startswith("super()."):
            facts["super_keywords"].update({k.arg: value(k.value) for k in n.keywords if k.arg})
    return facts


facts = {
    "top_imports": imported(tree.body),
    "guarded_imports": [
        {
            "try": imported(s.body),
            "except": [{"types": names(h.type), "imports": imported(h.body)} for h in s.handlers],
        }
        for s in tree.body
        if isinstance(s, ast.Try)
    ],
    "constants": {k: v for k, v in constants.items() if isinstance(v, (str, int, float, list, tuple))},
    "classes": {
        c.name: {
            "bases": [ast.unparse(b) for b in c.bases],
            "methods": {f.name: method_facts(f) for f in c.body if isinstance(f, ast.FunctionDef)},
        }
        for c in tree.body
        if isinstance(c, ast.ClassDef)
    },
    "calls": [
        {"func": ast.unparse(n.func), "keywords": {k.arg: value(k.value) for k in n.keywords if k.arg}}
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and n.keywords
    ],
    "strings": sorted(
        {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        | {v for v in constants.values() if isinstance(v, str)}
    ),
}
print(json.dumps(facts, default=str))
