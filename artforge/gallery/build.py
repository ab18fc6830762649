"""Render a run directory into ``index.html`` (first version: a section per step)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from ..atomic import write_text

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ m.title }} - artforge</title>
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1rem;background:#111;color:#eee}
a{color:#8cf} .grid{display:flex;flex-wrap:wrap;gap:6px} .grid img{width:128px;height:auto;image-rendering:auto}
section{border-top:1px solid #333;margin-top:1.5rem} pre{white-space:pre-wrap;background:#1b1b1b;padding:.5rem}
table{border-collapse:collapse} td,th{border:1px solid #333;padding:2px 6px}
</style></head><body>
<h1>{{ m.title }}</h1>
<p>{{ m.recipe.description }}</p>
<p>backend {{ m.backend }} &middot; device {{ m.device }} &middot; seed {{ m.seed }} &middot; {{ m.status }}</p>
<pre>{{ m.command }}</pre>
{% for s in steps %}
<section id="step-{{ s.id }}"><h2>{{ s.id }} <small>({{ s.uses }})</small></h2>
{% if s.record %}
{% if s.record.metrics %}<table>{% for k, v in s.record.metrics.items() %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>{% endif %}
{% for w in s.record.warnings %}<p class="warn">&#9888; {{ w }}</p>{% endfor %}
{% for name, out in s.outputs %}<h3>{{ name }}</h3><div class="grid">
{% for f in out.files[:64] %}<a href="{{ out.href }}/{{ f }}"><img loading="lazy" src="{{ out.href }}/{{ f }}" alt="{{ s.id }} {{ name }} {{ f }}"></a>{% endfor %}
</div>{% endfor %}
<details><summary>parameters</summary><pre>{{ s.params }}</pre></details>
{% endif %}
</section>
{% endfor %}
</body></html>
"""


def _env() -> Environment:
    return Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def build_gallery(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    manifest = _load_json(run_dir / "manifest.json")
    if manifest is None:
        from ..errors import ArtforgeError

        raise ArtforgeError(f"{run_dir} is not an artforge run directory (no manifest.json)")
    steps = []
    for entry in manifest["steps"]:
        record = _load_json(run_dir / entry["record"])
        outputs = []
        if record:
            for name, out in record.get("outputs", {}).items():
                if out.get("kind") == "images":
                    href = f"steps/{entry['id']}/{out['path']}"
                    outputs.append((name, {"files": out["files"], "href": href}))
        steps.append(
            {
                "id": entry["id"],
                "uses": entry["uses"],
                "record": record,
                "outputs": outputs,
                "params": json.dumps(record.get("params", {}), indent=2) if record else "",
            }
        )
    html = _env().from_string(PAGE).render(m=manifest, steps=steps)
    out = run_dir / "index.html"
    write_text(out, html)
    return out


def build_index(root: Path) -> Path:
    root = Path(root)
    runs = sorted(p.parent.name for p in root.glob("*/manifest.json"))
    html = _env().from_string(
        "<!doctype html><html><head><meta charset='utf-8'><title>artforge gallery</title></head>"
        "<body><h1>artforge runs</h1><ul>{% for r in runs %}<li><a href='{{ r }}/index.html'>{{ r }}</a></li>{% endfor %}</ul></body></html>"
    ).render(runs=runs)
    out = root / "index.html"
    write_text(out, html)
    return out
