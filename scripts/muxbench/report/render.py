"""The report's blocks (muxbench.report.content) as Markdown and as one self-contained HTML page,
and both written beside the sweep.
"""

import base64
import html
import re


def render_markdown(blocks, base):
    out = []
    for block in blocks:
        kind = block[0]
        if kind == "h1":
            out.append(f"# {block[1]}")
        elif kind == "h2":
            out.append(f"## {block[1]}")
        elif kind == "p":
            out.append(block[1])
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            out.append(markdown_table(block[1], block[2]))
        elif kind == "figure":
            rel = block[1].png.relative_to(base)
            out.append(f"![{block[1].title}]({rel.as_posix()})")
    return "\n\n".join(out) + "\n"


def markdown_table(headers, rows):
    cell = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


CSS = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #f4f4f4; } td:nth-child(-n+2), th:nth-child(-n+2) { text-align: left; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
code { background: #f3f3f3; padding: 0 0.25em; border-radius: 3px; }
"""


def render_html(blocks):
    title = next((b[1] for b in blocks if b[0] == "h1"), "muxbench results")
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{inline(block[1])}</{kind}>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            body.append(html_table(block[1], block[2]))
        elif kind == "figure":
            body.append(html_figure(block[1]))
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def inline(text):
    """Escapes text and turns `code` spans into <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def html_table(headers, rows):
    head = "".join(f"<th>{inline(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{inline(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_figure(p):
    """The PNG embedded as a data: URI: the page must not depend on files beside it."""
    data = base64.b64encode(p.png.read_bytes()).decode("ascii")
    alt = html.escape(p.title)
    return (f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
            f"<figcaption>{alt}</figcaption></figure>")


def write_report(blocks, directory):
    """Writes DIR/report.md and DIR/report.html; returns their paths."""
    md, page = directory / "report.md", directory / "report.html"
    md.write_text(render_markdown(blocks, directory), encoding="utf-8")
    page.write_text(render_html(blocks), encoding="utf-8")
    return md, page
