"""The troubleshooting guide lists every failure ``reason`` the collection can return.

The reasons are collected from the code itself, so a new reason that nobody documented fails this
test (and so does a documented one that no longer exists). Where reasons come from:

- an error class's ``reason = "word"`` (module_utils/_errors.py and its subclasses);
- ``reason="word"`` given to a call, or ``{"reason": "word"}`` in a dict;
- a word given positionally to an ``...Error(message, ..., "word")`` constructor, or to the API
  path's ``_failed(result, "word", message)`` and ``_reason(error, "word")``;
- the first word of what a ``_refusal`` function returns (host_plan's refusals);
- the words host-side scripts hand to their ``fail`` shell function (``... || fail copy``), which
  ``remote_file.parse_write`` turns into the task's reason (the host's ``changed`` is reported as
  ``changed_meanwhile``).
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "docsite" / "rst" / "guide_troubleshooting.rst"
WORD = re.compile(r"^[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*$")
SHELL_FAIL = re.compile(r"(?:\|\||&&|;|\{)\s*fail ([a-z_]+)\b")
# Host words that parse_write renames before a task sees them.
RENAMED_HOST_WORDS = {"changed": "changed_meanwhile"}


def _constants(node):
    """The string constants an expression can evaluate to (through ``a if c else b``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _constants(node.body) + _constants(node.orelse)
    return []


def _call_name(node):
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def reasons_in_source(text):
    """Every reason word one Python file can produce."""
    found = set()
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "reason" for t in stmt.targets
                ):
                    found.update(_constants(stmt.value))
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "reason":
                    found.update(_constants(keyword.value))
            if _call_name(node) in ("_failed", "_reason"):
                # the API path's batch outcomes: _failed(result, "word", message), _reason(error, "word")
                for arg in node.args[1:]:
                    found.update(word for word in _constants(arg) if WORD.match(word))
            if _call_name(node).endswith("Error"):
                for arg in node.args[1:]:
                    found.update(word for word in _constants(arg) if WORD.match(word))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if key is not None and _constants(key) == ["reason"]:
                    found.update(_constants(value))
        elif isinstance(node, ast.FunctionDef) and "refusal" in node.name:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and isinstance(inner.value, ast.Tuple) and inner.value.elts:
                    found.update(_constants(inner.value.elts[0]))
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mod)
            and isinstance(node.right, ast.Name)
            and node.right.id == "fail"
        ):
            # "%s locked" % fail: a host script line that ends through the fail function.
            found.update(word.split()[-1] for word in _constants(node.left))
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for word in SHELL_FAIL.findall(node.value):
                found.add(RENAMED_HOST_WORDS.get(word, word))
    return {word for word in found if WORD.match(word)}


def code_reasons():
    found = set()
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        found |= reasons_in_source(path.read_text(encoding="utf-8"))
    return found


def documented_reasons():
    """The reasons the guide documents: each is an rst section title of the form ``reason``."""
    text = GUIDE.read_text(encoding="utf-8")
    lines = text.splitlines()
    titles = set()
    for index, line in enumerate(lines[:-1]):
        underline = lines[index + 1]
        match = re.fullmatch(r"``([a-z0-9_-]+)``", line.strip())
        if match and underline and set(underline) == {"^"} and len(underline) >= len(line):
            titles.add(match.group(1))
    return titles


def test_the_extractor_sees_each_kind_of_source():
    source = """
class E(Base):
    reason = "class_word"
raise VmConfigError("message", "positional_word")
raise PowerError("message", result, "third_word")
raise E("message", reason="keyword_word")
entry = {"name": n, "reason": "dict_word"}
raise E("m", "changed_meanwhile" if r == "changed" else r)
def _refusal(vm):
    return "refused_word", "the VM is refused"
lines = ['cp -p "$f" "$t" || fail copy', "%s locked" % fail, '[ "$1" = x ] || fail changed']
raise E("a message with words, not a reason")
"""
    assert reasons_in_source(source) == {
        "class_word",
        "positional_word",
        "third_word",
        "keyword_word",
        "dict_word",
        "changed_meanwhile",
        "refused_word",
        "copy",
        "locked",
    }


def test_the_code_has_the_reasons_the_guide_was_written_from():
    # A sample of each source, so that a broken extractor cannot pass the comparison below empty.
    assert {"restricted_version", "vm_gone", "hardware_too_old", "locked", "rename", "not_reached"} <= code_reasons()


def test_every_reason_in_the_code_is_in_the_troubleshooting_guide():
    missing = sorted(code_reasons() - documented_reasons())
    assert not missing, "reasons the code returns that %s does not explain: %s" % (GUIDE.relative_to(ROOT), missing)


def test_the_troubleshooting_guide_lists_no_reason_the_code_cannot_return():
    stale = sorted(documented_reasons() - code_reasons())
    assert not stale, "reasons %s explains that the code no longer returns: %s" % (GUIDE.relative_to(ROOT), stale)
