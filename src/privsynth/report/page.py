"""The page shell: inline CSS, header, not-private banner, contents and sections.

The page loads nothing: no script, font, stylesheet or image from anywhere else, so it opens
the same offline, from an e-mail attachment or a locked-down archive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from privsynth.report.html import NOT_PRIVATE, Section, esc

CSS = """
:root { --ink:#1f2328; --muted:#5f6b76; --line:#d8dee4; --bg:#f6f8fa; --accent:#3b6fb6;
  --warn-bg:#fff4d6; --warn-line:#e0a800; --bad:#b42318; --good:#1a7f37; }
* { box-sizing: border-box; }
body { margin:0; color:var(--ink); background:#fff; line-height:1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width:1180px; margin:0 auto; padding:24px 28px 64px; }
header h1 { margin:0 0 4px; font-size:1.9rem; }
.meta { color:var(--muted); margin:0 0 14px; }
.meta span { margin-right:18px; white-space:nowrap; }
.guarantee { font-size:1.1rem; padding:12px 16px; border-left:5px solid var(--accent);
  background:#eef4fb; border-radius:6px; margin:12px 0; }
.guarantee.none { border-left-color:var(--muted); background:var(--bg); }
.guarantee .label { font-weight:600; margin-right:8px; }
.big { font-size:1.25rem; font-weight:700; }
.banner { display:flex; gap:14px; align-items:flex-start; background:var(--warn-bg);
  border:2px solid var(--warn-line); border-radius:8px; padding:14px 18px; margin:16px 0 8px; }
.banner .icon { font-size:1.8rem; line-height:1; }
.banner strong { display:block; font-size:1.1rem; }
nav.toc { margin:14px 0 4px; color:var(--muted); }
nav.toc a { margin-right:14px; color:var(--accent); text-decoration:none; }
section { border-top:1px solid var(--line); margin-top:28px; padding-top:6px; }
section.real { border-top:3px solid var(--warn-line); }
h2 { font-size:1.45rem; margin:14px 0 6px; display:flex; flex-wrap:wrap; gap:10px;
  align-items:center; }
h3 { font-size:1.08rem; margin:22px 0 6px; }
.explain { background:var(--bg); border-radius:6px; padding:10px 14px; margin:8px 0 12px;
  max-width:900px; }
.note { color:var(--muted); font-size:.88rem; margin:4px 0; max-width:900px; }
.muted { color:var(--muted); }
.ci { color:var(--muted); font-size:.8rem; white-space:nowrap; }
.badge { display:inline-block; font-size:.78rem; font-weight:600; padding:2px 9px;
  border-radius:999px; vertical-align:middle; white-space:nowrap; }
.badge-private { background:var(--warn-bg); border:1px solid var(--warn-line); color:#7a4d00; }
.badge-similarity { background:#fde8e7; border:1px solid #f1a9a4; color:var(--bad);
  white-space:normal; border-radius:8px; }
.badge-warn { background:var(--bg); border:1px solid var(--line); }
.table-wrap { overflow-x:auto; margin:6px 0; }
table { border-collapse:collapse; font-size:.9rem; }
th, td { padding:5px 10px; border-bottom:1px solid var(--line); text-align:left;
  vertical-align:top; }
th { background:var(--bg); font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) td { background:#fbfcfd; }
table.kv table { font-size:.85rem; }
.scroll { max-height:420px; overflow:auto; border:1px solid var(--line); border-radius:6px; }
.scroll .table-wrap { margin:0; }
.callout { border-radius:6px; padding:10px 14px; margin:10px 0; border:1px solid var(--line); }
.callout-good { background:#eaf7ee; border-color:#9fd8ad; }
.callout-bad { background:#fde8e7; border-color:#f1a9a4; }
.callout-info { background:#eef4fb; border-color:#b8cfee; }
.grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(430px, 1fr)); gap:14px; }
.grid3 { grid-template-columns:repeat(auto-fill, minmax(340px, 1fr)); }
.cell { border:1px solid var(--line); border-radius:6px; padding:8px; background:#fff; }
.cell.wide { max-width:680px; }
.cell.narrow { max-width:440px; }
svg.chart { width:100%; height:auto; display:block; font-family:inherit; fill:var(--ink); }
figure { margin:0; }
figure.images img { image-rendering:pixelated; max-width:100%; height:auto;
  border:1px solid var(--line); }
figcaption { color:var(--muted); font-size:.9rem; margin-top:4px; }
details { margin:10px 0; }
summary { cursor:pointer; color:var(--accent); }
footer { margin-top:40px; color:var(--muted); font-size:.85rem; }
@media print { .scroll { max-height:none; overflow:visible; } section { break-inside:avoid-page; } }
"""

BANNER = (
    '<div class="banner" role="note"><span class="icon" aria-hidden="true">⚠</span><div>'
    f"<strong>{esc(NOT_PRIVATE)}</strong>"
    "Sections marked with this label were computed on the real, sensitive data. Their numbers "
    "and plots are <em>not</em> protected by differential privacy and must not be published "
    "with the synthetic data. Only the synthetic data, the privacy guarantee and the ledger are "
    "covered by the guarantee.</div></div>"
)


def header_html(title: str, meta: Mapping[str, str], guarantee: str) -> str:
    """Title, the names of the inputs, the guarantee and the banner."""
    names = "".join(f"<span><b>{esc(k)}</b>: {esc(v)}</span>" for k, v in meta.items() if v)
    return (
        f"<header><h1>{esc(title)}</h1>"
        + (f'<p class="meta">{names}</p>' if names else "")
        + guarantee
        + BANNER
        + "</header>"
    )


def render_page(title: str, header: str, sections: Sequence[Section], footer: str = "") -> str:
    """The whole HTML document."""
    toc = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(s.html() for s in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        f'{header}<nav class="toc">Contents: {toc}</nav>{body}'
        f"<footer>{footer}</footer></main></body></html>\n"
    )
