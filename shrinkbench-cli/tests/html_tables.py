"""The HTML parsing the report tests share: every table of a page as rows of cell texts."""

from __future__ import annotations

from html.parser import HTMLParser


class TablesParser(HTMLParser):
    """Collects ``tables`` (each a list of rows, each a list of cell texts); subclasses read more of the page
    by extending the handlers (calling these first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
