"""Open the built documentation in a real headless browser, offline, and check what a reader sees.

Usage::

    python scripts/check_site.py SITE [--screenshots DIR]

``SITE`` is the output folder of ``sphinx -b html docs SITE``. Chromium (Debian packages ``chromium`` and
``chromium-driver``; ``bash scripts/bootstrap.sh --docs`` installs them) loads, through Selenium, the
index, a guide page with math, an API page, a study page and a gallery example from ``file://`` with
every host name unresolvable, so a page that needs the network fails. On each page it waits for MathJax
to finish and checks that

- every formula is typeset (each ``.math`` element holds MathJax output; none shows raw TeX), and a page
  that is meant to have formulas has them;
- every image has loaded (``complete`` with a non-zero natural width), and a page meant to show a figure
  shows one;
- the code blocks fit the content column (no horizontal scroll bar; reported, and an error only when most
  of them overflow).

It prints one line per page and exits non-zero on the first page that fails (all pages are still
checked and reported). ``--screenshots DIR`` saves a PNG of each page's first screen.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

#: The pages opened, with the least number of typeset formulas and of loaded images each must show.
PAGES = {
    "index.html": (0, 1),
    "guide/quantizers.html": (20, 0),
    "api/generated/hwsim.receivers.linear.BLMMSE.html": (1, 0),
    "studies/ber_rare.html": (0, 1),
    "auto_examples/plot_getting_started.html": (0, 1),
}

# Waits for MathJax (when the page loads it) and returns what the checks need.
_PROBE = """
const done = arguments[arguments.length - 1];
const finish = () => {
  const maths = Array.from(document.querySelectorAll('.math'));
  const raw = maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 60));
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  const pres = Array.from(document.querySelectorAll('article pre, .body pre'));
  const wide = pres.filter(p => p.scrollWidth > p.clientWidth + 1).length;
  done({maths: maths.length, raw: raw, images: imgs.length, broken: broken, pres: pres.length, wide: wide,
        mathjax: !!(window.MathJax && window.MathJax.version), title: document.title});
};
if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
  window.MathJax.startup.promise.then(finish, finish);
} else { setTimeout(finish, 500); }
"""


def _driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise SystemExit(f"check_site: selenium is missing ({e}); pip install -e '.[docs]'") from e
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        raise SystemExit("check_site: Chromium and its driver are missing; install the Debian packages "
                         "'chromium chromium-driver' (bash scripts/bootstrap.sh --docs does)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--host-resolver-rules=MAP * ~NOTFOUND"):  # offline: no host resolves
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    d.set_script_timeout(60)
    d.set_page_load_timeout(60)
    return d


def check_page(driver, site: Path, page: str, least: tuple[int, int], shots: Path | None) -> list[str]:
    """The problems of one page (empty: it passes); prints its line."""
    path = site / page
    if not path.is_file():
        print(f"FAIL {page}: not in the site")
        return [f"{page}: missing"]
    driver.get(path.resolve().as_uri())
    r = driver.execute_async_script(_PROBE)
    problems = []
    min_maths, min_images = least
    if r["raw"]:
        problems.append(f"{len(r['raw'])} of {r['maths']} formulas shown as raw TeX, e.g. {r['raw'][0]!r}")
    if r["maths"] < min_maths:
        problems.append(f"{r['maths']} formulas, expected at least {min_maths}")
    if r["maths"] and not r["mathjax"]:
        problems.append("MathJax did not load")
    if r["images"] < min_images:
        problems.append(f"{r['images']} images, expected at least {min_images}")
    if r["broken"]:
        problems.append(f"{len(r['broken'])} of {r['images']} images not loaded: {r['broken'][:3]}")
    if r["pres"] >= 4 and r["wide"] * 2 > r["pres"]:
        problems.append(f"{r['wide']} of {r['pres']} code blocks wider than the column")
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shots / (page.replace("/", "_").removesuffix(".html") + ".png")))
    state = "FAIL" if problems else "ok  "
    print(f"{state} {page}: {r['maths']} formulas typeset, {r['images']} images loaded, "
          f"{r['wide']} of {r['pres']} code blocks scroll" + "".join(f"; {p}" for p in problems))
    return [f"{page}: {p}" for p in problems]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site", type=Path, help="the built HTML site (sphinx -b html docs SITE)")
    ap.add_argument("--screenshots", type=Path, metavar="DIR", help="save a PNG of each page here")
    args = ap.parse_args(argv)
    if not (args.site / "index.html").is_file():
        ap.error(f"site: {args.site} has no index.html (build it with sphinx -b html docs {args.site})")
    driver = _driver()
    try:
        problems = [p for page, n in PAGES.items() for p in check_page(driver, args.site, page, n, args.screenshots)]
    finally:
        driver.quit()
    if problems:
        print(f"check_site: {len(problems)} problems", file=sys.stderr)
        return 1
    print(f"check_site: {len(PAGES)} pages render offline (formulas typeset, images loaded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
