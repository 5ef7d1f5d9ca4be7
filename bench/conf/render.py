#!/usr/bin/env python3
"""render.py TEMPLATE OUT NAME=VALUE...: writes TEMPLATE to OUT with each @NAME@ replaced by its VALUE.
Fails when a placeholder is left (a typo in a script would otherwise go unnoticed)."""
import re
import sys

template, out, *pairs = sys.argv[1:]
text = open(template).read()
for pair in pairs:
    name, value = pair.split("=", 1)
    text = text.replace(f"@{name}@", value)
left = re.findall(r"@[A-Z_]+@", text)
if left:
    sys.exit(f"render.py: {template}: no value for {', '.join(sorted(set(left)))}")
open(out, "w").write(text)
