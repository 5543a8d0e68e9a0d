"""The published site: a strict offline build, then every page checked in headless Chromium.

The build is Jupyter Book 1 with warnings as errors (a failing notebook only
warns otherwise). The browser check serves the built site on 127.0.0.1 and
asserts, page by page, that every equation was typeset by MathJax (no raw
TeX, no MathJax error), every image loaded, every Markdown table became a
table (not a paragraph of pipes), the page has its title and the
book's navigation, and nothing was requested from outside this machine.
Screenshots of three pages go to artifacts/screenshots/. At a 1300-pixel
window no code cell, output or code block scrolls sideways and no printed
table wraps; at 390 pixels (a phone) no page scrolls sideways. The whole
book prints to one PDF (tools/book_pdf.py) with every chapter and its maths
typeset.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
SCREENSHOT_PAGES = ["book/intro.html", "chapters/04_objective.html", "chapters/07_latent_space.html"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", str(ROOT), "--path-output", str(output),
                             "-W", "-n", "--keep-going"], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return output / "_build" / "html"


def test_the_book_builds_strictly_with_zero_warnings(site):
    assert (site / "index.html").is_file()
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()  # MathJax is bundled


def is_redirect(path: Path) -> bool:
    """A stub that only sends the browser on (the site's root index.html): no page of its own to check."""
    text = path.read_text(errors="replace")
    return len(text) < 500 and 'http-equiv="Refresh"' in text


def pages_of(site: Path) -> list[str]:
    skip = {"genindex.html", "search.html"}
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts
                  and not is_redirect(p))


def test_the_sites_root_sends_the_reader_to_the_front_page(site):
    # Checked here rather than in the browser, where the page report could run
    # before or after the refresh (a race that failed the check on a busy machine).
    match = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', (site / "index.html").read_text())
    assert match and (site / match[1]).is_file() and match[1].endswith("intro.html")


def test_every_chapter_and_appendix_page_is_built(site):
    toc_files = [line.split("file:")[1].strip() for line in (ROOT / "_toc.yml").read_text().splitlines()
                 if "file:" in line]
    built = set(pages_of(site))
    assert [f for f in toc_files if f + ".html" not in built] == []


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium); the browser check needs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS[1:])
        yield browser
        browser.close()


PAGE_REPORT = """() => {
  const maths = [...document.querySelectorAll('.math')];
  return {
    title: document.title,
    nav_links: document.querySelectorAll('nav.bd-docs-nav a, #bd-docs-nav a').length,
    maths: maths.length,
    untypeset: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80)),
    errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80)),
    images: document.images.length,
    broken_images: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
    raw_tables: [...document.querySelectorAll('article p')]
      .filter(p => p.textContent.trim().startsWith('|') && p.textContent.split('|').length > 4)
      .map(p => p.textContent.slice(0, 80)),
  };
}"""


def test_every_page_renders_its_maths_images_title_and_navigation(site, server, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    context.on("request", lambda request: outside.append(request.url)
               if not request.url.startswith((server, "data:", "blob:")) else None)
    problems, total_maths = [], 0
    for name in pages_of(site):
        page = context.new_page()
        page.goto(f"{server}/{name}", wait_until="load")
        page.wait_for_function("() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)")
        page.evaluate("() => window.MathJax ? MathJax.startup.promise : null")
        report = page.evaluate(PAGE_REPORT)
        total_maths += report["maths"]
        if "VAEs" not in report["title"]:
            problems.append(f"{name}: title {report['title']!r}")
        if report["nav_links"] < 10:
            problems.append(f"{name}: navigation has {report['nav_links']} links")
        for key in ("untypeset", "errors", "broken_images", "raw_tables"):
            if report[key]:
                problems.append(f"{name}: {key}: {report[key][:3]}")
        if name in SCREENSHOT_PAGES:
            page.screenshot(path=str(SCREENSHOTS / name.replace("/", "__").replace(".html", ".png")), full_page=False)
        page.close()
    context.close()
    assert problems == []
    assert outside == [], f"requests left the machine: {outside[:5]}"
    assert total_maths > 50  # the chapters are full of equations: they were found and typeset


# Every code block (input cells, and literal blocks in the prose) and every
# output of a page at a 1300-pixel window: what scrolls sideways, and which
# printed lines that look like table rows (columns aligned by runs of spaces)
# are wider than the column, so that the output's wrapping (_static/fit.css)
# breaks them. Prose lines may wrap; table rows may not.
OVERFLOW_REPORT = """() => {
  const describe = (e) => {
    const cell = e.closest('div.cell');
    const cells = [...document.querySelectorAll('article div.cell')];
    const where = cell ? `cell ${cells.indexOf(cell) + 1}` : 'prose';
    const kind = e.closest('div.cell_output') ? 'output' : 'code';
    return `${where} ${kind} (${e.scrollWidth} > ${e.clientWidth} px): ${e.textContent.trim().slice(0, 60)}`;
  };
  const overflowing = [...document.querySelectorAll(
      'article pre, article div.cell_output, article div.cell_output *, article div.cell_input')]
    // MathJax's inline containers in figure captions report a few pixels of their own
    // overflow; the caption that holds them is still checked
    .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1 && !e.closest('mjx-container, math, span.math'))
    .map(describe);
  const wrapped_rows = [];
  for (const pre of document.querySelectorAll('article div.cell_output pre')) {
    const probe = document.createElement('span');
    probe.textContent = 'x'.repeat(100);
    probe.style.whiteSpace = 'pre';
    pre.appendChild(probe);
    const char = probe.getBoundingClientRect().width / 100;
    probe.remove();
    const style = getComputedStyle(pre);
    const room = Math.floor((pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)) / char);
    for (const line of pre.textContent.split('\\n')) {
      if (line.length > room && /\\S {3,}\\S/.test(line.trim())) {
        const cells = [...document.querySelectorAll('article div.cell')];
        wrapped_rows.push(`cell ${cells.indexOf(pre.closest('div.cell')) + 1} output: a table row of ` +
                          `${line.length} characters wraps (room for ${room}): ${line.trim().slice(0, 50)}`);
      }
    }
  }
  // a displayed equation wider than its column is cut off by MathJax, not scrolled
  const clipped_maths = [...document.querySelectorAll('article mjx-container[display="true"]')]
    .filter(e => {
      const math = e.querySelector('mjx-math');
      if (!math) return false;
      const box = e.getBoundingClientRect(), inner = math.getBoundingClientRect();
      return inner.right > box.right + 2 || inner.left < box.left - 2 || e.scrollWidth > e.clientWidth + 2;
    })
    .map(e => `equation ${(e.closest('div.math') || {}).id || ''} is cut off: ${e.textContent.slice(0, 50)}`);
  return {overflowing, wrapped_rows, clipped_maths};
}"""


def typeset(page) -> None:
    page.wait_for_function("() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)")
    page.evaluate("() => window.MathJax ? MathJax.startup.promise : null")


def test_no_code_cell_or_output_scrolls_sideways_and_no_equation_is_cut_off_at_1300_pixels(site, server, browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    problems = []
    for name in pages_of(site):
        page = context.new_page()
        page.goto(f"{server}/{name}", wait_until="load")
        typeset(page)
        report = page.evaluate(OVERFLOW_REPORT)
        problems += [f"{name}: {item}" for item in
                     report["overflowing"] + report["wrapped_rows"] + report["clipped_maths"]]
        page.close()
    context.close()
    assert problems == [], "\n".join(problems)


def test_no_page_scrolls_sideways_on_a_390_pixel_phone(site, server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    problems = []
    for name in pages_of(site):
        page = context.new_page()
        page.goto(f"{server}/{name}", wait_until="load")
        typeset(page)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > 390:
            problems.append(f"{name}: the page is {width} px wide")
        page.close()
    context.close()
    assert problems == []


def test_the_download_menu_offers_the_whole_book_as_one_pdf(site, server, browser):
    page = browser.new_page()
    page.goto(f"{server}/chapters/04_objective.html", wait_until="load")
    href = page.evaluate("() => document.querySelector('.btn-download-book-pdf')?.getAttribute('href')")
    page.close()
    assert href == "../book.pdf"


def test_the_whole_book_prints_to_one_pdf_with_every_chapter_typeset(site, browser):
    from pypdf import PdfReader

    sys.path.insert(0, str(ROOT / "tools"))
    import book_pdf

    out = site.parent / "pdf" / "book.pdf"
    result = book_pdf.print_book(browser, site, out)
    reader = PdfReader(out)
    assert len(reader.pages) == result["pages"] > 100
    assert (site / "book.pdf").read_bytes() == out.read_bytes()  # the download menu's link
    titles = []

    def walk(outline):
        for item in outline:
            if isinstance(item, list):
                walk(item)
            else:
                titles.append((item.title, reader.get_destination_page_number(item)))

    walk(reader.outline)
    toc_files = [file for _, file in book_pdf.toc_entries()]
    chapter_titles = [t for t, _ in result["chapters"]]
    assert len(chapter_titles) == len(toc_files)
    assert all(title in [t for t, _ in titles] for title in chapter_titles)
    for number in range(1, len(list((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))) + 1):
        assert any(t.startswith(f"{number}. ") for t in chapter_titles), f"chapter {number} has no bookmark"
    untypeset = []
    for index, pdf_page in enumerate(reader.pages):
        text = pdf_page.extract_text() or ""
        # Sphinx writes maths as \\(...\\) and \\[...\\] for MathJax; untypeset, they print as
        # TeX. (Code cells may hold TeX in matplotlib labels: \\log, \\mathcal.)
        for raw in ("$$", "\\(", "\\[", "\\begin{", "\\frac", "\\sum", "\\mathbb"):
            if raw in text:
                untypeset.append(f"page {index + 1}: {raw!r}")
    assert untypeset == []
    assert str(len(reader.pages)) in (reader.pages[-1].extract_text() or "")  # page numbers at the foot
