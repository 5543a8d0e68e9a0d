"""The whole book as one PDF, printed from the built site by headless Chromium.

    python tools/book_pdf.py [--site _build/html] [--out _build/pdf/book.pdf]

Serves the built site (``make book``) on 127.0.0.1, opens every page in the
order of ``_toc.yml``, waits until MathJax has typeset its equations and its
images have loaded, hides the site's navigation with print CSS and prints the
page to A4. The pages are merged with pypdf into one file with a bookmark per
chapter (grouped by the table of contents' parts) and a page number at the
foot of every page, and copied into the site as ``book.pdf`` for the download
menu (``_static/book_pdf.js``). Nothing leaves the machine: the site's MathJax
and fonts are bundled. Chromium is Debian's (``/usr/bin/chromium``; set
``CHROMIUM`` for another) driven by Playwright.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import io
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import yaml
from pypdf import PdfReader, PdfWriter

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MARGIN = {"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"}
PRINT_CSS = """
.bd-header, .bd-header-announcement, .bd-sidebar-primary, .bd-sidebar-secondary,
.header-article, .bd-header-article, .prev-next-area, .bd-footer, .bd-footer-article,
.bd-footer-content, footer, .headerlink, .sidebar-toggle, .search-button-field,
#pst-back-to-top, .skip-link, .toggle-secondary-sidebar, .bd-search { display: none !important; }
.bd-main, .bd-content, .bd-article-container, .bd-article, .bd-page-width, .bd-container,
.bd-container__inner { max-width: 100% !important; min-width: 0 !important; width: 100% !important;
  margin: 0 !important; flex: 1 1 100% !important;
  padding-left: 0 !important; padding-right: 0 !important; }
html, body { background: white !important; }
div.cell div.highlight pre, div.cell_output pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
img, figure { break-inside: avoid; }
div.cell_output, div.cell_input { break-inside: avoid-page; }
h1, h2, h3 { break-after: avoid; }
"""


def toc_entries(root: Path = ROOT) -> list[tuple[str | None, str]]:
    """``(part caption or None, file)`` for every page of ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    entries = [(None, toc["root"])]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            entries.append((part.get("caption"), chapter["file"]))
            entries += [(part.get("caption"), section["file"]) for section in chapter.get("sections", [])]
    return entries


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


READY = """async () => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  for (const img of document.images) { img.loading = 'eager'; }
  await Promise.all([...document.images].map(img => img.complete ? null :
    new Promise(done => { img.onload = img.onerror = done; })));
  await document.fonts.ready;
  return document.querySelector('article h1')?.textContent.replace(/[#¶]/g, '').trim() || document.title;
}"""


def page_numbers(browser, count: int) -> PdfReader:
    """A PDF of ``count`` blank A4 pages, each with its number at the foot."""
    pages = "".join(f'<div class="p"><span>{n}</span></div>' for n in range(1, count + 1))
    html = ("<html><head><style>@page { size: A4; margin: 0 } body { margin: 0 }"
            ".p { height: 297mm; position: relative; break-after: page; }"
            ".p span { position: absolute; bottom: 8mm; width: 100%; text-align: center;"
            " font: 9pt sans-serif; color: #555; }</style></head><body>" + pages + "</body></html>")
    page = browser.new_page()
    page.set_content(html)
    data = page.pdf(format="A4", print_background=False, prefer_css_page_size=True)
    page.close()
    return PdfReader(io.BytesIO(data))


def build(site: Path, out: Path, chromium: str) -> dict:
    """Print ``site`` to ``out`` with the Chromium at ``chromium``; see ``print_book``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS[1:])
        try:
            return print_book(browser, site, out)
        finally:
            browser.close()


def print_book(browser, site: Path, out: Path) -> dict:
    """Print every page of the built ``site`` to one PDF ``out`` with a Playwright ``browser``.

    Returns the number of pages, ``(title, first page)`` per chapter, the seconds
    it took and the file's size in bytes.
    """
    start = time.perf_counter()
    httpd, url = serve(site)
    writer = PdfWriter()
    parts: dict[str, object] = {}
    chapters = []
    try:
        context = browser.new_context(viewport={"width": 1100, "height": 1400})
        for caption, file in toc_entries():
            page = context.new_page()
            page.goto(f"{url}/{file}.html", wait_until="load")
            page.add_style_tag(content=PRINT_CSS)
            title = page.evaluate(READY)
            data = page.pdf(format="A4", margin=MARGIN, print_background=True)
            page.close()
            first = len(writer.pages)
            writer.append(PdfReader(io.BytesIO(data)))
            parent = None
            if caption is not None:
                if caption not in parts:
                    parts[caption] = writer.add_outline_item(title=caption, page_number=first)
                parent = parts[caption]
            writer.add_outline_item(title=title, page_number=first, parent=parent)
            chapters.append((title, first + 1))
            print(f"  page {first + 1:4d}  {title}", flush=True)
        context.close()
        numbers = page_numbers(browser, len(writer.pages))
    finally:
        httpd.shutdown()
    for page, number in zip(writer.pages, numbers.pages):
        page.merge_page(number)
    writer.add_metadata({"/Title": "VAEs: Compression and Generation", "/Creator": "tools/book_pdf.py"})
    writer.page_mode = "/UseOutlines"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as handle:
        writer.write(handle)
    shutil.copyfile(out, site / "book.pdf")
    return {"pages": len(writer.pages), "chapters": chapters, "seconds": time.perf_counter() - start,
            "bytes": out.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html", help="the built site (make book)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "pdf" / "book.pdf")
    args = parser.parse_args(argv)
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not (args.site / "index.html").is_file():
        print(f"error: no built site in {args.site}; run 'make book' first", file=sys.stderr)
        return 2
    if chromium is None:
        print("error: Chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    result = build(args.site, args.out, chromium)
    print(f"{args.out}: {result['pages']} pages, {result['bytes'] / 1e6:.1f} MB, "
          f"{len(result['chapters'])} chapters, {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
