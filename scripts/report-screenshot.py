"""Regenerate docs/report.png (the picture of report.html in docs/reports.md) and docs/report-example.html.

Run by `make report-screenshot`.

The run is the synthetic one the report tests use (tests/support/reports.py: five executors, one
lost, a latency incident, a baseline), built through the real summary, merge and verdict code;
the page is drawn by headless Chromium (apt-get install chromium).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared" / "src")]

from tests.support.chromium import Chromium, find_chromium  # noqa: E402
from tests.support.reports import Shape, realistic_report  # noqa: E402


def main() -> int:
    executable = find_chromium()
    if executable is None:
        print(
            "report-screenshot: no chromium found (apt-get install chromium, or set SALVO_TEST_CHROMIUM)",
            file=sys.stderr,
        )
        return 2
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    page = docs / "report-example.html"
    page.write_text(realistic_report(Shape(executors=5, seconds=90, lost=1), with_baseline=True).html())
    with Chromium(executable, width=1280, height=900) as browser:
        browser.open(page)
        browser.wait_until("document.body.dataset.chartsDrawn !== undefined")
        problems = browser.console_problems()
        if problems:
            print("report-screenshot: the page logged errors:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        browser.screenshot(docs / "report.png")
    print(f"wrote {docs / 'report.png'} and {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
